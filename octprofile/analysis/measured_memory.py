"""Measured peak memory of one inference forward pass, as opposed to memory estimated from shapes."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from octprofile.analysis.timing import cuda_peak_bytes, inference_copy, resolve_device


def peak_forward_memory(model: nn.Module, input_shape: tuple[int, ...], device: str | torch.device = "cpu") -> int:
    """Peak extra memory (bytes) of one inference forward pass, above the weights and the input.

    The model runs as an eval-mode copy under ``torch.inference_mode()`` on a seeded random input,
    once to warm up (one-time allocations such as library workspaces or caches are not per-pass
    memory), then once measured. The output counts: it is alive at the end of the pass.

    CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus what was
    allocated before the pass. Memory the caching allocator holds but has not handed out is not counted.

    CPU: the PyTorch profiler with ``profile_memory=True`` records every allocation and free made
    through PyTorch's CPU allocator; their sizes are summed in time order and the peak of that running
    sum is returned. (In torch 2.x ``prof.events()`` folds allocations into the ops that made them and
    only lists the remaining frees as ``[memory]``, so the raw profiler events are read instead.)
    Memory a library allocates by itself, outside PyTorch's allocator, is not seen.
    """
    target = torch.device(device) if isinstance(device, torch.device) else resolve_device(device)
    model_copy = inference_copy(model, target)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(tuple(input_shape), generator=generator).to(target)
    with torch.inference_mode():
        model_copy(x)
        if target.type == "cuda":
            return cuda_peak_bytes(model_copy, x, target)
        return _cpu_peak(model_copy, x)


def _cpu_peak(model: nn.Module, x: torch.Tensor) -> int:
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(x)
    events = prof.profiler.kineto_results.events()
    allocations = [event for event in events if event.name() == "[memory]" and event.device_type() == DeviceType.CPU]
    allocations.sort(key=lambda event: event.start_ns())
    return peak_of_running_sum(event.nbytes() for event in allocations)


def peak_of_running_sum(changes: Iterable[int]) -> int:
    """The highest point the running sum of ``changes`` reaches, starting from 0."""
    level = peak = 0
    for change in changes:
        level += change
        peak = max(peak, level)
    return peak


__all__ = ["peak_forward_memory", "peak_of_running_sum"]
