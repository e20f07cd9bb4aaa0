"""Inference latency you can trust: the same preparation for every variant, interleaved rounds, medians
with spreads, and the machine context beside them.

Each variant is prepared by the same backend (``prepare``), then timed with ``torch.utils.benchmark``.
The variants take turns within every round (A B A B ...), so slow drift of the machine (thermal
throttling, a neighbour's job) hits all of them alike and cancels in the per-round ratios. Every figure
comes with its interquartile range; a spread above ``NOISE_LIMIT`` is reported as a warning, not hidden.
"""

from __future__ import annotations

import logging
import os
import statistics
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from octprofile.errors import BadValueError
from octprofile.runtime.context import MachineContext, load_average, machine_context, resolve_device
from octprofile.runtime.memory import measure_peak
from octprofile.runtime.prepare import BACKENDS, PreparedModel, check_backend, prepare
from octprofile.runtime.stats import cpu_contention_warning, iqr, noise_warnings, ratios_vs

# torch.utils.benchmark imports cpp_extension, which warns about a missing CUDA runtime on CPU-only
# machines; octprofile never builds C++ extensions, so that one logger is quieted.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
from torch.utils import benchmark  # noqa: E402

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class TimingOptions:
    """How to time. ``dtype`` is the dtype weights and input are cast to by the preparation (no autocast)."""

    device: str = "auto"  # "cpu" | "cuda" | "cuda:N" | "auto" (CUDA when available)
    threads: int | None = None  # None: PyTorch's thread count at the start (by default, all physical cores)
    dtype: str = "float32"  # "float32" | "bfloat16" | "float16"
    backend: str = "eager"  # see octprofile.runtime.prepare.BACKENDS
    rounds: int = 10
    min_run_time: float = 0.1  # seconds per measurement of one variant in one round
    warmup: int = 3
    seed: int = 0  # seeds the random input only; the weights are the caller's
    memory: bool = True  # also measure the peak memory of one forward pass per variant

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise BadValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        check_backend(self.backend)
        if self.threads is not None and self.threads < 1:
            raise BadValueError(f"threads must be at least 1, got {self.threads}")
        if self.rounds < 1 or self.warmup < 0 or self.min_run_time <= 0:
            raise BadValueError("rounds must be >= 1, warmup >= 0 and min_run_time > 0")


@dataclass
class Timing:
    """One variant's latency on one backend."""

    variant: str
    latency_ms: float  # median over rounds
    latency_iqr_ms: float
    samples_ms: list[float]  # one per round
    prepare_s: float  # one-off preparation (compilation for ``compile``), never part of the latency
    peak_memory_bytes: int | None  # one forward pass of the prepared model, above weights and input
    notes: list[str] = field(default_factory=list)  # what the preparation did


@dataclass
class TimingComparison:
    timings: dict[str, Timing]  # in the order given
    ratios: dict[str, tuple[float, float]]  # variant -> (median, IQR) of its per-round ratio to the base variant
    base: str
    warnings: list[str]
    context: MachineContext
    options: TimingOptions

    @property
    def backend_description(self) -> str:
        return BACKENDS[self.options.backend].description


def time_variants(models: Mapping[str, nn.Module], input_shape: tuple[int, ...],
                  options: TimingOptions = TimingOptions(), base: str | None = None,
                  on_progress: Callable[[int, int], None] | None = None) -> TimingComparison:
    """Prepare each model by the same backend and time it on the same seeded random input, in rounds.

    Ratios are taken round by round against ``base`` (default: the first variant), then summarised by
    median and IQR. ``on_progress(done, total)`` is called after each measurement. The caller's models
    are not changed. Several CPU threads give meaningful latencies only on an otherwise idle machine; a
    warning says when the load average before timing suggests it was not.
    """
    if not models:
        raise BadValueError("no models to time")
    base = base or next(iter(models))
    device = resolve_device(options.device)
    dtype = DTYPES[options.dtype]
    if device.type == "cpu" and dtype is torch.float16:
        raise BadValueError("float16 is not supported on CPU: use bfloat16 or a CUDA device")
    threads = options.threads or torch.get_num_threads()
    before = load_average()  # before our own work adds to it
    generator = torch.Generator().manual_seed(options.seed)  # leaves the global RNG alone
    x = torch.randn(tuple(input_shape), generator=generator).to(device, dtype)
    with _runtime_settings(device, threads):
        prepared = {name: prepare(model, x, options.backend) for name, model in models.items()}
        inputs = {name: runner.adapt(x) for name, runner in prepared.items()}
        for name, runner in prepared.items():
            _warm_up(runner, inputs[name], options.warmup)
        measurable = options.memory and BACKENDS[options.backend].torch_memory
        peaks = {name: measure_peak(runner, inputs[name]) if measurable else None for name, runner in prepared.items()}
        samples = _interleaved_rounds(prepared, inputs, threads, options, on_progress)
    timings = {name: Timing(name, statistics.median(samples[name]), iqr(samples[name]), samples[name],
                            prepared[name].prepare_seconds, peaks[name], prepared[name].notes) for name in prepared}
    ratios = ratios_vs(samples, base)
    warnings = noise_warnings(samples, ratios, base)
    if device.type == "cpu" and before is not None:
        contention = cpu_contention_warning(threads, before, os.cpu_count() or 1)
        warnings += [contention] if contention else []
    return TimingComparison(timings, ratios, base, warnings, machine_context(device, threads, before), options)


@contextmanager
def _runtime_settings(device: torch.device, threads: int) -> Iterator[None]:
    """Thread count, and flush-denormal (CPU) or cudnn.benchmark (GPU), restored on exit."""
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with _flush_denormal() if device.type == "cpu" else _cudnn_benchmark():
            yield
    finally:
        torch.set_num_threads(previous_threads)


@contextmanager
def _flush_denormal() -> Iterator[None]:
    # Denormals (which random weights can produce) run far slower on x86. The setting is per thread:
    # it reaches the calling thread, not necessarily PyTorch's worker threads.
    was_on = flush_denormal_enabled()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(was_on)


def flush_denormal_enabled() -> bool:
    """Whether this thread flushes denormals to zero (PyTorch has no getter, so it is probed)."""
    small = torch.tensor([1e-20])
    return (small * small).item() == 0.0  # 1e-40 is a float32 denormal


@contextmanager
def _cudnn_benchmark() -> Iterator[None]:
    was_on = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True  # the warm-up that follows lets cuDNN pick its kernels
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = was_on


def _warm_up(model: PreparedModel, x: torch.Tensor, calls: int) -> None:
    for _ in range(calls):
        model(x)
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)


def _interleaved_rounds(runners: Mapping[str, PreparedModel], inputs: Mapping[str, torch.Tensor], threads: int,
                        options: TimingOptions, on_progress) -> dict[str, list[float]]:
    """Per variant, one median latency (ms) per round; the variants take turns within each round."""
    # Timer synchronizes CUDA around its timed blocks; its own default of 1 thread must be overridden.
    timers = {name: benchmark.Timer("model(x)", globals={"model": model, "x": inputs[name]}, num_threads=threads)
              for name, model in runners.items()}
    samples: dict[str, list[float]] = {name: [] for name in runners}
    total, done = options.rounds * len(timers), 0
    for _ in range(options.rounds):
        for name, timer in timers.items():
            samples[name].append(timer.blocked_autorange(min_run_time=options.min_run_time).median * 1e3)
            done += 1
            if on_progress is not None:
                on_progress(done, total)
    return samples
