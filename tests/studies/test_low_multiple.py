"""--low-multiple on real models: every octave layer's split is a multiple of N, params stay vanilla's, the
counters agree on the rounded split, the outputs name it, the default is the paper's split, and bad values end
in one line."""

import json

import pytest
from typer.testing import CliRunner

from octprofile.cli import app
from octprofile.nn import OctDesign
from octprofile.nn.octconv import OctConvNd
from octprofile.study import Study, StudyOptions

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def splits(model) -> list:
    return [s for m in model.modules() if isinstance(m, OctConvNd) for s in (m.in_split, m.out_split)]


@pytest.mark.parametrize("multiple", [8, 16])
def test_mobilenet_v2_splits_are_multiples_params_equal_and_counts_agree(multiple):
    study = Study("mobilenet_v2", StudyOptions(design=OctDesign(low_multiple=multiple)))
    found = splits(study.build(0.375, device="meta"))
    assert found and all(s.low % multiple == 0 and s.high > 0 for s in found)
    result = study.check(0.375, fvcore=False, cross_checks=False)  # analytic = FlopCounterMode ÷ 2, params equal
    assert result.ok, result.failures
    assert result.params_oct == result.params_vanilla and result.design == f"low-multiple-{multiple}"


def test_resnet20_counts_agree_with_fvcore_on_a_real_model():
    study = Study("resnet20_cifar", StudyOptions(design=OctDesign(low_multiple=8)))
    assert {s.low for s in splits(study.build(0.375, device="meta"))} == {0, 8, 16}  # floor: 0, 6, 12
    result = study.check(0.375, fvcore=True, cross_checks=False)
    assert result.ok, result.failures
    assert result.macs == result.flops_torch // 2 == result.macs_fvcore


def test_compare_rows_and_footer_name_the_rounding():
    result = invoke("compare", "resnet20_cifar", "--alpha", "0.375", "--low-multiple", "8", "--no-time",
                    "--no-fvcore", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["design"] for r in rows] == [None, "low-multiple-8"]
    assert rows[1]["params_equal"] and rows[1]["counts_agree"]
    table = invoke("compare", "resnet20_cifar", "--alpha", "0.375", "--low-multiple", "8", "--no-time", "--no-fvcore")
    text = " ".join(table.stdout.split())  # the console wraps title and footer
    assert "α=0.375, low-multiple-8" in text
    assert "rounded to the nearest multiple of 8" in text and "not floor(α·c)" in text


def test_layers_and_check_name_the_rounding():
    layers = invoke("layers", "resnet20_cifar", "--alpha", "0.375", "--low-multiple", "8")
    assert layers.exit_code == 0, layers.output
    text = " ".join(layers.stdout.split())
    assert "α=0.375, low-multiple-8" in text and "not floor(α·c)" in text
    rows = json.loads(invoke("layers", "resnet20_cifar", "--alpha", "0.375", "--low-multiple", "8", "-f", "json")
                      .stdout)
    assert rows[1]["output_shape"] == "8×32×32 + 8×16×16"  # 16 channels at α .375: 8 low (floor: 6)
    check = invoke("check", "resnet20_cifar", "--alpha", "0.375", "--low-multiple", "8", "--no-fvcore",
                   "--no-cross-checks", "--format", "json")
    assert check.exit_code == 0, check.output
    assert [(r["design"], r["passed"]) for r in json.loads(check.stdout)] == [("low-multiple-8", True)]


def test_the_default_is_the_papers_split():
    args = ("compare", "resnet20_cifar", "--alpha", "0.375", "--no-time", "--no-fvcore", "--format", "json")
    default, one = invoke(*args), invoke(*args, "--low-multiple", "1")
    assert default.exit_code == 0 and default.stdout == one.stdout
    assert json.loads(default.stdout)[1]["design"] == "full"
    assert {s.low for s in splits(Study("resnet20_cifar").build(0.375, device="meta"))} == {0, 6, 12}  # floor(α·c)
    assert 36 in {s.low for s in splits(Study("mobilenet_v2").build(0.375, device="meta"))}  # of 96: no multiple of 8


@pytest.mark.parametrize(("value", "says"), [("0", "positive integer, got 0"), ("-8", "positive integer, got -8"),
                                             ("2.5", "'2.5' is not an integer"), ("eight", "'eight' is not an integer"),
                                             ("99999999", "above the largest")])
@pytest.mark.parametrize("command", ["compare", "sweep", "layers", "check"])
def test_bad_values_are_one_line_errors(command, value, says):
    result = invoke(command, "resnet20_cifar", "--low-multiple", value, "--no-fvcore" * (command != "layers") or
                    "--wide")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line]
    assert len(lines) == 1 and "--low-multiple" in lines[0] and says in lines[0], result.output


def test_a_count_lists_the_low_channel_counts_of_the_split_built():
    floor = Study("resnet20_cifar").compare(0.375, fvcore=False)
    # floor(.375 × 16), floor(.375 × 32); the last stage (64 channels) outputs vanilla maps, as in the reference
    assert floor.low_channels == {"oct": (6, 12)}
    rounded = Study("resnet20_cifar", StudyOptions(design=OctDesign(low_multiple=8))).compare(0.375, fvcore=False)
    assert rounded.low_channels == {"oct": (8, 16)}  # 6 → 8, 12 → 16 (1.5 steps: the even multiple)


def test_the_vector_block_hint_names_the_counts_off_the_block_and_the_option():
    from octprofile.report.cells import vector_block_note
    from octprofile.runtime.context import vector_floats

    assert vector_floats("AVX512") == 16 and vector_floats("AVX2") == 8 and vector_floats("") is None
    (line,) = vector_block_note(16, "AVX512", {"oct α=0.375": (32, 36, 54, 64, 72, 216), "oct α=0.5": (48, 64)})
    assert line == ("low channel counts off AVX512's float32 vector of 16, the block CPU kernels work on "
                    "(oct α=0.375: 36, 54, 72, 216): --low-multiple 16 rounds them (README: Channel splits)")
    assert vector_block_note(8, "AVX2", {"oct α=0.5": (8, 16)}) == []  # every count on the block
    assert vector_block_note(None, "", {"oct α=0.5": (3,)}) == []  # a GPU, or an ISA of unknown width
