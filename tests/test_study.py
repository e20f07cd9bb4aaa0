"""The use-case layer: order-independent ratios, typed rows, and no global state touched."""

import matplotlib
import torch

from octprofile.report.plots import sweep_plot
from octprofile.runtime.timing import TimingOptions
from octprofile.study import Study, StudyOptions

QUICK = TimingOptions(device="cpu", threads=1, rounds=1, min_run_time=0.01, warmup=1)


def test_ratios_are_against_the_alpha_zero_row_in_any_order():
    result = Study("resnet20_cifar").sweep([0.5, 0.0, 0.25], fvcore=False, timing=QUICK)
    assert [row.alpha for row in result.rows] == [0.5, 0.0, 0.25]  # the order asked
    vanilla = result.vanilla
    assert vanilla.mac_ratio == 1.0 and vanilla.latency_ratio == 1.0 and vanilla.peak_memory_ratio == 1.0
    for row in result.rows:
        assert row.mac_ratio == row.macs / vanilla.macs
        assert row.activation_ratio == row.activations / vanilla.activations
        assert row.peak_memory_ratio == row.peak_memory_bytes / vanilla.peak_memory_bytes


def test_a_missing_alpha_zero_is_added_first():
    result = Study("resnet20_cifar").sweep([0.25], fvcore=False)
    assert [(row.variant, row.alpha) for row in result.rows] == [("vanilla", 0.0), ("oct-0.25", 0.25)]
    assert result.timed is None and result.vanilla.latency_ms is None


def test_no_global_state_is_changed():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    threads, backend = torch.get_num_threads(), matplotlib.get_backend()
    result = Study("resnet20_cifar", StudyOptions(batch_size=2)).compare(0.5, fvcore=True, timing=QUICK)
    sweep_plot(result.rows, "title", "png")
    assert torch.equal(torch.rand(3), expected)  # the global RNG was not reseeded nor drawn from
    assert torch.get_num_threads() == threads and matplotlib.get_backend() == backend
    assert torch.is_grad_enabled()


def test_the_timed_summary_says_what_was_compared():
    timed = Study("resnet20_cifar").compare(0.5, fvcore=False, timing=QUICK).timed
    assert timed.backend == "eager" and "same generic treatment" in timed.description
    assert set(timed.notes) == {"vanilla", "oct"} and any("octave-specific" in n for n in timed.notes["oct"])
    assert not any("octave-specific" in n for n in timed.notes["vanilla"])
