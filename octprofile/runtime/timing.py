"""Inference latency you can trust: the same preparation for every variant, interleaved rounds, medians
with spreads, and the machine context beside them.

Each variant is prepared by the same backend (``prepare``), then timed with ``torch.utils.benchmark``.
The variants take turns within every round (A B A B ...), so slow drift of the machine (thermal
throttling, a neighbour's job) hits all of them alike and cancels in the per-round ratios. Every figure
comes with its interquartile range; a spread above ``NOISE_LIMIT`` is reported as a warning, not hidden.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from octprofile.errors import BadValueError
from octprofile.runtime.context import MachineContext, OtherLoad, machine_context, resolve_device
from octprofile.runtime.cpu_free import CoreLoad, ThreadChoice, choose_threads, read_cpu_free
from octprofile.runtime.memory import measure_peak
from octprofile.runtime.output_check import Reference
from octprofile.runtime.prepare import BACKENDS, PreparedModel, prepare_checked, require_backend
from octprofile.runtime.stats import contention_doubt, cpu_contention_warning, iqr, noise_warning

# torch.utils.benchmark imports cpp_extension, which warns about a missing CUDA runtime on CPU-only
# machines; octprofile never builds C++ extensions, so that one logger is quieted.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
from torch.utils import benchmark  # noqa: E402

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class TimingOptions:
    """How to time. ``dtype`` is the dtype weights and input are cast to by the preparation (no autocast).

    ``backends``: one or more of ``BACKENDS`` (``"all"`` expands to every backend installed here); all of
    them are timed in the same interleaved rounds, so their latencies can be compared with each other.
    """

    device: str = "auto"  # "cpu" | "cuda" | "cuda:N" | "auto" (CUDA when available)
    threads: int | None = None  # None: the cores free when timing starts, at most PyTorch's thread count
    dtype: str = "float32"  # "float32" | "bfloat16" | "float16"
    backends: tuple[str, ...] = ("eager",)
    rounds: int = 10
    repeats: int = 1  # independent runs: each prepares every model afresh, warms it up and times ``rounds`` rounds
    min_run_time: float = 0.1  # seconds per measurement of one variant in one round
    warmup: int = 3
    seed: int = 0  # seeds the random input only; the weights are the caller's
    memory: bool = True  # also measure the peak memory of one forward pass per variant

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise BadValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        backends = (self.backends,) if isinstance(self.backends, str) else tuple(self.backends)
        if backends == ("all",):
            backends = installed_backends()
        if not backends:
            raise BadValueError("no backend to time on: give at least one of " + ", ".join(BACKENDS))
        if len(set(backends)) != len(backends):
            raise BadValueError(f"backends repeat: {', '.join(backends)}")
        for name in backends:
            require_backend(name)
        object.__setattr__(self, "backends", backends)
        if self.threads is not None and self.threads < 1:
            raise BadValueError(f"threads must be at least 1, got {self.threads}")
        if self.rounds < 1 or self.warmup < 0 or self.min_run_time <= 0:
            raise BadValueError("rounds must be >= 1, warmup >= 0 and min_run_time > 0")
        if self.repeats < 1:
            raise BadValueError(f"repeats must be >= 1, got {self.repeats}")


@dataclass
class Timing:
    """One variant's latency on one backend."""

    variant: str
    backend: str
    latency_ms: float  # median over rounds (of every run)
    latency_iqr_ms: float
    samples_ms: list[float]  # one per round, run after run
    prepare_s: float  # one-off preparation (compilation for ``compile``), never part of the latency
    peak_memory_bytes: int | None  # one forward pass of the prepared model, above weights and input
    notes: list[str] = field(default_factory=list)  # what the preparation did


@dataclass(frozen=True)
class Ratio:
    """Median and IQR of the round-by-round ratio of one timing to another, timed in the same rounds; with
    several independent runs (``TimingOptions.repeats``), each run's median and interquartile interval too."""

    variant: str
    backend: str
    base_variant: str
    base_backend: str
    median: float
    iqr: float
    run_medians: tuple[float, ...] = ()
    run_intervals: tuple[tuple[float, float], ...] = ()  # each run's (first quartile, third quartile)

    @property
    def between_runs(self) -> float | None:
        """How far apart the runs' median ratios lie (largest − smallest); None with one run."""
        return max(self.run_medians) - min(self.run_medians) if len(self.run_medians) > 1 else None

    @property
    def run_spread(self) -> float | None:
        """A typical run's interquartile width (the median over the runs); None with one run."""
        return statistics.median(high - low for low, high in self.run_intervals) if self.run_intervals else None

    def reproduces(self) -> bool:
        """Whether every run's median lies within a typical run's IQR width of every other run's: what a reader
        of 'ratio (IQR)' expects of a rerun. Not each run's own interval: ten rounds span seconds, and on a quiet
        machine the ratio drifts by about as much between blocks of ten rounds of one run as between runs
        (``benchmarks/bench_reproduce.py --block``), so a narrow run's IQR misses a rerun that differs by 0.005."""
        return self.between_runs is None or self.between_runs <= self.run_spread


@dataclass
class TimingComparison:
    """Every variant on every backend, timed in the same interleaved rounds."""

    timings: dict[tuple[str, str], Timing]  # (variant, backend) -> timing, backends in the order asked
    base: str  # the variant the ratios divide by
    warnings: list[str]
    context: MachineContext
    options: TimingOptions
    thread_choice: ThreadChoice | None = None  # how many threads, and why
    doubt: str | None = None  # why the ratios cannot be trusted (cores taken while timing); None: no such doubt

    @property
    def variants(self) -> list[str]:
        return list(dict.fromkeys(variant for variant, _ in self.timings))

    def timing(self, variant: str, backend: str | None = None) -> Timing:
        """``variant`` on ``backend`` (default: the first backend asked)."""
        return self.timings[variant, backend or self.options.backends[0]]

    def ratio(self, variant: str, backend: str | None = None, base: str | None = None) -> Ratio:
        """``variant`` ÷ ``base`` (default: the base variant), both on ``backend``: the like-for-like ratio."""
        backend = backend or self.options.backends[0]
        return _ratio(self.timings[variant, backend], self.timings[base or self.base, backend], self.options.rounds)

    def best(self, variant: str) -> Timing:
        """``variant`` on the backend where its median latency is lowest."""
        return min((self.timings[variant, b] for b in self.options.backends), key=lambda t: t.latency_ms)

    def best_ratio(self, variant: str) -> Ratio:
        """``variant`` on its fastest backend ÷ the base variant on its fastest backend (the headline)."""
        return _ratio(self.best(variant), self.best(self.base), self.options.rounds)


def _ratio(timing: Timing, base: Timing, rounds_per_run: int) -> Ratio:
    per_round = [value / reference for value, reference in zip(timing.samples_ms, base.samples_ms, strict=True)]
    runs = [per_round[start:start + rounds_per_run] for start in range(0, len(per_round), rounds_per_run)]
    several = len(runs) > 1
    return Ratio(timing.variant, timing.backend, base.variant, base.backend, statistics.median(per_round),
                 iqr(per_round), tuple(statistics.median(run) for run in runs) if several else (),
                 tuple(_quartiles(run) for run in runs) if several else ())


def _quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def installed_backends() -> tuple[str, ...]:
    """The backends whose engines can run here (``onnxruntime`` needs its optional extra)."""
    return tuple(name for name, backend in BACKENDS.items() if backend.available())


def time_variants(models: Mapping[str, nn.Module], input_shape: tuple[int, ...],
                  options: TimingOptions = TimingOptions(), base: str | None = None,
                  on_progress: Callable[[int, int], None] | None = None) -> TimingComparison:
    """Prepare each model by each backend of ``options`` and time them on the same seeded random input.

    Every (model, backend) pair takes its turn in every round, so ratios are taken round by round
    (against ``base``, default: the first model, on the same backend; or best against best) and
    summarised by median and IQR. ``on_progress(done, total)`` is called after each measurement. The
    caller's models are not changed. Several CPU threads give meaningful latencies only on cores nothing
    else uses: unless ``options.threads`` is given, timing runs at the cores free when it starts
    (``timing_threads``); when other processes took cores the timing threads needed while they timed,
    ``comparison.doubt`` says so and the ratios are not to be read as findings.
    """
    if not models:
        raise BadValueError("no models to time")
    base = base or next(iter(models))
    x = timing_input(input_shape, options)
    device = x.device
    choice = timing_threads(options, device)
    threads = choice.threads
    keys = [(name, backend) for backend in options.backends for name in models]
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in keys}
    runs, partial = 0, False
    progress = _across_runs(on_progress, options.repeats)
    load, on_cores = OtherLoad().start(), CoreLoad().start()
    with runtime_settings(device, threads):
        for run in range(options.repeats):  # each run prepares afresh: new engine sessions, warm-up, buffers
            try:
                prepared, inputs = prepare_warm({key: models[key[0]] for key in keys}, x, options.warmup)
            except KeyboardInterrupt:
                if run == 0:
                    raise
                partial = True  # keep the runs that finished
                break
            if run == 0:
                first, peaks = prepared, {key: measure_peak(runner, inputs[key]) if options.memory
                                          and BACKENDS[key[1]].torch_memory else None
                                          for key, runner in prepared.items()}
            try:
                taken = _interleaved_rounds(prepared, inputs, threads, options, progress(run))
            except _RoundsInterrupted as stop:
                taken, partial = stop.samples, True
            if partial and run > 0:  # keep the runs that finished
                break
            for key in keys:
                samples[key] += taken[key]
            runs += 1
            if partial:
                break
            del prepared, inputs
    other_load, during = load.stop(), on_cores.stop()
    rounds = len(samples[keys[0]]) if runs == 1 else options.rounds
    if rounds == 0:  # interrupted before one round was complete: nothing to compare
        raise TimingInterrupted(None, options.rounds)
    timings = {key: Timing(*key, statistics.median(samples[key]), iqr(samples[key]), samples[key],
                           first[key].prepare_seconds, peaks[key], first[key].notes) for key in keys}
    finished = replace(options, rounds=rounds, repeats=runs)
    comparison = TimingComparison(timings, base, [], machine_context(device, threads, other_load), finished, choice)
    asked_too_many = choice.warning()
    comparison.warnings += [asked_too_many] if asked_too_many else []
    if partial:
        done = (f"{runs} of {options.repeats} runs" if options.repeats > 1 and runs > 1 or rounds == options.rounds
                else f"{rounds} of {options.rounds} rounds")
        comparison.warnings.append(f"interrupted: {done} finished (partial timing)")
        raise TimingInterrupted(comparison, options.rounds)
    comparison.warnings += _noise_warnings(comparison)
    if device.type == "cpu" and during.others is not None:  # on the cores this process may use
        contention = cpu_contention_warning(threads, during.others, during.allowed)
        comparison.warnings += [contention] if contention else []
        comparison.doubt = contention_doubt(threads, during.others, during.allowed)
    return comparison


def _across_runs(on_progress: Callable[[int, int], None] | None, runs: int):
    """Progress over every run: run ``r``'s (done, total) counted on from the runs before it."""
    def of_run(run: int):
        if on_progress is None:
            return None
        return lambda done, total: on_progress(run * total + done, runs * total)
    return of_run


def timing_threads(options: TimingOptions, device: torch.device) -> ThreadChoice:
    """The thread count to time at: ``options.threads`` when given, else the CPU cores free right now
    (affinity, cgroup quota, other processes' load; see ``cpu_free``), at most PyTorch's thread count.
    Nothing is read on a GPU or for one thread asked (one thread cannot ask for too many)."""
    read = device.type == "cpu" and options.threads != 1
    return choose_threads(read_cpu_free() if read else None, options.threads, torch.get_num_threads())


def timing_input(input_shape: tuple[int, ...], options: TimingOptions) -> torch.Tensor:
    """The seeded random input on the device and dtype of ``options`` (float16 is refused on CPU)."""
    device = resolve_device(options.device)
    dtype = DTYPES[options.dtype]
    if device.type == "cpu" and dtype is torch.float16:
        raise BadValueError("float16 is not supported on CPU: use bfloat16 or a CUDA device")
    generator = torch.Generator().manual_seed(options.seed)  # leaves the global RNG alone
    return torch.randn(tuple(input_shape), generator=generator).to(device, dtype)


def prepare_warm(models: Mapping[tuple[str, str], nn.Module], x: torch.Tensor, warmup: int
                 ) -> tuple[dict[tuple[str, str], PreparedModel], dict[tuple[str, str], torch.Tensor]]:
    """Each (name, backend) model prepared by that backend on ``x``, ``x`` adapted to it once (outside any
    timed call), and ``warmup`` calls made. Run it inside ``runtime_settings``."""
    prepared: dict[tuple[str, str], PreparedModel] = {}
    references: dict[int, Reference | None] = {}  # each model's output on x, computed once for all its backends
    for key, model in models.items():
        prepared[key], reference = prepare_checked(model, x, key[1], references.get(id(model)))
        references[id(model)] = references.get(id(model)) or reference
    del references
    inputs = {key: runner.adapt(x) for key, runner in prepared.items()}
    for key, runner in prepared.items():
        warm_up(runner, inputs[key], warmup)
    return prepared, inputs


def _noise_warnings(comparison: TimingComparison) -> list[str]:
    """Noisy latencies, then noisy ratios to the base variant on the same backend."""
    several = len(comparison.options.backends) > 1
    checks = []
    for (variant, backend), timing in comparison.timings.items():
        on = f" on {backend}" if several else ""
        checks.append((f"{variant}{on}", timing.latency_ms, timing.latency_iqr_ms))
        if variant != comparison.base:
            ratio = comparison.ratio(variant, backend)
            checks.append((f"{variant}/{comparison.base} ratio{on}", ratio.median, ratio.iqr))
    found = [noise_warning(label, median, spread) for label, median, spread in checks]
    for (variant, backend) in comparison.timings if comparison.options.repeats > 1 else ():
        ratio = comparison.ratio(variant, backend)
        if variant != comparison.base and not ratio.reproduces():
            runs = ", ".join(f"{median:.3f}" for median in ratio.run_medians)
            found.append(f"{variant}/{comparison.base} ratio{' on ' + backend if several else ''} does not reproduce "
                         f"between runs: the run medians {runs} lie further apart than a run's IQR "
                         f"({ratio.run_spread:.3f})")
    return [warning for warning in found if warning]


@contextmanager
def runtime_settings(device: torch.device, threads: int) -> Iterator[None]:
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


def warm_up(model: PreparedModel, x: torch.Tensor, calls: int) -> None:
    for _ in range(calls):
        model(x)
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)


def _interleaved_rounds(runners: Mapping[Hashable, PreparedModel], inputs: Mapping[Hashable, torch.Tensor],
                        threads: int, options: TimingOptions, on_progress) -> dict[Hashable, list[float]]:
    """Per runner, one median latency (ms) per round; the runners take turns within each round."""
    # Timer synchronizes CUDA around its timed blocks; its own default of 1 thread must be overridden.
    timers = {name: benchmark.Timer("model(x)", globals={"model": model, "x": inputs[name]}, num_threads=threads)
              for name, model in runners.items()}
    samples: dict[Hashable, list[float]] = {name: [] for name in runners}
    total, done = options.rounds * len(timers), 0
    try:
        for _ in range(options.rounds):
            for name, timer in timers.items():
                samples[name].append(timer.blocked_autorange(min_run_time=options.min_run_time).median * 1e3)
                done += 1
                if on_progress is not None:
                    on_progress(done, total)
    except KeyboardInterrupt:
        complete = done // len(timers)  # a round counts only when every runner had its turn
        raise _RoundsInterrupted({name: taken[:complete] for name, taken in samples.items()}) from None
    return samples


def median_latencies(runners: Mapping[Hashable, PreparedModel], inputs: Mapping[Hashable, torch.Tensor],
                     threads: int, options: TimingOptions) -> dict[Hashable, float]:
    """Median latency (ms) of each prepared runner over ``options.rounds`` interleaved rounds (for callers
    that prepared the runners themselves, e.g. to profile the same objects)."""
    samples = _interleaved_rounds(runners, inputs, threads, options, None)
    return {name: statistics.median(taken) for name, taken in samples.items()}


class _RoundsInterrupted(KeyboardInterrupt):
    def __init__(self, samples: dict[Hashable, list[float]]) -> None:
        super().__init__()
        self.samples = samples


class TimingInterrupted(KeyboardInterrupt):
    """Ctrl-C while timing. ``comparison``: the rounds every runner finished (``options.rounds`` says how many,
    with a warning saying it is partial), or None when not one round was complete."""

    def __init__(self, comparison: TimingComparison | None, planned_rounds: int) -> None:
        done = comparison.options.rounds if comparison else 0
        super().__init__(f"interrupted while timing, after {done} of {planned_rounds} rounds")
        self.comparison = comparison
