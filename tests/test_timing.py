"""Timing: structure and behaviour only. Durations are never asserted beyond being positive."""

from dataclasses import replace

import pytest
import torch
from torch import nn
from torch._dynamo.exc import BackendCompilerFailed

import octprofile
from octprofile.analysis.timing import (
    TimingOptions,
    cpu_contention_warning,
    flush_denormal_enabled,
    iqr,
    noise_warning,
    noise_warnings,
    ratios_vs_first,
    resolve_device,
    time_variants,
)

SHAPE = (1, 3, 16, 16)
# One thread keeps these tests quick on a shared machine, where OpenMP threads stall each other.
FAST = TimingOptions(device="cpu", threads=1, rounds=2, min_run_time=0.01, warmup=1)
CONTEXT_FIELDS = {"torch_version", "device", "device_name", "threads", "dtype", "batch_size", "input_size",
                  "memory_format", "compile_mode"}
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
    assert list(comparison.timings) == ["vanilla", "oct"]
    for name, timing in comparison.timings.items():
        assert timing.variant == name
        assert timing.latency_ms > 0 and timing.latency_iqr_ms >= 0
        assert len(timing.samples_ms) == FAST.rounds and all(sample > 0 for sample in timing.samples_ms)
        assert timing.compile_s is None and timing.peak_memory_bytes is None
    assert comparison.ratios["vanilla"] == (1.0, 0.0)
    assert comparison.ratios["oct"][0] > 0


def test_context_records_how_it_was_measured():
    context = time_variants({"a": two_convs()}, SHAPE, FAST).timings["a"].context
    assert CONTEXT_FIELDS <= set(context)
    assert context["torch_version"] == torch.__version__
    assert context["device"] == "cpu" and context["device_name"]
    assert context["dtype"] == "float32" and context["batch_size"] == 1 and context["input_size"] == 16
    assert context["memory_format"] == "contiguous" and context["compile_mode"] == "eager"
    assert context["threads"] >= 1


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
    time_variants({"a": model}, SHAPE, replace(FAST, channels_last=True))
    assert model.training
    assert model[0].weight.is_contiguous()


@pytest.mark.usefixtures("restore_threads")
def test_threads_are_set_for_the_timing_then_restored():
    torch.set_num_threads(1)
    context = time_variants({"a": two_convs()}, SHAPE, replace(FAST, threads=2)).timings["a"].context
    assert context["threads"] == 2
    assert torch.get_num_threads() == 1


@pytest.mark.usefixtures("restore_threads")
def test_default_threads_are_the_current_setting():
    torch.set_num_threads(1)
    assert time_variants({"a": two_convs()}, SHAPE, replace(FAST, threads=None)).timings["a"].context["threads"] == 1


def test_flush_denormal_is_restored():
    was_on = flush_denormal_enabled()
    time_variants({"a": two_convs()}, SHAPE, FAST)
    assert flush_denormal_enabled() == was_on


def test_float16_on_cpu_is_refused():
    with pytest.raises(ValueError, match="float16 is not supported on CPU"):
        time_variants({"a": two_convs()}, SHAPE, TimingOptions(device="cpu", dtype="float16"))


def test_bfloat16_on_cpu_runs_under_autocast():
    model = two_convs()
    timing = time_variants({"a": model}, SHAPE, replace(FAST, dtype="bfloat16")).timings["a"]
    assert timing.context["dtype"] == "bfloat16" and timing.latency_ms > 0
    assert model[0].weight.dtype == torch.float32


def test_channels_last_runs():
    timing = time_variants({"a": two_convs()}, SHAPE, replace(FAST, channels_last=True)).timings["a"]
    assert timing.context["memory_format"] == "channels_last" and timing.latency_ms > 0


def test_compile_time_is_reported_apart_from_latency():
    options = replace(FAST, compile=True, rounds=1)
    try:
        timing = time_variants({"a": nn.Conv2d(3, 4, 3)}, SHAPE, options).timings["a"]
    except BackendCompilerFailed as error:  # e.g. no C++ compiler on this machine
        pytest.skip(f"torch.compile does not work here: {error}")
    assert timing.compile_s > 0 and timing.latency_ms > 0
    assert timing.context["compile_mode"] == "inductor"


@pytest.mark.parametrize("options, message", [
    (dict(dtype="float64"), "dtype must be one of"),
    (dict(rounds=0), "rounds must be >= 1"),
    (dict(min_run_time=0), "min_run_time > 0"),
    (dict(threads=0), "threads must be at least 1"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        TimingOptions(**options)


def test_bad_calls_are_refused():
    with pytest.raises(ValueError, match="no models"):
        time_variants({}, SHAPE, FAST)
    with pytest.raises(ValueError, match="channels_last needs a 4-d"):
        time_variants({"a": nn.Linear(4, 4)}, (1, 4), TimingOptions(device="cpu", channels_last=True))
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


def test_ratios_are_taken_round_by_round_against_the_first_variant():
    samples = {"vanilla": [1.0, 2.0, 4.0], "oct": [2.0, 4.0, 8.0], "fast": [0.5, 1.0, 2.0]}
    ratios = ratios_vs_first(samples)
    assert list(ratios) == ["vanilla", "oct", "fast"]
    assert ratios["vanilla"] == (1.0, 0.0)
    assert ratios["oct"] == (2.0, 0.0)  # drift shared by both variants cancels
    assert ratios["fast"] == (0.5, 0.0)


def test_noise_warning_fires_above_ten_percent():
    assert noise_warning("oct", 10.0, 1.0) is None
    assert noise_warning("oct", 10.0, 1.4) == "oct: IQR/median 14.0% > 10%: noisy machine"


def test_noise_warnings_cover_latencies_and_ratios():
    steady, drifting = [10.0, 10.0, 10.0, 10.0], [10.0, 20.0, 10.0, 20.0]
    samples = {"vanilla": steady, "oct": drifting}
    warnings = noise_warnings(samples, ratios_vs_first(samples))
    assert [warning.split(":")[0] for warning in warnings] == ["oct", "oct/vanilla ratio"]
    calm = {"vanilla": drifting, "oct": [2 * value for value in drifting]}
    assert noise_warnings(calm, ratios_vs_first(calm)) == ["vanilla: IQR/median 66.7% > 10%: noisy machine",
                                                            "oct: IQR/median 66.7% > 10%: noisy machine"]


def test_cpu_contention_warning():
    assert cpu_contention_warning(threads=2, load_average=0.1, cores=2) is None
    assert cpu_contention_warning(threads=1, load_average=1.0, cores=2) is None
    assert "load average 2.0 on 2 cores" in cpu_contention_warning(threads=2, load_average=2.0, cores=2)


@needs_gpu
def test_gpu_timing_records_peak_memory_and_device_name():
    options = TimingOptions(device="cuda", dtype="float16", rounds=2, min_run_time=0.01)
    comparison = time_variants({"a": two_convs(), "b": two_convs()}, SHAPE, options)
    timing = comparison.timings["a"]
    assert timing.context["device_name"] == torch.cuda.get_device_name()
    assert timing.peak_memory_bytes > 0 and timing.latency_ms > 0
    assert comparison.ratios["a"] == (1.0, 0.0)
