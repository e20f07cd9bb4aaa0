"""Where the time goes: per-block wall time of prepared models, vanilla and Oct in the same rounds.

A *block* is a top-level child of the model or, where that child is a container (``nn.Sequential``,
``nn.ModuleList``), each of its children; a model that is itself a container has its children as blocks.
For torchvision's ResNets: ``conv1 … maxpool``, ``layer1.0`` (a bottleneck) … ``fc``; for MobileNets:
``features.0`` … ``classifier.1``. The converter keeps module names, so a vanilla block and its Oct
counterpart share a name.

Times come from hooks around each block of a model that runs module by module (the ``plain`` and
``eager`` backends): a compiled graph or an ONNX Runtime session has no blocks left to hook. On CUDA the
hooks synchronise the device, which adds a little to every block alike. Whatever runs between blocks
(``torch.flatten``, the Oct model's split and merge of the frequency pair) is reported as
``(between)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import torch
from torch import nn

from octprofile.errors import BadValueError
from octprofile.runtime.timing import TimingOptions, prepare_warm, runtime_settings, timing_input

BETWEEN_BLOCKS = "(between)"
HOOKABLE_BACKENDS = ("plain", "eager")
_CONTAINERS = (nn.Sequential, nn.ModuleList)


def block_names(model: nn.Module) -> list[str]:
    """The model's blocks, in definition order (see the module docstring)."""
    if isinstance(model, _CONTAINERS):  # a Sequential model: its children are already the blocks
        return [name for name, _ in model.named_children()]
    names = []
    for name, child in model.named_children():
        if isinstance(child, _CONTAINERS) and len(child):
            names += [f"{name}.{inner}" for inner, _ in child.named_children()]
        else:
            names.append(name)
    return names


class _BlockClock:
    """Forward hooks that add each block's wall time (ns) of one pass to ``elapsed``."""

    def __init__(self, module: nn.Module, names: list[str], device: torch.device) -> None:
        self.elapsed: dict[str, int] = dict.fromkeys(names, 0)
        self.sync: Callable[[], None] = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (
            lambda: None)
        self.started: dict[str, int] = {}
        self.handles = []
        for name in names:
            block = module.get_submodule(name)
            self.handles.append(block.register_forward_pre_hook(self._start(name)))
            self.handles.append(block.register_forward_hook(self._stop(name)))

    def _start(self, name: str):
        def hook(_module, _inputs) -> None:
            self.sync()
            self.started[name] = time.perf_counter_ns()
        return hook

    def _stop(self, name: str):
        def hook(_module, _inputs, _output) -> None:
            self.sync()
            self.elapsed[name] += time.perf_counter_ns() - self.started[name]
        return hook

    def reset(self) -> None:
        self.elapsed = dict.fromkeys(self.elapsed, 0)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def time_blocks(models: Mapping[str, nn.Module], input_shape: tuple[int, ...], options: TimingOptions,
                passes: int = 1, on_progress: Callable[[int, int], None] | None = None
                ) -> dict[str, dict[str, list[float]]]:
    """Per model, per block (plus ``BETWEEN_BLOCKS`` and ``"total"``), one time (ms) per forward pass.

    The models take turns pass by pass, ``options.rounds`` × ``passes`` passes each, on the first backend
    of ``options``, which must run module by module (``plain`` or ``eager``). The models must have the
    same blocks (vanilla and Oct of one backbone do).
    """
    backend = options.backends[0]
    if len(options.backends) > 1 or backend not in HOOKABLE_BACKENDS:
        raise BadValueError(f"per-block timing needs one backend that runs module by module "
                            f"({' or '.join(HOOKABLE_BACKENDS)}), got {', '.join(options.backends)}")
    names = {name: block_names(model) for name, model in models.items()}
    first = next(iter(names.values()))
    if any(blocks != first for blocks in names.values()):
        raise BadValueError("the models to compare block by block do not have the same blocks")
    x = timing_input(input_shape, options)
    device = x.device
    threads = options.threads or torch.get_num_threads()
    samples = {name: {block: [] for block in [*first, BETWEEN_BLOCKS, "total"]} for name in models}
    with runtime_settings(device, threads):
        prepared, inputs = prepare_warm({(name, backend): model for name, model in models.items()}, x,
                                        options.warmup)
        clocks = {key: _BlockClock(runner.module, first, device) for key, runner in prepared.items()}
        try:
            total = options.rounds * passes * len(models)
            done = 0
            for _ in range(options.rounds * passes):
                for key, runner in prepared.items():
                    name, clock = key[0], clocks[key]
                    clock.reset()
                    start = time.perf_counter_ns()
                    runner(inputs[key])
                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
                    whole = time.perf_counter_ns() - start
                    for block, ns in clock.elapsed.items():
                        samples[name][block].append(ns / 1e6)
                    samples[name][BETWEEN_BLOCKS].append((whole - sum(clock.elapsed.values())) / 1e6)
                    samples[name]["total"].append(whole / 1e6)
                    done += 1
                    if on_progress is not None:
                        on_progress(done, total)
        finally:
            for clock in clocks.values():
                clock.remove()
    return samples
