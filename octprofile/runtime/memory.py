"""Measured peak memory of one inference forward pass, as opposed to memory estimated from shapes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from contextlib import contextmanager

import torch
from torch import nn
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from octprofile.runtime.context import resolve_device
from octprofile.runtime.prepare import prepare


def peak_forward_memory(model: nn.Module, input_shape: tuple[int, ...], device: str = "cpu",
                        backend: str = "plain") -> int:
    """Peak extra memory (bytes) of one inference forward pass of ``model`` prepared by ``backend``,
    above the weights and the input, on a seeded random input; ``model`` is left as it was."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(tuple(input_shape), generator=generator).to(resolve_device(device))
    prepared = prepare(model, x, backend)
    return measure_peak(prepared, prepared.adapt(x))


def measure_peak(run: Callable, x: torch.Tensor) -> int:
    """Peak extra memory of ``run(x)``: run once to warm up (one-time allocations such as library
    workspaces or caches are not per-pass memory), then once measured. The output counts: it is alive
    at the end of the pass.

    CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus what was allocated
    before the pass; memory the caching allocator holds but has not handed out is not counted.
    CPU: the PyTorch profiler with ``profile_memory=True`` records every allocation and free made through
    PyTorch's CPU allocator; the peak of their running sum is returned (torch 2.x folds allocations into
    the ops that made them in ``prof.events()``, so the raw events are read). Memory a library allocates
    by itself, outside PyTorch's allocator, is not seen.
    """
    with torch.inference_mode():
        run(x)
        return peak_of_call(lambda: run(x), x.device)


def peak_of_call(call: Callable[[], object], device: torch.device) -> int:
    """Peak extra memory (bytes) of ``call()`` above what was allocated before it, measured as ``measure_peak``
    says (CUDA allocator statistics; on CPU the profiler's memory events)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        baseline = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        call()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - baseline
    with _quietly(profile(activities=[ProfilerActivity.CPU], profile_memory=True)) as prof:
        call()
    events = prof.profiler.kineto_results.events()
    allocations = [event for event in events if event.name() == "[memory]" and event.device_type() == DeviceType.CPU]
    allocations.sort(key=lambda event: event.start_ns())
    return peak_of_running_sum(event.nbytes() for event in allocations)


@contextmanager
def _quietly(profiler: profile):
    """Enter and leave ``profiler`` with file descriptor 2 muted: its C++ backend (kineto) prints status
    lines there when it starts and stops ("USDT ... profiler_start"), and on a CUDA build without a GPU an
    ERROR line while it collects; neither can be turned off by a log level, and they say nothing about the
    measurement. What the measured pass itself writes to stderr stays visible."""
    with _quiet_native_stderr():
        profiler.__enter__()
    try:
        yield profiler
    finally:
        with _quiet_native_stderr():
            profiler.__exit__(None, None, None)


@contextmanager
def _quiet_native_stderr():
    """Everything written to file descriptor 2 (by C++ code too) goes nowhere; Python exceptions still
    propagate."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as sink:
            os.dup2(sink.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_of_running_sum(changes: Iterable[int]) -> int:
    """The highest point the running sum of ``changes`` reaches, starting from 0."""
    level = peak = 0
    for change in changes:
        level += change
        peak = max(peak, level)
    return peak
