"""Inference latency you can trust: interleaved rounds, medians with spreads, and the context behind them.

Each variant is timed with ``torch.utils.benchmark`` in eval mode under ``torch.inference_mode()``.
The variants take turns within every round (A B A B ...), so slow drift of the machine (thermal
throttling, a neighbour's job) hits all of them alike and cancels in the per-round ratios. Every
figure comes with its interquartile range, and a spread above ``NOISE_LIMIT`` is reported as a warning
rather than hidden.
"""

from __future__ import annotations

import copy
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

# torch.utils.benchmark imports cpp_extension, which warns about a missing CUDA runtime on CPU-only
# machines; octprofile never builds C++ extensions, so that one logger is quieted.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
from torch.utils import benchmark  # noqa: E402

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEVICES = ("auto", "cpu", "cuda")
NOISE_LIMIT = 0.10  # IQR / median above which a figure is flagged as noisy


@dataclass(frozen=True)
class TimingOptions:
    """How to time. The input is created once, NCHW, then converted to ``channels_last`` outside the
    timed call when asked, so the timed call never includes a layout conversion."""

    device: str = "auto"  # "cpu" | "cuda" | "cuda:N" | "auto" (CUDA when available)
    threads: int | None = None  # None: PyTorch's thread count at the start (by default, all physical cores)
    dtype: str = "float32"  # "float32" | "bfloat16" | "float16", applied through autocast
    channels_last: bool = False
    compile: bool = False  # torch.compile; its time is reported as compile_s, never as latency
    rounds: int = 10
    min_run_time: float = 0.1  # seconds per measurement of one variant in one round
    warmup: int = 3
    seed: int = 0  # seeds the random input only; the weights are the caller's

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
        if self.rounds < 1 or self.warmup < 0 or self.min_run_time <= 0:
            raise ValueError("rounds must be >= 1, warmup >= 0 and min_run_time > 0")


@dataclass
class Timing:
    """One variant's latency."""

    variant: str
    latency_ms: float  # median over rounds
    latency_iqr_ms: float
    samples_ms: list[float]  # one per round
    compile_s: float | None
    peak_memory_bytes: int | None  # CUDA: peak allocated during one forward above the baseline; CPU: None
    context: dict


@dataclass
class TimingComparison:
    timings: dict[str, Timing]  # in the order given
    ratios: dict[str, tuple[float, float]]  # variant -> (median, IQR) of its per-round ratio to the first variant
    warnings: list[str]


def resolve_device(name: str) -> torch.device:
    """The device ``name`` stands for; ``"auto"`` is CUDA when a GPU is available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {name!r}; use one of {', '.join(DEVICES)}") from error
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r} is not supported; use one of {', '.join(DEVICES)}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but no CUDA GPU is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r} requested but only {torch.cuda.device_count()} CUDA GPU(s) exist")
    return device


def inference_copy(model: nn.Module, device: torch.device, channels_last: bool = False) -> nn.Module:
    """An eval-mode copy of ``model`` on ``device``; the caller's model keeps its device, dtype and mode."""
    if any(tensor.is_meta for tensor in [*model.parameters(), *model.buffers()]):
        raise ValueError("the model holds meta tensors (no data): build it on a real device to run it")
    model_copy = copy.deepcopy(model).to(device).eval()
    return model_copy.to(memory_format=torch.channels_last) if channels_last else model_copy


def time_variants(models: Mapping[str, nn.Module], input_shape: tuple[int, ...],
                  options: TimingOptions = TimingOptions(),
                  on_progress: Callable[[int, int], None] | None = None) -> TimingComparison:
    """Time each model on the same seeded random input, in interleaved rounds.

    Ratios are taken round by round against the first variant, then summarised by median and IQR.
    With ``dtype`` bfloat16/float16 the weights stay float32 and autocast casts them; its cast cache
    lives for the whole measurement, so the timed call runs as if the weights were stored in low
    precision. ``on_progress(done, total)`` is called after each measurement.

    Several CPU threads give meaningful latencies only on an otherwise idle machine; a warning says
    when the load average before timing suggests it was not.
    """
    if not models:
        raise ValueError("no models to time")
    if options.channels_last and len(input_shape) != 4:
        raise ValueError(f"channels_last needs a 4-d (N, C, H, W) input, got shape {tuple(input_shape)}")
    device = resolve_device(options.device)
    autocast = _autocast(device, options.dtype)
    threads = options.threads or torch.get_num_threads()
    load_average = _load_average()  # before our own work adds to it
    runners = {name: inference_copy(model, device, options.channels_last) for name, model in models.items()}
    x = _random_input(input_shape, device, options)
    with _runtime_settings(device, threads), torch.inference_mode(), autocast:
        runners, compile_s = _compile_all(runners, x) if options.compile else (runners, dict.fromkeys(runners))
        for model in runners.values():
            _warm_up(model, x, options.warmup)
        peaks = {name: cuda_peak_bytes(model, x, device) for name, model in runners.items()}
        samples = _interleaved_rounds(runners, x, threads, options, on_progress)
    context = _context(device, threads, options, input_shape, load_average)
    timings = {name: Timing(name, statistics.median(samples[name]), iqr(samples[name]), samples[name],
                            compile_s[name], peaks[name], dict(context)) for name in runners}
    ratios = ratios_vs_first(samples)
    warnings = noise_warnings(samples, ratios)
    if device.type == "cpu" and load_average is not None:
        contention = cpu_contention_warning(threads, load_average, os.cpu_count() or 1)
        warnings += [contention] if contention else []
    return TimingComparison(timings, ratios, warnings)


def iqr(values: list[float]) -> float:
    """Interquartile range (inclusive quartiles); 0 for a single value."""
    if len(values) < 2:
        return 0.0
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q3 - q1


def ratios_vs_first(samples: Mapping[str, list[float]]) -> dict[str, tuple[float, float]]:
    """For each variant, (median, IQR) of its round-by-round ratio to the first variant."""
    first, *others = samples
    ratios = {first: (1.0, 0.0)}
    for name in others:
        per_round = [value / base for value, base in zip(samples[name], samples[first], strict=True)]
        ratios[name] = (statistics.median(per_round), iqr(per_round))
    return ratios


def noise_warning(label: str, median: float, spread: float, limit: float = NOISE_LIMIT) -> str | None:
    """A warning when ``spread`` (an IQR) exceeds ``limit`` times ``median``, else None."""
    relative = spread / median if median else float("inf")
    if relative <= limit:
        return None
    return f"{label}: IQR/median {relative:.1%} > {limit:.0%}: noisy machine"


def noise_warnings(samples: Mapping[str, list[float]], ratios: Mapping[str, tuple[float, float]]) -> list[str]:
    """Warnings for noisy latencies, then for noisy ratios to the first variant."""
    first = next(iter(samples))
    checks = [(name, statistics.median(values), iqr(values)) for name, values in samples.items()]
    checks += [(f"{name}/{first} ratio", *ratios[name]) for name in list(ratios)[1:]]
    found = (noise_warning(label, median, spread) for label, median, spread in checks)
    return [warning for warning in found if warning]


def cpu_contention_warning(threads: int, load_average: float, cores: int) -> str | None:
    """A warning when other processes already keep the cores busy that the timing threads need.

    OpenMP threads wait for each other at every parallel region, so one thread pre-empted by another
    process stalls them all: on a loaded machine multi-threaded latencies inflate, sometimes 100-fold.
    """
    if threads <= cores - load_average + 0.5:
        return None
    return (f"CPU load average {load_average:.1f} on {cores} cores before timing, with {threads} timing thread(s): "
            "other processes compete for the cores, latencies are inflated")


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on Windows, or unavailable
        return None


def _autocast(device: torch.device, dtype_name: str):
    dtype = DTYPES[dtype_name]
    if dtype is torch.float32:
        return nullcontext()
    if device.type == "cpu" and dtype is torch.float16:
        raise ValueError("float16 is not supported on CPU: use bfloat16 (CPU autocast) or a CUDA device")
    if device.type == "cuda" and dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise ValueError(f"{torch.cuda.get_device_name(device)} does not support bfloat16: use float16")
    return torch.autocast(device.type, dtype=dtype)


def _random_input(input_shape: tuple[int, ...], device: torch.device, options: TimingOptions) -> torch.Tensor:
    # A private generator seeds the input without resetting the caller's global RNG, and drawing on
    # the CPU gives the same input on every device.
    generator = torch.Generator().manual_seed(options.seed)
    x = torch.randn(tuple(input_shape), generator=generator).to(device)
    return x.contiguous(memory_format=torch.channels_last) if options.channels_last else x


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
    # Denormals (which random weights can produce) run far slower on x86. Note that the setting is
    # per thread: it reaches the calling thread, not necessarily PyTorch's worker threads.
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


def _compile_all(runners: Mapping[str, nn.Module], x: torch.Tensor) -> tuple[dict, dict[str, float]]:
    """The compiled runners, and each one's compile time: its first call, kept out of the latency."""
    compiled = {name: torch.compile(model) for name, model in runners.items()}
    return compiled, {name: _first_call_seconds(model, x) for name, model in compiled.items()}


def _first_call_seconds(model: Callable, x: torch.Tensor) -> float:
    """Wall time of the first call, which is where torch.compile compiles."""
    start = time.perf_counter()
    model(x)
    _synchronize(x.device)
    return time.perf_counter() - start


def _warm_up(model: Callable, x: torch.Tensor, calls: int) -> None:
    for _ in range(calls):
        model(x)
    _synchronize(x.device)


def cuda_peak_bytes(model: Callable, x: torch.Tensor, device: torch.device) -> int | None:
    """Peak memory allocated during one forward above what was allocated before it (CUDA only)."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    baseline = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    model(x)
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - baseline


def _interleaved_rounds(runners: Mapping[str, Callable], x: torch.Tensor, threads: int, options: TimingOptions,
                        on_progress: Callable[[int, int], None] | None) -> dict[str, list[float]]:
    """Per variant, one median latency (ms) per round; the variants take turns within each round."""
    # Timer synchronizes CUDA around its timed blocks; its own default of 1 thread must be overridden.
    timers = {name: benchmark.Timer("model(x)", globals={"model": model, "x": x}, num_threads=threads)
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


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _context(device: torch.device, threads: int, options: TimingOptions, input_shape: tuple[int, ...],
             load_average: float | None) -> dict:
    spatial = tuple(input_shape[2:])
    return {
        "torch_version": torch.__version__,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name(),
        "threads": threads,
        "dtype": options.dtype,
        "batch_size": input_shape[0],
        "input_size": spatial[0] if len(set(spatial)) == 1 else spatial,
        "input_shape": tuple(input_shape),
        "memory_format": "channels_last" if options.channels_last else "contiguous",
        "compile_mode": "inductor" if options.compile else "eager",
        "rounds": options.rounds,
        "min_run_time_s": options.min_run_time,
        "load_average": load_average,  # 1-minute, taken before timing
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


__all__ = ["DTYPES", "NOISE_LIMIT", "Timing", "TimingComparison", "TimingOptions", "cpu_contention_warning",
           "flush_denormal_enabled", "inference_copy", "iqr", "noise_warning", "noise_warnings", "ratios_vs_first",
           "resolve_device", "time_variants"]
