"""Where the time goes: blocks named alike in vanilla and Oct, MACs per block that add up, timing by hooks."""

import csv
import io

import pytest
from torch import nn
from typer.testing import CliRunner

from octprofile.build import build_model
from octprofile.cli import app
from octprofile.results import BLOCK_COLUMNS
from octprofile.runtime.block_timing import BETWEEN_BLOCKS, block_names, time_blocks
from octprofile.runtime.timing import TimingOptions
from octprofile.study import Study

QUICK = TimingOptions(device="cpu", threads=1, rounds=2, min_run_time=0.01, warmup=1, memory=False)


def test_blocks_are_top_level_children_with_containers_opened():
    assert block_names(build_model("resnet50", 0.0, device="meta"))[:7] == [
        "conv1", "bn1", "relu", "maxpool", "layer1.0", "layer1.1", "layer1.2"]
    assert block_names(build_model("mobilenet_v2", 0.0, device="meta"))[-3:] == [
        "features.18", "classifier.0", "classifier.1"]
    nested = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ReLU(), nn.Conv2d(4, 4, 1)))
    assert block_names(nested) == ["0", "1"]  # a Sequential model's children are its blocks


def test_the_converter_keeps_the_blocks_of_the_vanilla_model():
    for name in ("resnet50", "mobilenet_v2", "resnet20_cifar"):
        vanilla, octave = (build_model(name, a, device="meta") for a in (0.0, 0.5))
        assert block_names(vanilla) == block_names(octave)


def test_block_macs_add_up_and_every_row_is_consistent():
    study = Study("resnet20_cifar")
    result = study.blocks(0.5, QUICK, passes=2)
    names = [row.block for row in result.rows]
    assert names == [*block_names(study.build(0.0, device="meta")), BETWEEN_BLOCKS, "total"]
    counted = study.compare(0.5, fvcore=False)
    total = result.total
    assert total.macs_vanilla == counted.vanilla.macs and total.macs == counted.row("oct").macs
    assert sum(row.macs for row in result.rows[:-1]) == total.macs
    assert sum(row.macs_vanilla for row in result.rows[:-1]) == total.macs_vanilla
    for row in result.rows:
        assert row.latency_vanilla_ms >= 0 and row.latency_ms >= 0
        expected = row.latency_ms - row.latency_vanilla_ms * (row.mac_ratio if row.mac_ratio is not None else 1.0)
        assert row.excess_ms == pytest.approx(expected)
        assert row.mac_ratio is None or row.mac_ratio == row.macs / row.macs_vanilla
    assert total.share_of_vanilla == 1.0 and total.latency_ms > 0
    assert result.passes == 4 and all(row.backend == "eager" for row in result.rows)


def test_every_pass_times_every_block_of_both_models():
    models = {"vanilla": build_model("resnet20_cifar", 0.0, seed=0), "oct": build_model("resnet20_cifar", 0.5, seed=0)}
    progress = []
    samples = time_blocks(models, (1, 3, 32, 32), QUICK, passes=3,
                          on_progress=lambda done, total: progress.append((done, total)))
    assert set(samples) == {"vanilla", "oct"}
    for per_block in samples.values():
        assert all(len(values) == 6 for values in per_block.values())
        assert all(value > 0 for value in per_block["total"])
    assert progress[-1] == (12, 12)


@pytest.mark.parametrize("backends, message", [
    (("compile",), "runs module by module"), (("plain", "eager"), "needs one backend")])
def test_backends_without_blocks_are_refused(backends, message):
    from dataclasses import replace

    with pytest.raises(ValueError, match=message):
        time_blocks({"a": nn.Sequential(nn.Conv2d(3, 4, 3))}, (1, 3, 8, 8), replace(QUICK, backends=backends))


def test_float16_on_cpu_is_refused_as_for_whole_models():
    from dataclasses import replace

    with pytest.raises(ValueError, match="float16 is not supported on CPU"):
        time_blocks({"a": nn.Sequential(nn.Conv2d(3, 4, 3))}, (1, 3, 8, 8), replace(QUICK, dtype="float16"))


def test_alpha_zero_is_refused():
    with pytest.raises(ValueError, match="give an α above 0"):
        Study("resnet20_cifar").blocks(0.0, QUICK)


def test_blocks_command_writes_every_column():
    result = CliRunner().invoke(app, ["blocks", "resnet20_cifar", "--alpha", "0.25", "--threads", "1", "--rounds",
                                      "1", "--passes", "2", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == BLOCK_COLUMNS and rows[-1]["block"] == "total"
    table = CliRunner().invoke(app, ["blocks", "resnet20_cifar", "--threads", "1", "--rounds", "1", "--passes", "1"])
    assert table.exit_code == 0 and "excess ms = oct ms − vanilla ms × MACs ÷" in table.output
    refused = CliRunner().invoke(app, ["blocks", "resnet20_cifar", "--backend", "onnxruntime"])
    assert refused.exit_code == 2 and "module by module" in refused.output
