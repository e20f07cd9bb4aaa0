"""Other counters beside the analytic count: ptflops, thop and torchinfo run on Oct models, each difference from the
analytic count is explained by op kind (residual 0), torchvision's published figures match, and a missing optional
package is one line naming the extra."""

import csv
import importlib
import io
import json

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from octprofile import build_model, resolve
from octprofile.analysis import counters
from octprofile.analysis.census import OpCensus
from octprofile.analysis.counting import count_model
from octprofile.cli import app
from octprofile.errors import MissingEngineError
from octprofile.models import model_specs
from octprofile.results import COUNTER_COLUMNS
from octprofile.study import Study, StudyOptions


def needs(package: str):
    return pytest.importorskip(package, reason=f"optional {package} not installed: pip install 'octprofile[counters]'")


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def tiny_net() -> nn.Module:
    """Small enough to count by hand: conv with bias, affine BN, ReLU, max pool, global pool, linear with bias."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=True), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))


# By hand, at 1×3×8×8: conv 4·8·8 outputs × 3·3·3 = 6,912 MACs, 256 outputs (bias, BN, ReLU, max pool input);
# max pool → 4·4·4 = 64 (global pool input) → 4 outputs; linear 4 × 2 = 8 MACs, 2 outputs; 8 BN params.
TINY_SHAPE = (1, 3, 8, 8)
TINY_MACS = 6_912 + 8
TINY_TERMS = {
    "ptflops": {"bias": 256 + 2, "bn": 2 * 256, "activation": 256, "pool": 256 + 64},
    "thop": {"bn": 4 * 256, "pool": (16 + 1) * 4},  # window 4·4 = 16, + 1 per output
    "fvcore": {"bn": 2 * 256, "pool": 64},
    "torchinfo": {"bias": 256 + 2, "bn": 1 * 8},
}


def census_of(model: nn.Module, shape):
    census = OpCensus()
    with census.watch(model):
        count = count_model(model, shape, observers=(census,))
    return count, census.calls


@pytest.mark.parametrize("tool", ["ptflops", "thop", "fvcore", "torchinfo"])
def test_each_rule_gives_the_hand_count_of_a_tiny_net(tool):
    count, calls = census_of(tiny_net(), TINY_SHAPE)
    assert count.macs == TINY_MACS
    assert counters.RULES[tool].terms(calls) == TINY_TERMS[tool]


@pytest.mark.parametrize("tool, run", [("ptflops", counters.run_ptflops), ("thop", counters.run_thop)])
def test_each_tool_gives_the_hand_count_of_a_tiny_net(tool, run):
    needs(tool)
    macs, params = run(tiny_net(), TINY_SHAPE)
    assert macs == TINY_MACS + sum(TINY_TERMS[tool].values())
    assert params == sum(p.numel() for p in tiny_net().parameters())


def test_torchinfo_gives_the_hand_count_of_a_tiny_net():
    needs("torchinfo")
    mult_adds, params = counters.run_torchinfo(tiny_net(), TINY_SHAPE)
    assert mult_adds == TINY_MACS + sum(TINY_TERMS["torchinfo"].values())
    assert params == 4 * 3 * 9 + 4 + 8 + 4 * 2 + 2


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_ptflops_thop_and_torchinfo_run_on_an_oct_model(device):
    for package in counters.OPTIONAL_TOOLS:
        needs(package)
    model = build_model("resnet20_cifar", 0.5, device=device)
    params = sum(p.numel() for p in model.parameters())
    shape = (1, 3, 32, 32)
    analytic = count_model(model, shape).macs
    ptflops_macs, ptflops_params = counters.run_ptflops(model, shape)
    thop_macs, thop_params = counters.run_thop(model, shape)
    torchinfo_macs, torchinfo_params = counters.run_torchinfo(model, shape)
    assert ptflops_params == thop_params == torchinfo_params == params
    assert ptflops_macs > analytic and thop_macs > analytic  # they add BN (and ptflops ReLU) to the path convs
    assert torchinfo_macs is None  # its hooks cannot take an octave pair: params only, said in the row's note
    untouched = build_model("resnet20_cifar", 0.5, device="meta")
    assert dict(model.named_buffers()).keys() == dict(untouched.named_buffers()).keys()  # no tool left buffers
    assert vars(model).keys() == vars(untouched).keys()  # nor attributes


@pytest.mark.parametrize("model, alphas", [("resnet18", (0.25, 0.5)), ("resnet20_cifar", (0.125, 0.5)),
                                           ("mobilenet_v2", (0.25, 0.5))])
def test_every_counter_is_reconciled_with_the_analytic_count(model, alphas):
    for package in counters.OPTIONAL_TOOLS:
        needs(package)
    study = Study(model)
    for alpha in alphas:
        result = study.counters(alpha, fvcore=model == "resnet20_cifar")
        assert result.unreconciled() == []
        for variant in ("vanilla", "oct"):
            analytic = result.row("analytic", variant)
            for tool in ("ptflops", "thop"):
                row = result.row(tool, variant)
                assert row.value is not None and row.residual == 0 and row.difference > 0
                assert result.row(tool, variant, "params").difference == 0
            flops = result.row("FlopCounterMode", variant)
            assert flops.value == 2 * analytic.value and flops.as_flops == analytic.value
        # OctConv2d's own pooling and upsampling are functional calls inside it: module-hook tools count them as zero
        assert "avg pool in OctConv2d" in result.row("thop", "oct").missed
        assert "upsample in OctConv2d" in result.row("ptflops", "oct").missed
        assert "OctConv2d" not in result.row("thop", "vanilla").missed


def test_fvcore_total_is_reconciled_by_its_own_operator_totals():
    from octprofile.analysis.crosscheck import fvcore_count

    result = Study("resnet20_cifar").counters(0.5, tools=())
    fv = fvcore_count(build_model("resnet20_cifar", 0.5), (1, 3, 32, 32))
    row = result.row("fvcore", "oct")
    assert row.value == fv.total and row.residual == 0
    assert row.bn == fv.by_operator["batch_norm"] and row.upsample == fv.by_operator["upsample_nearest2d"]
    assert row.pool == fv.by_operator["adaptive_avg_pool2d"]


@pytest.mark.parametrize("spec", [s for s in model_specs() if s.source == "torchvision"
                                  and counters.torchvision_published(s.name)], ids=lambda s: s.name)
def test_torchvision_publishes_our_params_exactly_and_our_macs_within_its_rounding(spec):
    import torchvision

    meta = torchvision.models.get_model_weights(spec.name).DEFAULT.meta
    vanilla = spec.builder()
    params = sum(p.numel() for p in vanilla.parameters())
    assert meta["num_params"] == params
    macs = count_model(vanilla, resolve(spec.name).input_shape()).macs  # video: 16x112x112; segmentation: 520
    assert abs(macs - meta["_ops"] * 1e9) <= counters.TORCHVISION_OPS_TOLERANCE  # ±0.0005 G: 3 decimals


def test_torchvision_figures_apply_only_to_the_vanilla_model_they_describe():
    assert Study("resnet18").counters(0.5, fvcore=False, tools=("torchvision",)).row("torchvision", "vanilla")
    for study in (Study("resnet18", StudyOptions(input_size=160)), Study("resnet20_cifar"),
                  Study("mobilenet_v2", StudyOptions(model_options={"width_mult": 0.5}))):
        result = study.counters(0.5, fvcore=False, tools=("torchvision",))
        assert not any(row.counter == "torchvision" for row in result.rows)


def test_a_missing_package_is_one_line_naming_the_extra(monkeypatch):
    real = importlib.import_module

    def without_ptflops(name, *args, **kwargs):
        if name == "ptflops":
            raise ImportError("No module named 'ptflops'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(counters.importlib, "import_module", without_ptflops)
    with pytest.raises(MissingEngineError) as raised:
        counters.optional_tool("ptflops")
    assert str(raised.value) == "ptflops is not installed: pip install 'octprofile[counters]'"

    result = invoke("counters", "resnet20_cifar", "--alpha", "0.5", "--no-fvcore")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "ImportError" not in result.output
    assert result.stderr.strip().splitlines() == [str(raised.value)]
    [ptflops] = [line for line in result.stdout.splitlines() if line.startswith("│ ptflops total")]
    assert ptflops.split("│")[2:4] == [f" {'not run':>{len(cell) - 2}} " for cell in ptflops.split("│")[2:4]]
    assert "ptflops: ptflops is not installed: pip install 'octprofile[counters]'" in result.stdout

    check = invoke("check", "resnet20_cifar", "--no-fvcore")
    assert check.exit_code == 0, check.output
    assert check.stdout.rstrip("\n").splitlines()[-1].endswith(
        "cross-checked: thop; not cross-checked: ptflops is not installed: pip install 'octprofile[counters]')")


def test_check_fails_when_a_published_figure_disagrees(monkeypatch):
    from octprofile.studies import counters as study

    real = study.torchvision_published

    def off_by_one(name):
        published = real(name)
        return published.__class__(published.weights, published.params + 1, published.gmacs, published.input_size)

    monkeypatch.setattr(study, "torchvision_published", off_by_one)
    result = invoke("check", "resnet18", "--no-fvcore", "--format", "json")
    assert result.exit_code == 1
    [row] = json.loads(result.stdout)
    assert row["failures"] == ("torchvision params vanilla: 11,689,513 ≠ analytic 11,689,512 (residual +1)")
    assert row["cross_checks"] == "torchvision,ptflops,thop"


def test_counters_command_writes_every_format():
    as_csv = list(csv.DictReader(io.StringIO(invoke("counters", "resnet20_cifar", "--no-fvcore", "--format",
                                                    "csv").stdout)))
    assert tuple(as_csv[0]) == COUNTER_COLUMNS
    assert [(r["variant"], r["counter"], r["quantity"]) for r in as_csv[:3]] == [
        ("vanilla", "analytic", "MACs"), ("vanilla", "analytic", "params"), ("vanilla", "FlopCounterMode", "MACs")]
    rows = json.loads(invoke("counters", "resnet20_cifar", "--no-fvcore", "--format", "json").stdout)
    assert all(row["reconciled"] in (True, None) for row in rows)
    markdown = invoke("counters", "resnet20_cifar", "--no-fvcore", "--format", "markdown").stdout
    assert markdown.startswith("| variant | counter | quantity | value | analytic | difference | explained |")
    latex = invoke("counters", "resnet20_cifar", "--no-fvcore", "--format", "latex").stdout
    assert "\\begin{tabular}" in latex
    refused = invoke("counters", "resnet20_cifar", "--alpha", "0")
    assert refused.exit_code == 2 and len(refused.stderr.strip().splitlines()) == 1


def test_the_census_sees_the_pair_and_who_called_each_op():
    _, calls = census_of(build_model("resnet20_cifar", 0.5, device="meta"), (1, 3, 32, 32))
    pooled = [c for c in calls if c.op == "avg_pool2d" and c.caller == "OctConv2d"]
    assert pooled and all(c.module is None for c in pooled)  # inside a module with children: no module hook sees it
    relu_on_pairs = [c for c in calls if c.op == "relu" and len(c.inputs) == 2]
    assert relu_on_pairs and all(c.module is nn.ReLU for c in relu_on_pairs)
    assert all(c.in_elements == torch.Size(c.inputs[0]).numel() + torch.Size(c.inputs[1]).numel()
               for c in relu_on_pairs)


def test_a_tool_that_fails_on_a_model_is_named_not_hidden(monkeypatch):
    from octprofile.studies import counters as study

    def breaks(model, shape):
        raise RuntimeError("cannot hook this\nsecond line")

    monkeypatch.setattr(study, "run_thop", breaks)
    result = Study("resnet20_cifar").counters(0.5, fvcore=False)
    row = result.row("thop", "oct")
    assert row.value is None and row.reconciled is None and row.note == "thop raised RuntimeError: cannot hook this"
    check = invoke("check", "resnet20_cifar", "--no-fvcore")
    assert check.exit_code == 0, check.output
    assert check.stdout.rstrip("\n").splitlines()[-1].endswith(
        "cross-checked: ptflops; not cross-checked: thop raised RuntimeError: cannot hook this)")


class StandardisedConv(nn.Conv2d):
    """A conv with its own forward (weight standardisation): a subclass the tools do not hook."""

    def forward(self, x):
        w = self.weight
        return self._conv_forward(x, (w - w.mean()) / (w.std() + 1e-5), self.bias)


def test_a_conv_subclass_the_tools_do_not_hook_is_taken_away_by_hand():
    model = nn.Sequential(StandardisedConv(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
    count, calls = census_of(model, TINY_SHAPE)
    assert count.macs == 6_912 + 256 * 2  # the analytic count includes the subclass
    for tool in ("ptflops", "thop"):
        assert counters.RULES[tool].terms(calls)["unhooked"] == -6_912
        assert "StandardisedConv" in counters.RULES[tool].missed(calls)
    needs("thop")
    macs, params = counters.run_thop(model, TINY_SHAPE)
    assert macs == 256 * 2 and params == 256 * 2 + 2  # only the linear layer
    assert counters.thop_unhooked_params(model) == 4 * 3 * 9 + 4


def test_functional_convs_of_timm_layers_are_taken_away_by_hand():
    """timm's BlurPool2d convolves with F.conv2d (a fixed filter) and an OctStdConv2d calls its path convs with the
    weight it standardised: neither is a conv the tools hook by type, so both are explained as unhooked."""
    pytest.importorskip("timm")
    from timm.layers import BlurPool2d, ScaledStdConv2d

    from octprofile.nn import octave_class

    std = octave_class(conv := ScaledStdConv2d(4, 4, 3)).from_conv(conv, 0.0, 0.5)  # 4 -> 2 + 2
    model = nn.Sequential(nn.Conv2d(3, 4, 1), BlurPool2d(4, stride=2), std)
    count, calls = census_of(model, TINY_SHAPE)
    blur = 4 * 4 * 4 * 9  # 4 channels at 4x4, a 3x3 filter each
    paths = 2 * 4 * 4 * 4 * 9 + 2 * 2 * 2 * 4 * 9  # H->H at 4x4, H->L at 2x2, each from 4 inputs
    assert count.macs == 3 * 64 * 4 + blur + paths
    for tool in ("ptflops", "thop"):
        assert counters.RULES[tool].terms(calls)["unhooked"] == -(blur + paths)
