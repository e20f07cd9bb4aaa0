"""The use-case layer: order-independent ratios, typed rows, and no global state touched."""

from dataclasses import replace

import matplotlib
import pytest
import torch

from octprofile.runtime.timing import TimingOptions
from octprofile.studies.sweep import sweep_plot
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
    sweep_plot(result, "title", "png")
    assert torch.equal(torch.rand(3), expected)  # the global RNG was not reseeded nor drawn from
    assert torch.get_num_threads() == threads and matplotlib.get_backend() == backend
    assert torch.is_grad_enabled()


def test_the_timed_summary_says_what_was_compared():
    timed = Study("resnet20_cifar").compare(0.5, fvcore=False, timing=QUICK).timed
    assert list(timed.backends) == ["eager"] and "same generic treatment" in timed.backends["eager"]
    notes = timed.notes
    assert set(notes) == {("vanilla", "eager"), ("oct", "eager")}
    assert any("octave-specific" in n for n in notes["oct", "eager"])
    assert not any("octave-specific" in n for n in notes["vanilla", "eager"])


def test_several_backends_give_one_row_per_variant_and_backend_with_the_headline():
    timing = replace(QUICK, backends=("plain", "eager"), rounds=2)
    result = Study("resnet20_cifar").sweep([0.25, 0.5], fvcore=False, timing=timing)
    assert [(r.backend, r.alpha) for r in result.rows] == [
        ("plain", 0.0), ("plain", 0.25), ("plain", 0.5), ("eager", 0.0), ("eager", 0.25), ("eager", 0.5)]
    assert [r.alpha for r in result.variant_rows()] == [0.0, 0.25, 0.5]
    for backend in ("plain", "eager"):
        vanilla = result.row("vanilla", backend)
        assert vanilla.latency_ratio == 1.0
        for row in result.on(backend):
            assert row.macs == result.row(row.variant, "plain").macs  # counts do not depend on the backend
        assert result.break_even(backend).backend == backend
    for row in result.rows:  # the headline: best against best, the same on every backend's row
        fastest = min(("plain", "eager"), key=lambda b: result.row(row.variant, b).latency_ms)
        assert row.best_backend == fastest and row.best_latency_ratio > 0
        assert result.fastest(row.variant).backend == fastest
    assert result.row("vanilla").backend == "plain"  # the first backend by default


def test_break_even_reads_the_crossing_off_the_measured_alphas():
    result = Study("resnet20_cifar").sweep([0.125, 0.25, 0.5, 0.75], fvcore=False)  # counts only: ratios set here
    for row, ratio in zip(result.rows, [1.0, 1.2, 1.1, 0.9, 0.7], strict=True):
        row.backend, row.latency_ratio = "eager", ratio
    crossing = result.break_even("eager")
    assert (crossing.slower_at, crossing.faster_from) == (0.25, 0.5)
    assert crossing.estimate == pytest.approx(0.25 + 0.5 * 0.25)  # ratio 1.1 -> 0.9: halfway
    assert crossing.describe() == "≈0.38 (slower at 0.25, faster from 0.5)"
    result.rows[3].latency_ratio = 1.05  # slower again at 0.5: only 0.75 is faster
    assert result.break_even("eager").faster_from == 0.75
    for row in result.rows[1:]:
        row.latency_ratio = 0.8
    assert result.break_even("eager").describe() == "faster at every α measured (from 0.125)"
    for row in result.rows[1:]:
        row.latency_ratio = 1.3
    assert result.break_even("eager").describe() == "slower at every α measured"


@pytest.mark.parametrize("model", ["resnet50", "mobilenet_v2", "mobilenet_v1", "resnet20_cifar"])
def test_network_theory_matches_the_count_where_every_split_is_exact(model):
    # α 0.5: every channel count of these models is even, so floor(α·c) = α·c and the closed forms are exact
    row = Study(model).compare(0.5, fvcore=False).row("oct")
    assert row.network_theory_mac_ratio == pytest.approx(row.mac_ratio, rel=1e-12)
    assert row.network_theory_activation_ratio == pytest.approx(row.activation_ratio, rel=1e-12)
    assert row.theory_mac_ratio == pytest.approx(1 - 0.75 * 0.5 * 1.5)  # the one-layer formula
    assert row.mac_ratio > row.theory_mac_ratio + 0.1  # the network saves less than one layer


def test_network_theory_departs_where_floor_rounds_the_split():
    # α 0.3 of 16 channels is 4.8, floored to 4: the network keeps more high channels than theory assumes
    row = Study("resnet20_cifar").compare(0.3, fvcore=False).row("oct")
    assert row.mac_ratio > row.network_theory_mac_ratio + 0.01


def timed_by_hand(result, ratio: float, iqr: float, doubt: str | None = None,
                  note: str | None = "timed at 1 thread: 1 of 2 cores busy", threads: int = 1):
    """``result`` (counted, not timed) as if timed on eager at ``ratio`` (IQR ``iqr``) for every Oct row."""
    from octprofile.runtime.context import MachineContext
    from octprofile.studies.variants import Timed

    context = MachineContext("2.14.1", "cpu", "AMD EPYC", "AVX2", threads, 1.0)
    result.timed = Timed({"eager": "eager PyTorch"}, context, "float32", 5, [], {}, note, doubt)
    for row in result.rows:
        row.backend = row.best_backend = "eager"
        row.latency_ms, row.latency_iqr_ms = (100.0, 1.0) if row.alpha == 0 else (100.0 * ratio, 1.0)
        row.latency_ratio, row.latency_ratio_iqr = (1.0, 0.0) if row.alpha == 0 else (ratio, iqr)
        row.best_latency_ratio, row.best_latency_ratio_iqr = row.latency_ratio, row.latency_ratio_iqr
    return result


def test_the_verdict_gives_the_ratio_of_a_trusted_timing():
    from octprofile.studies.compare import verdict

    result = timed_by_hand(Study("resnet20_cifar").compare(0.5, fvcore=False), 0.72, 0.02)
    assert verdict(result).endswith(" · 0.72× latency on eager (IQR 0.02)")


def test_the_verdict_is_inconclusive_without_a_ratio_when_cores_were_taken_while_timing():
    from octprofile.studies.compare import verdict

    doubt = "other processes took 1.0 of 2 cores while timing at 2 threads"
    result = timed_by_hand(Study("resnet20_cifar").compare(0.5, fvcore=False), 2.61, 0.01, doubt, threads=2)
    line = verdict(result)
    assert line.endswith(" · latency inconclusive on eager: other processes took 1.0 of 2 cores while timing at 2 "
                         "threads, so the ratio is no finding; rerun on an otherwise idle machine or at fewer "
                         "--threads")
    assert "2.61" not in line


def test_the_footer_says_how_many_threads_and_why():
    from octprofile.studies.compare import footer

    lines = footer(timed_by_hand(Study("resnet20_cifar").compare(0.5, fvcore=False), 0.72, 0.02)).splitlines()
    timed_on = next(i for i, line in enumerate(lines) if line.startswith("timed on "))
    assert ", 1 thread, float32, torch 2.14.1" in lines[timed_on]
    assert lines[timed_on + 1] == "timed at 1 thread: 1 of 2 cores busy"


def test_a_doubtful_sweep_gives_no_break_even():
    from octprofile.studies.compare import footer

    doubt = "other processes took 1.0 of 2 cores while timing at 2 threads"
    result = timed_by_hand(Study("resnet20_cifar").sweep([0.25, 0.5], fvcore=False), 0.9, 0.01, doubt, threads=2)
    assert f"break-even α on eager: inconclusive ({doubt})" in footer(result).splitlines()


def test_a_doubtful_best_vs_best_line_states_the_times_but_no_ratio():
    import dataclasses

    from octprofile.studies.compare import headline

    doubt = "other processes took 1.0 of 2 cores while timing at 2 threads"
    result = timed_by_hand(Study("resnet20_cifar").compare(0.5, fvcore=False), 2.61, 0.01, doubt, threads=2)
    result.timed.backends["onnxruntime"] = "ONNX Runtime"
    result.rows += [dataclasses.replace(row, backend="onnxruntime") for row in result.rows]
    (line,) = headline(result)
    assert line == ("best vs best: oct α=0.5 on eager (261.00 ms) ÷ vanilla on eager (100.00 ms) = inconclusive "
                    "(see the verdict)")
    result.timed.doubt = None
    assert headline(result)[0].endswith("= 2.610× (IQR 0.010)")


def test_independent_runs_that_do_not_reproduce_give_their_range_or_no_ratio_when_it_holds_vanilla():
    from octprofile.studies.compare import latency_table, verdict

    result = timed_by_hand(Study("resnet20_cifar").compare(0.5, fvcore=False), 0.79, 0.02, note=None)
    octave = result.row("oct")
    octave.timing_runs, octave.latency_ratio_between_runs, octave.latency_ratio_reproduces = 3, 0.14, False
    octave.latency_ratio_lowest_run, octave.latency_ratio_highest_run = 0.72, 0.86
    assert verdict(result).endswith(" · 0.72–0.86× latency on eager over 3 independent runs (further apart than a "
                                    "run's IQR: the range is the finding)")
    octave.latency_ratio_lowest_run, octave.latency_ratio_highest_run = 0.93, 1.07
    line = verdict(result)
    assert line.endswith(" · latency inconclusive on eager: its 3 independent runs lie on both sides of vanilla "
                         "(0.93–1.07×), further apart than a run's IQR (the setting does not reproduce on this "
                         "machine), so the ratio is no finding; rerun on an otherwise idle machine")
    assert "0.79" not in line  # timed at 1 thread: no advice to use fewer
    octave.latency_ratio_reproduces = True
    assert verdict(result).endswith(" · 0.79× latency on eager (IQR 0.02)")
    from rich.console import Console

    console = Console(width=80, record=True)
    console.print(latency_table(result))
    text = console.export_text()
    assert "3 runs, max − min" in text and "0.140" in text
