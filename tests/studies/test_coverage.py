"""The coverage report: which layers α touches, checked against the built Oct model and PyTorch's own per-module
FLOP counts; why the others stay vanilla; the command in every format."""

import csv
import importlib.util
import io
import json
from pathlib import Path

import pytest
from conftest import meta_model
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

from octprofile.cli import app
from octprofile.errors import BadValueError
from octprofile.nn import OctConv2d
from octprofile.nn.meta import run_on_meta
from octprofile.results import COVERAGE_COLUMNS
from octprofile.study import Study, StudyOptions

runner = CliRunner()
README = Path(__file__).resolve().parents[2] / "README.md"

# a layer that indexes the map otherwise than by a range of channels, in words
SLICES = "indexing the map as x[:, ::2] has no octave version; only a range of its channels (x[:, a:b]) has"


def vanilla_macs_by_layer(name: str) -> dict[str, int]:
    """PyTorch's FlopCounterMode, per module (FLOPs = 2 x MACs), of the vanilla model at 224²."""
    model = meta_model(name)
    with FlopCounterMode(display=False) as counter:
        run_on_meta(model, (1, 3, 224, 224))
    layers = {n for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)}
    prefix = type(model).__name__ + "."
    return {key.removeprefix(prefix): sum(flops.values()) // 2 for key, flops in counter.get_flop_counts().items()
            if key.removeprefix(prefix) in layers}


@pytest.mark.parametrize("placement", ["reference", "everywhere"])
def test_resnet50_coverage_matches_the_oct_model_and_torchs_counts(placement):
    result = Study("resnet50", StudyOptions(placement=placement)).coverage(0.5)
    octave = {n: m for n, m in meta_model("resnet50", 0.5, placement=placement).named_modules()
              if isinstance(m, OctConv2d) and (m.alpha_in, m.alpha_out) != (0, 0)}  # (0, 0): a pooled stride
    macs = vanilla_macs_by_layer("resnet50")
    assert {row.layer for row in result.rows} == set(macs) and len(result.rows) == len(macs)
    assert {row.layer for row in result.converted} == set(octave)
    for row in result.rows:
        assert row.macs_vanilla == macs[row.layer]
        assert row.share_of_vanilla_macs == pytest.approx(macs[row.layer] / sum(macs.values()))
        if row.converted:
            assert (row.alpha_in, row.alpha_out) == (octave[row.layer].alpha_in, octave[row.layer].alpha_out)
            assert row.reason == row.vanilla_reason == ""
        else:
            assert row.alpha_in is None and row.reason
    assert result.converted_share == pytest.approx(sum(macs[n] for n in octave) / sum(macs.values()))
    reasons = {row.layer: row.vanilla_reason for row in result.rows}
    assert reasons["conv1"] == "stem" and reasons["fc"] == "classifier"
    if placement == "reference":
        assert reasons["layer4.0.conv2"] == reasons["layer4.2.conv3"] == "last stage"
        assert (octave["layer4.0.conv1"].alpha_in, octave["layer4.0.conv1"].alpha_out) == (0.5, 0.0)
    else:
        assert set(reasons.values()) == {"", "stem", "classifier"}
    by_reason = result.vanilla_by_reason()
    assert sum(layers for layers, _, _ in by_reason.values()) == len(result.rows) - len(result.converted)
    assert sum(share for _, share, _ in by_reason.values()) == pytest.approx(1 - result.converted_share)


def test_mobilenet_v2_coverage_says_stem_and_below_one_sixteenth():
    rows = {row.layer: row for row in Study("mobilenet_v2").coverage(0.25).rows}
    assert rows["features.0.0"].vanilla_reason == rows["features.1.conv.0.0"].vanilla_reason == "stem"
    assert rows["features.1.conv.0.0"].kind == "depthwise"
    assert rows["features.2.conv.1.0"].converted and rows["features.2.conv.1.0"].kind == "depthwise"
    assert rows["features.17.conv.0.0"].vanilla_reason == rows["features.18.0"].vanilla_reason == "below 1/16"


def test_grouped_convs_are_named_so():
    rows = Study("resnext50_32x4d").coverage(0.5).rows
    assert {row.kind for row in rows if row.layer.endswith("conv2")} == {"grouped"}


def test_coverage_needs_an_alpha_above_zero():
    with pytest.raises(BadValueError, match="α above 0"):
        Study("resnet20_cifar").coverage(0.0)


def test_coverage_command_in_every_format(tmp_path):
    result = runner.invoke(app, ["coverage", "resnet20_cifar", "--alpha", "0.25"])
    assert result.exit_code == 0, result.output
    assert "touches" in result.output and "vanilla, stem: 1 layer" in result.output
    rows = list(csv.DictReader(io.StringIO(runner.invoke(app, ["coverage", "resnet20_cifar", "--format",
                                                               "csv"]).stdout)))
    assert list(rows[0]) == list(COVERAGE_COLUMNS)
    assert rows[0]["layer"] == "conv1" and rows[0]["converted"] == "false"
    records = json.loads(runner.invoke(app, ["coverage", "resnet20_cifar", "--format", "json"]).stdout)
    assert sum(r["share_of_vanilla_macs"] for r in records) == pytest.approx(1)
    for suffix in ("md", "tex"):
        target = tmp_path / f"coverage.{suffix}"
        assert runner.invoke(app, ["coverage", "resnet20_cifar", "--output", str(target)]).exit_code == 0
        assert "conv1" in target.read_text()
    refused = runner.invoke(app, ["coverage", "resnet20_cifar", "--alpha", "0"])
    assert refused.exit_code == 2 and refused.output.count("\n") == 1


def test_readme_documents_the_coverage_columns():
    text = " ".join(README.read_text().split())
    assert f"`coverage` writes `{', '.join(COVERAGE_COLUMNS)}`" in text
    reasons = text[text.index("`coverage` writes"):text.index("## Using `check` in CI")]
    for kind in ("stem", "last stage", "below 1/16", "after", "depthwise", "between", "pooled map", "unsupported",
                 "classifier"):
        assert f"`{kind}`" in reasons, kind


def test_zoo_refusals_group_by_the_failing_layer_class_and_cause():
    from octprofile.studies.coverage import reason_kind

    ghost = ("an octave chain needs a stem conv and two more dense convs after it; found {} conv(s), and the layers "
             "that cannot take the (high, low) pair leave no such run; the octave region was cut at "
             "'blocks.{}.0.ghost2' (timm GhostModule): " + SLICES)
    assert reason_kind(ghost.format(80, 0)) == reason_kind(ghost.format(122, 3)) == \
        "timm GhostModule: " + SLICES
    assert reason_kind("timm:mixnet_s has no octave version: its MixedConv2d splits the channels") == \
        "its MixedConv2d splits the channels"
    assert reason_kind("timm:mixnet_m has no octave version: layer 'blocks.1.0.conv_pw' (timm MixedConv2d): its "
                       "MixedConv2d splits the channels") == "timm MixedConv2d: its MixedConv2d splits the channels"


@pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="optional timm not installed")
def test_coverage_source_timm_surveys_one_row_per_model_and_one_per_module():
    result = runner.invoke(app, ["coverage", "--source", "timm", "--modules", "hardcorenas", "--per-module", "1",
                                 "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output[result.output.index("module,"):])))
    assert [(r["module"], r["model"], r["converts"], r["params_equal"], r["counts_exact"]) for r in rows] == [
        ("hardcorenas", "hardcorenas_a", "true", "true", "true")]
    assert 0 < float(rows[0]["share_reached"]) < 1


def test_zoo_table_footer_and_markdown_group_the_refusals():
    from octprofile.studies.coverage import ZooCoverageResult, ZooModelRow, zoo_footer, zoo_markdown, zoo_table

    refusal = "the octave region was cut at 'blocks.{}' (timm GhostModule): " + SLICES
    rows = [ZooModelRow("ghostnet", f"ghost_{i}", False, None, None, None, None, 64, refusal.format(i))
            for i in range(2)] + [ZooModelRow("resnet", "resnet18", True, True, True, 0.5, 0.8, 64, "")]
    result = ZooCoverageResult("timm", "1.0", 0.5, 64, 3, rows, {"ghostnet": 10, "resnet": 81})
    assert [(m.module, m.surveyed, m.converts) for m in result.modules()] == [("ghostnet", 2, 0), ("resnet", 1, 1)]
    assert f"2 × timm GhostModule: {SLICES} (ghostnet)" in zoo_footer(result)
    markdown = zoo_markdown(result)
    assert f"| ghostnet | 10 | 2 | 0 | 2 | – | timm GhostModule: {SLICES} (2) |" in markdown
    assert "at most 3 models per module" in markdown
    assert zoo_table(result, "t").row_count == 3


@pytest.mark.parametrize("args", [["coverage"], ["coverage", "resnet18", "--source", "timm"],
                                  ["coverage", "--source", "torchvision"]])
def test_coverage_takes_one_model_or_one_source(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
