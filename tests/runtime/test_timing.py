"""Timing: structure and behaviour only. Durations are never asserted beyond being positive."""

import os
import statistics
import time
from dataclasses import replace

import pytest
import torch
from torch import nn

import octprofile
from octprofile.runtime.context import machine_context, resolve_device
from octprofile.runtime.cpu_free import CpuReadings
from octprofile.runtime.stats import contention_doubt, cpu_contention_warning, iqr, noise_warning
from octprofile.runtime.timing import (
    Timing,
    TimingComparison,
    TimingOptions,
    _noise_warnings,
    flush_denormal_enabled,
    installed_backends,
    time_variants,
)

SHAPE = (1, 3, 16, 16)
# One thread keeps these tests quick on a shared machine, where OpenMP threads stall each other.
FAST = TimingOptions(device="cpu", threads=1, rounds=2, min_run_time=0.01, warmup=1, memory=False)
no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def two_convs() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))


class CallRecorder(nn.Module):
    """Records its name on each call through a closure, which deep copies share with the original."""

    def __init__(self, name: str, calls: list[str]) -> None:
        super().__init__()
        self.inner = two_convs()

        def record() -> None:
            calls.append(name)

        self.record = record

    def forward(self, x):
        self.record()
        return self.inner(x)


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_comparison_holds_one_timing_per_variant_in_order():
    vanilla = octprofile.build_model("resnet20_cifar")
    oct_model = octprofile.build_model("resnet20_cifar", 0.5)
    comparison = time_variants({"vanilla": vanilla, "oct": oct_model}, (1, 3, 32, 32), FAST)
    assert list(comparison.timings) == [("vanilla", "eager"), ("oct", "eager")]
    for (name, backend), timing in comparison.timings.items():
        assert (timing.variant, timing.backend) == (name, backend)
        assert timing.latency_ms > 0 and timing.latency_iqr_ms >= 0
        assert len(timing.samples_ms) == FAST.rounds and all(sample > 0 for sample in timing.samples_ms)
        assert timing.prepare_s > 0 and timing.peak_memory_bytes is None
        assert any("batch norms folded" in note for note in timing.notes)  # both got the same preparation
    assert (comparison.ratio("vanilla").median, comparison.ratio("vanilla").iqr) == (1.0, 0.0)
    assert comparison.ratio("oct").median > 0


def test_ratios_are_against_the_base_variant_whatever_its_position():
    models = {"oct": octprofile.build_model("resnet20_cifar", 0.5), "vanilla": octprofile.build_model("resnet20_cifar")}
    comparison = time_variants(models, (1, 3, 32, 32), FAST, base="vanilla")
    assert comparison.base == "vanilla" and comparison.ratio("vanilla").median == 1.0


def test_every_backend_is_timed_in_the_same_rounds():
    calls: list[str] = []
    models = {"a": CallRecorder("a", calls), "b": CallRecorder("b", calls)}
    comparison = time_variants(models, SHAPE, replace(FAST, backends=("plain", "eager"), rounds=2))
    assert list(comparison.timings) == [("a", "plain"), ("b", "plain"), ("a", "eager"), ("b", "eager")]
    assert [len(t.samples_ms) for t in comparison.timings.values()] == [2, 2, 2, 2]
    plain_notes, eager_notes = comparison.timing("a", "plain").notes, comparison.timing("a", "eager").notes
    assert any("as built" in note for note in plain_notes) and any("folded" in note for note in eager_notes)
    assert comparison.best_ratio("b").base_variant == "a"


def test_peak_memory_is_measured_when_asked():
    timing = time_variants({"a": two_convs()}, SHAPE, replace(FAST, memory=True)).timing("a")
    assert timing.peak_memory_bytes >= 8 * 16 * 16 * 4  # at least the output


def test_context_records_how_it_was_measured():
    comparison = time_variants({"a": two_convs()}, SHAPE, FAST)
    context = comparison.context
    assert context.torch_version == torch.__version__
    assert context.device == "cpu" and context.device_name and context.isa
    assert context.threads == 1 and comparison.options.dtype == "float32" and comparison.options.backends == ("eager",)


def test_variants_take_turns_in_each_round():
    calls: list[str] = []
    models = {"a": CallRecorder("a", calls), "b": CallRecorder("b", calls)}
    progress: list[tuple[int, int]] = []
    time_variants(models, SHAPE, replace(FAST, rounds=3),
                  on_progress=lambda done, total: progress.append((done, total)))
    turns = [name for i, name in enumerate(calls) if i == 0 or calls[i - 1] != name]
    assert turns[-6:] == ["a", "b", "a", "b", "a", "b"]
    assert progress == [(done, 6) for done in range(1, 7)]


def test_callers_models_are_left_as_they_were():
    model = two_convs()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    time_variants({"a": model}, SHAPE, FAST)
    assert model.training and type(model[0]) is nn.Conv2d
    assert model[0].weight.is_contiguous()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.usefixtures("restore_threads")
def test_threads_are_set_for_the_timing_then_restored():
    torch.set_num_threads(1)
    context = time_variants({"a": two_convs()}, SHAPE, replace(FAST, threads=2)).context
    assert context.threads == 2
    assert torch.get_num_threads() == 1


@pytest.mark.usefixtures("restore_threads")
def test_default_threads_are_at_most_the_current_setting():
    torch.set_num_threads(1)
    assert time_variants({"a": two_convs()}, SHAPE, replace(FAST, threads=None)).context.threads == 1


def fake_machine(monkeypatch, *busy: float) -> None:
    """time_variants reads these per-core shares instead of /proc/stat (no test depends on the real load)."""
    monkeypatch.setattr("octprofile.runtime.timing.read_cpu_free",
                        lambda: CpuReadings(allowed=len(busy), machine=len(busy), busy=busy))


@pytest.mark.usefixtures("restore_threads")
def test_default_threads_are_the_free_cores(monkeypatch):
    torch.set_num_threads(2)
    fake_machine(monkeypatch, 1.0, 0.0)
    comparison = time_variants({"a": two_convs()}, SHAPE, replace(FAST, threads=None))
    assert comparison.context.threads == 1
    assert comparison.thread_choice.describe() == "timed at 1 thread: 1 of 2 cores busy"
    assert not any("asked" in warning for warning in comparison.warnings)
    assert torch.get_num_threads() == 2


@pytest.mark.usefixtures("restore_threads")
def test_explicit_threads_are_honoured_with_a_warning_first(monkeypatch):
    fake_machine(monkeypatch, 1.0, 0.0)
    comparison = time_variants({"a": two_convs()}, SHAPE, replace(FAST, threads=2, rounds=1))
    assert comparison.context.threads == 2
    assert comparison.warnings[0].startswith("2 threads asked but only 1 core(s) free (1 of 2 cores busy)")


def test_flush_denormal_is_restored():
    was_on = flush_denormal_enabled()
    time_variants({"a": two_convs()}, SHAPE, FAST)
    assert flush_denormal_enabled() == was_on


def test_float16_on_cpu_is_refused():
    with pytest.raises(ValueError, match="float16 is not supported on CPU"):
        time_variants({"a": two_convs()}, SHAPE, TimingOptions(device="cpu", dtype="float16"))


@pytest.mark.parametrize("backend", ["plain", "eager"])
def test_bfloat16_on_cpu_casts_a_copy(backend):
    model = two_convs()
    comparison = time_variants({"a": model}, SHAPE, replace(FAST, dtype="bfloat16", backends=(backend,)))
    assert comparison.options.dtype == "bfloat16" and comparison.timing("a").latency_ms > 0
    assert model[0].weight.dtype == torch.float32


@pytest.mark.parametrize("options, message", [
    (dict(dtype="float64"), "dtype must be one of"),
    (dict(rounds=0), "rounds must be >= 1"),
    (dict(repeats=0), "repeats must be >= 1, got 0"),
    (dict(min_run_time=0), "min_run_time > 0"),
    (dict(threads=0), "threads must be at least 1"),
    (dict(backends=("turbo",)), "unknown backend 'turbo'"),
    (dict(backends=()), "no backend to time on"),
    (dict(backends=("eager", "eager")), "backends repeat: eager, eager"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        TimingOptions(**options)


def test_all_backends_means_those_installed_here():
    assert TimingOptions(backends="all").backends == installed_backends()
    assert TimingOptions(backends="plain").backends == ("plain",)
    assert {"plain", "eager"} <= set(installed_backends())


def test_bad_calls_are_refused():
    with pytest.raises(ValueError, match="no models"):
        time_variants({}, SHAPE, FAST)
    with pytest.raises(ValueError, match="meta tensors"):
        time_variants({"a": nn.Conv2d(3, 4, 3, device="meta")}, SHAPE, FAST)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="not supported"):
        resolve_device("meta")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("gpu")


@no_gpu
def test_cuda_without_a_gpu_is_refused_clearly():
    with pytest.raises(ValueError, match="device 'cuda' requested but no CUDA GPU is available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        time_variants({"a": two_convs()}, SHAPE, TimingOptions(device="cuda"))


def test_iqr_uses_inclusive_quartiles():
    assert iqr([1.0, 2.0, 3.0, 4.0, 5.0]) == 2.0
    assert iqr([7.0]) == 0.0


def synthetic(samples: dict[tuple[str, str], list[float]], base: str = "vanilla") -> TimingComparison:
    """A comparison from given per-round samples, as time_variants would assemble it."""
    backends = tuple(dict.fromkeys(backend for _, backend in samples))
    timings = {key: Timing(*key, statistics.median(values), iqr(values), values, 0.0, None)
               for key, values in samples.items()}
    options = TimingOptions(device="cpu", backends=backends)
    return TimingComparison(timings, base, [], machine_context(torch.device("cpu"), 1, None), options)


def test_ratios_are_taken_round_by_round_against_the_base_on_the_same_backend():
    comparison = synthetic({("vanilla", "eager"): [1.0, 2.0, 4.0], ("oct", "eager"): [2.0, 4.0, 8.0],
                            ("vanilla", "plain"): [3.0, 3.0, 3.0], ("oct", "plain"): [1.5, 1.5, 1.5]})
    assert comparison.variants == ["vanilla", "oct"]
    assert (comparison.ratio("oct").median, comparison.ratio("oct").iqr) == (2.0, 0.0)  # shared drift cancels
    assert comparison.ratio("vanilla", "plain").median == 1.0
    assert comparison.ratio("oct", "plain").median == 0.5


def test_the_headline_divides_best_by_best_round_by_round():
    comparison = synthetic({("vanilla", "eager"): [10.0, 20.0, 10.0], ("oct", "eager"): [6.0, 12.0, 6.0],
                            ("vanilla", "onnxruntime"): [8.0, 16.0, 8.0], ("oct", "onnxruntime"): [9.0, 18.0, 9.0]})
    best = comparison.best_ratio("oct")
    assert (best.backend, best.base_backend) == ("eager", "onnxruntime")
    assert best.median == pytest.approx(0.75) and best.iqr == pytest.approx(0.0)
    assert comparison.best("vanilla").backend == "onnxruntime"


def test_noise_warning_fires_above_ten_percent():
    assert noise_warning("oct", 10.0, 1.0) is None
    assert noise_warning("oct", 10.0, 1.4) == "oct: IQR/median 14.0% > 10%: noisy machine"


def test_noise_warnings_cover_latencies_and_ratios():
    steady, drifting = [10.0, 10.0, 10.0, 10.0], [10.0, 20.0, 10.0, 20.0]
    noisy = synthetic({("vanilla", "eager"): steady, ("oct", "eager"): drifting})
    assert [warning.split(":")[0] for warning in _noise_warnings(noisy)] == ["oct", "oct/vanilla ratio"]
    calm = synthetic({("vanilla", "eager"): drifting, ("oct", "eager"): [2 * value for value in drifting]})
    assert _noise_warnings(calm) == [
        "vanilla: IQR/median 66.7% > 10%: noisy machine", "oct: IQR/median 66.7% > 10%: noisy machine"]
    two = synthetic({("vanilla", "eager"): steady, ("vanilla", "plain"): drifting})
    assert [warning.split(":")[0] for warning in _noise_warnings(two)] == ["vanilla on plain"]


def test_cpu_contention_warning():
    assert cpu_contention_warning(threads=2, other_load=0.1, cores=2) is None
    assert cpu_contention_warning(threads=1, other_load=1.0, cores=2) is None
    assert "kept 2.0 of 2 cores busy" in cpu_contention_warning(threads=2, other_load=2.0, cores=2)
    # two timing threads sharing a core with a spinning process leave it about half of that core
    assert "kept 0.5 of 2 cores busy" in cpu_contention_warning(threads=2, other_load=0.5, cores=2)


def test_cores_taken_while_several_threads_time_make_the_ratios_doubtful():
    assert contention_doubt(2, 1.0, 2) == "other processes took 1.0 of 2 cores while timing at 2 threads"
    assert contention_doubt(2, 0.5, 2) is not None
    assert contention_doubt(2, 0.1, 2) is None  # background noise
    assert contention_doubt(1, 1.0, 2) is None  # one core busy, one thread: each has its core
    assert contention_doubt(1, 1.7, 2) == "other processes took 1.7 of 2 cores while timing at 1 thread"
    assert contention_doubt(2, None, 2) is None  # no /proc/stat: nothing measured
    assert contention_doubt(8, 1.0, 64) is None  # cores to spare


def test_other_load_leaves_out_this_process_own_work():
    from octprofile.runtime.context import OtherLoad

    def machine_busy_seconds() -> float:  # all cores' non-idle time, independently of OtherLoad
        fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
        return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")

    if not os.path.exists("/proc/stat"):
        pytest.skip("no /proc/stat here")
    busy_before, cpu_before, start = machine_busy_seconds(), time.process_time(), time.perf_counter()
    load = OtherLoad().start()
    end = time.perf_counter() + 0.5
    while time.perf_counter() < end:  # busy in this process: not "other"
        pass
    measured = load.stop()
    wall = time.perf_counter() - start
    machine, own = (machine_busy_seconds() - busy_before) / wall, (time.process_time() - cpu_before) / wall
    if own < 0.3:
        pytest.skip(f"this process got only {own:.2f} of a core: the machine is saturated")
    # "other" is the machine's load less this process's share, whatever else runs meanwhile (e.g. a
    # parallel test worker); counted as "other", it would equal the machine's load
    assert 0 <= measured <= machine - own + 0.15


@needs_gpu
def test_gpu_timing_records_peak_memory_and_device_name():
    options = TimingOptions(device="cuda", dtype="float16", rounds=2, min_run_time=0.01)
    comparison = time_variants({"a": two_convs(), "b": two_convs()}, SHAPE, options)
    timing = comparison.timing("a")
    assert comparison.context.device_name == torch.cuda.get_device_name()
    assert timing.peak_memory_bytes > 0 and timing.latency_ms > 0
    assert comparison.ratio("a").median == 1.0


def test_latency_verdict_is_honest_about_spread():
    from octprofile.report.cells import latency_verdict

    assert latency_verdict(0.61, 0.02, "on eager") == "0.61× latency on eager (IQR 0.02)"
    assert latency_verdict(0.99, 0.04, "on eager").startswith("latency ≈ vanilla on eager")
    noisy = latency_verdict(0.92, 2.24, "on eager")  # six runs of one compare once gave 0.66 … 1.26
    assert noisy.startswith("latency inconclusive on eager") and "--rounds" in noisy and "0.92×" in noisy
    busy = latency_verdict(2.61, 0.01, "on eager", doubt="other processes took 1.0 of 2 cores while timing at 2 "
                                                         "threads")
    assert busy == ("latency inconclusive on eager: other processes took 1.0 of 2 cores while timing at 2 threads, "
                    "so the ratio is no finding; rerun on an otherwise idle machine or at fewer --threads")
    assert "2.61" not in busy  # a steady but inverted ratio is not printed as a finding
    one_thread = latency_verdict(2.61, 0.01, "on eager", doubt="cores taken", several_threads=False)
    assert one_thread.endswith("so the ratio is no finding; rerun on an otherwise idle machine")


def test_footer_keeps_one_warning_line_unless_verbose():
    from octprofile.report.cells import timing_warning_lines as _timing_warnings

    warnings = ["oct: IQR/median 17.9% > 10%: noisy machine", "oct/vanilla ratio: IQR/median 18.5% > 10%"]
    short = _timing_warnings(warnings, verbose=False)
    assert len(short) == 1 and "+1 more" in short[0] and "--verbose" in short[0]
    assert _timing_warnings(warnings, verbose=True) == [f"warning: {w}" for w in warnings]


def test_each_independent_run_prepares_afresh_and_its_ratio_is_kept(monkeypatch):
    import octprofile.runtime.timing as timing

    prepared, real = [], timing.prepare_checked

    def counted(model, x, backend, reference=None):
        prepared.append(backend)
        return real(model, x, backend, reference)

    monkeypatch.setattr(timing, "prepare_checked", counted)
    progress = []
    comparison = time_variants({"a": two_convs(), "b": two_convs()}, SHAPE, replace(FAST, repeats=3),
                               on_progress=lambda done, total: progress.append((done, total)))
    assert prepared == ["eager"] * 6 and comparison.options.repeats == 3  # 2 variants, 3 runs
    assert len(comparison.timing("a").samples_ms) == 3 * FAST.rounds
    assert progress[-1] == (12, 12) and [done for done, _ in progress] == list(range(1, 13))
    ratio = comparison.ratio("b")
    a, b = comparison.timing("a").samples_ms, comparison.timing("b").samples_ms
    by_hand = [statistics.median([b[i] / a[i] for i in range(start, start + FAST.rounds)]) for start in (0, 2, 4)]
    assert ratio.run_medians == pytest.approx(by_hand)
    assert ratio.between_runs == pytest.approx(max(by_hand) - min(by_hand))


def test_runs_reproduce_when_their_medians_lie_within_a_typical_runs_iqr_of_each_other():
    def comparison_of(ratios_per_run):
        rounds = len(ratios_per_run[0])
        base = [10.0] * (rounds * len(ratios_per_run))
        other = [10.0 * r for run in ratios_per_run for r in run]
        timings = {("v", "eager"): Timing("v", "eager", 10.0, 0.0, base, 0.0, None),
                   ("o", "eager"): Timing("o", "eager", statistics.median(other), 0.0, other, 0.0, None)}
        options = replace(FAST, rounds=rounds, repeats=len(ratios_per_run))
        return TimingComparison(timings, "v", [], machine_context(torch.device("cpu"), 1), options)

    agreeing = comparison_of([[0.70, 0.72, 0.74, 0.76], [0.71, 0.73, 0.75, 0.77], [0.70, 0.72, 0.75, 0.77]])
    assert agreeing.ratio("o").reproduces() and _noise_warnings(agreeing) == []
    # a narrow run (IQR 0.002) misses the others' medians by 0.004 to 0.01, within a typical run's IQR (0.02):
    # as three quiet 2-thread OpenVINO runs of resnet50 measured (0.754 to 0.773, IQRs 0.012 to 0.018)
    narrow = comparison_of([[0.74, 0.750, 0.760, 0.77], [0.745, 0.755, 0.765, 0.775], [0.750, 0.7645, 0.7655, 0.78]])
    assert narrow.ratio("o").run_intervals[2][1] - narrow.ratio("o").run_intervals[2][0] < 0.01
    assert not all(low <= median <= high for median in narrow.ratio("o").run_medians
                   for low, high in narrow.ratio("o").run_intervals)
    assert narrow.ratio("o").reproduces()
    apart = comparison_of([[0.70, 0.71, 0.72, 0.73], [0.84, 0.85, 0.86, 0.87], [0.70, 0.71, 0.72, 0.73]])
    assert not apart.ratio("o").reproduces()
    assert apart.ratio("o").between_runs == pytest.approx(0.14)
    assert _noise_warnings(apart)[-1:] == ["o/v ratio does not reproduce between runs: the run medians 0.715, 0.855, "
                                      "0.715 lie further apart than a run's IQR (0.015)"]
