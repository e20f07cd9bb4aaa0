"""Real training steps: one optimizer step (forward, loss, backward, update) timed in interleaved rounds, its
peak memory measured, and what autograd keeps recorded on real tensors.

The models are trained in place on a copy each (``TrainStep`` deep-copies), so the caller's weights are kept.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from octprofile.analysis.memory import SavedActivations, SavedTensorRecorder
from octprofile.analysis.training import make_optimizer, nbytes, targets_for, training_loss
from octprofile.errors import BadValueError
from octprofile.runtime.context import MachineContext, OtherLoad, machine_context, resolve_device
from octprofile.runtime.cpu_free import choose_threads, read_cpu_free
from octprofile.runtime.memory import peak_of_call
from octprofile.runtime.stats import cpu_contention_warning, iqr, noise_warning
from octprofile.runtime.timing import runtime_settings


@dataclass(frozen=True)
class StepOptions:
    """How to run the real steps: device, CPU threads, interleaved rounds (one step per variant each),
    untimed warm-up steps, and whether to measure memory (one profiled step and one recorded step each)."""

    device: str = "auto"
    threads: int | None = None
    rounds: int = 5
    warmup: int = 1
    seed: int = 0
    memory: bool = True

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.warmup < 0:
            raise BadValueError("rounds must be >= 1 and warmup >= 0")
        if self.threads is not None and self.threads < 1:
            raise BadValueError(f"threads must be at least 1, got {self.threads}")


class TrainStep:
    """One model's training step on a fixed seeded batch: a deep copy of the model on ``device``, in train mode,
    with its own optimizer."""

    def __init__(self, model: nn.Module, input_shape: tuple[int, ...], device: torch.device, optimizer: str,
                 seed: int = 0) -> None:
        self.model = copy.deepcopy(model).to(device).train()
        self.optimizer = make_optimizer(optimizer, [p for p in self.model.parameters() if p.requires_grad])
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(tuple(input_shape), generator=generator).to(device)
        self.targets = targets_for(input_shape[0], device, seed=seed)
        self.device = device

    def __call__(self) -> None:
        loss = training_loss(self.model(self.x), self.targets)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def resident_bytes(self) -> int:
        """Bytes alive between steps: weights, buffers, optimizer state, the batch and its targets."""
        state = [t for s in self.optimizer.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
        return nbytes([*self.model.parameters(), *self.model.buffers(), *state, self.x, self.targets])

    def saved_activations(self) -> SavedActivations:
        """One step with autograd's saved tensors recorded (storages counted once, split by frequency)."""
        resident = [*self.model.parameters(), *self.model.buffers(), self.x]
        recorder = SavedTensorRecorder(self.model, resident)
        with recorder.recording():
            output = self.model(self.x)
        loss = training_loss(output, self.targets)
        del output
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return recorder.result()

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


MEASURED_BY = {"cuda": "CUDA allocator (max_memory_allocated)",
               "cpu": "profiler memory events (PyTorch's CPU allocator)"}


@dataclass
class StepMeasurement:
    """One variant's measured step."""

    variant: str
    step_ms: float  # median over rounds
    step_iqr_ms: float
    samples_ms: list[float]
    peak_bytes: int | None  # resident bytes + the step's measured peak above them
    saved: SavedActivations | None  # what autograd kept, recorded on the real tensors


@dataclass
class StepComparison:
    measurements: dict[str, StepMeasurement]
    base: str
    context: MachineContext
    options: StepOptions
    measured_by: str
    warnings: list[str]

    def ratio(self, variant: str) -> tuple[float, float]:
        """Median and IQR of the per-round ratio of ``variant``'s step time to the base variant's."""
        mine, base = self.measurements[variant].samples_ms, self.measurements[self.base].samples_ms
        per_round = [a / b for a, b in zip(mine, base, strict=True)]
        return statistics.median(per_round), iqr(per_round)


def measure_step_peak(step: TrainStep) -> int:
    """Resident bytes plus the most the step allocates above them (CUDA: the allocator's peak; CPU: the running
    sum of the profiler's memory events). Run after a warm-up step, so optimizer state already exists."""
    return step.resident_bytes() + peak_of_call(step, step.device)


def time_steps(models: Mapping[str, nn.Module], input_shape: tuple[int, ...], options: StepOptions,
               optimizer: str = "sgd", on_progress: Callable[[str], None] | None = None) -> StepComparison:
    """Each model's training step, warmed up, memory measured (if asked), then timed in interleaved rounds
    (vanilla and Oct take turns within each round, so drift hits both alike and cancels in the ratios)."""
    device = resolve_device(options.device)
    # the cores free now (or the threads asked), as compare times at
    threads = choose_threads(read_cpu_free() if device.type == "cpu" and options.threads != 1 else None,
                             options.threads, torch.get_num_threads()).threads
    tell = on_progress or (lambda _what: None)
    with runtime_settings(device, threads):
        steps = {name: TrainStep(model, input_shape, device, optimizer, options.seed)
                 for name, model in models.items()}
        for name, step in steps.items():
            tell(f"warming up {name}")
            for _ in range(options.warmup or 1):  # one step at least: the optimizer state must exist
                step()
        peaks, saved = {}, {}
        for name, step in steps.items():
            if options.memory:
                tell(f"measuring the memory of a {name} step")
                peaks[name] = measure_step_peak(step)
                saved[name] = step.saved_activations()
        samples = {name: [] for name in steps}
        load = OtherLoad().start()
        for index in range(options.rounds):
            tell(f"timing round {index + 1}/{options.rounds}")
            for name, step in steps.items():
                step.synchronize()
                began = time.perf_counter()
                step()
                step.synchronize()
                samples[name].append((time.perf_counter() - began) * 1e3)
        other_load = load.stop()
    measurements = {name: StepMeasurement(name, statistics.median(s), iqr(s), s, peaks.get(name), saved.get(name))
                    for name, s in samples.items()}
    base = next(iter(models))
    comparison = StepComparison(measurements, base, machine_context(device, threads, other_load), options,
                                MEASURED_BY[device.type], [])
    checks = [(name, m.step_ms, m.step_iqr_ms) for name, m in measurements.items()]
    checks += [(f"{name}/{base} ratio", *comparison.ratio(name)) for name in measurements if name != base]
    comparison.warnings += [w for w in (noise_warning(*check) for check in checks) if w]
    if device.type == "cpu" and other_load is not None:
        import os

        contention = cpu_contention_warning(threads, other_load, os.cpu_count() or 1)
        comparison.warnings += [contention] if contention else []
    return comparison


def measured_peak_at(model: nn.Module, input_shape: tuple[int, ...], options: StepOptions,
                     optimizer: str = "sgd") -> int:
    """The measured peak of one training step of ``model`` at ``input_shape`` (after one warm-up step)."""
    device = resolve_device(options.device)
    with runtime_settings(device, options.threads or torch.get_num_threads()):
        step = TrainStep(model, input_shape, device, optimizer, options.seed)
        step()
        return measure_step_peak(step)
