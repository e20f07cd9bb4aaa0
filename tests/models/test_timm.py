"""timm models (the optional extra): resolution and its errors, the ResNet family's conversion checked by three
independent counters, squeeze-excitation on an octave pair and Conv2dSame against independent computations."""

import importlib.util
import math
import sys

import pytest
import torch
import torch.nn.functional as F
from conftest import materialised, meta_model
from torch import nn
from typer.testing import CliRunner

from octprofile.analysis.counting import count_model
from octprofile.analysis.crosscheck import fvcore_count, torch_flops
from octprofile.build import build_model
from octprofile.cli import app
from octprofile.convert import convert, not_converted, vanilla_reasons_of
from octprofile.convert.fidelity import equivalent_padding
from octprofile.errors import ConversionError, MissingEngineError, UnknownModelError
from octprofile.models import resolve
from octprofile.nn import OctConv2d, OctDesign, OctPair, OctPairError, pool2x
from octprofile.study import Study, StudyOptions

needs_timm = pytest.mark.skipif(importlib.util.find_spec("timm") is None,
                                reason="optional timm not installed: pip install 'octprofile[timm]'")
ALPHAS = (0.125, 0.25, 0.5, 0.75)
runner = CliRunner()


def test_missing_timm_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # what `import timm` meets when it is not installed
    with pytest.raises(MissingEngineError, match=r"pip install 'octprofile\[timm\]'"):
        resolve("timm:resnet50d")
    for args in (("compare", "timm:resnet50d", "--no-time", "--no-fvcore"), ("models", "--source", "timm")):
        result = runner.invoke(app, list(args))
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1 and "octprofile[timm]" in result.output


@needs_timm
def test_unknown_timm_name_suggests_close_ones():
    with pytest.raises(UnknownModelError, match="timm:resnet50d"):
        resolve("timm:resnet50dd")
    result = runner.invoke(app, ["compare", "timm:resnet50dd", "--no-time", "--no-fvcore"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "unknown timm model" in result.output


@needs_timm
@pytest.mark.parametrize("alpha", [0.0, *ALPHAS])
@pytest.mark.parametrize("name", ["timm:resnet18d", "timm:seresnext26d_32x4d", "timm:resnetaa34d"])
def test_counters_agree_and_params_equal_at_every_alpha(name, alpha):
    """Deep stems, average-pool shortcuts, SE gates, grouped convs and anti-aliasing pools: analytic = fvcore =
    FlopCounterMode / 2 and the Oct params equal vanilla's (small inputs keep fvcore quick)."""
    shape = (1, 3, 64, 64)
    model = materialised(name, alpha)
    count = count_model(model, shape)
    assert count.macs == fvcore_count(model, shape).macs == torch_flops(model, shape) / 2
    assert count.params == sum(p.numel() for p in meta_model(name).parameters())
    assert not_converted(model) == {}


@needs_timm
def test_models_source_timm_lists_only_what_converts():
    result = runner.invoke(app, ["models", "--source", "timm", "--format", "csv"])
    assert result.exit_code == 0, result.output
    names = [line.split(",")[0] for line in result.stdout.splitlines()[1:]]
    assert {"timm:resnet50d", "timm:seresnet50", "timm:resnext50_32x4d", "timm:wide_resnet50_2"} <= set(names)
    assert {"timm:ecaresnet50d", "timm:resnet50_gn", "timm:efficientnet_b0", "timm:mobilenetv3_large_100"} <= set(names)
    assert "timm:resnetblur50" not in names
    # a listed model converts (a sample, to keep the suite quick: families share a few block kinds)
    for name in names[::24]:
        model = build_model(name, 0.5, device="meta", input_size=64)
        assert any(isinstance(m, OctConv2d) for m in model.modules()), name


@needs_timm
def test_family_members_without_an_octave_version_say_why():
    build_model("timm:resnetblur50", 0.0, device="meta")  # the vanilla model still builds
    with pytest.raises(ConversionError, match=r"layer 'maxpool.1' \(timm BlurPool2d\): its blur pooling"):
        build_model("timm:resnetblur50", 0.5, device="meta")
    with pytest.raises(ConversionError, match=r"layer 'blocks.1.0.conv_pw' \(timm MixedConv2d\): its MixedConv2d"):
        build_model("timm:mixnet_s", 0.5, device="meta")
    # named for EvoNorm, built with BatchNormAct2d: not refused
    assert isinstance(build_model("timm:efficientnet_b0_g16_evos", 0.5, device="meta").blocks[1][0].conv_pw,
                      OctConv2d)


@needs_timm
@pytest.mark.parametrize("name", ["timm:ecaresnet26t", "timm:resnet50_gn"])
def test_eca_and_group_norm_members_convert_with_their_gates_dense(name):
    """ECA's 1-d conv across the pooled channels reads no spatial map: kept dense, as an SE gate; group norms keep
    each group in one branch (the split is rounded to whole groups)."""
    model = meta_model(name, 0.5, input_size=64)
    gates = [n for n, m in model.named_modules() if n.endswith("se.conv")]
    assert all(type(model.get_submodule(n)) is nn.Conv1d for n in gates)
    assert isinstance(model.layer1[0].conv1, OctConv2d) and not_converted(model) == {}
    count = count_model(model, (1, 3, 64, 64))
    assert 2 * count.macs == torch_flops(model, (1, 3, 64, 64))
    assert count.params == sum(p.numel() for p in meta_model(name).parameters())


@needs_timm
def test_se_gate_on_an_octave_pair_matches_an_independent_computation():
    """The reference SE block on (high, low): both branches pooled to one vector, the two FCs dense over it, the
    gate's first channels scale the high map and the rest the low map."""
    from timm.layers import SEModule

    torch.manual_seed(0)
    se = SEModule(32, rd_ratio=1 / 4).eval()
    high, low = torch.randn(2, 24, 8, 8), torch.randn(2, 8, 4, 4)
    with torch.no_grad():
        out = se(OctPair(high, low))
        pooled = torch.cat([high.flatten(2).mean(-1), low.flatten(2).mean(-1)], dim=1)
        hidden = torch.relu(pooled @ se.fc1.weight.flatten(1).T + se.fc1.bias)
        gate = torch.sigmoid(hidden @ se.fc2.weight.flatten(1).T + se.fc2.bias)
    torch.testing.assert_close(out.high, high * gate[:, :24, None, None])
    torch.testing.assert_close(out.low, low * gate[:, 24:, None, None])


@needs_timm
def test_se_resnet_keeps_its_gates_dense_and_runs():
    model = build_model("timm:seresnet18", 0.5, seed=0, input_size=64).eval()
    gates = {name: module for name, module in model.named_modules() if ".se.fc" in name}
    assert gates and all(type(module) is nn.Conv2d for module in gates.values())
    assert isinstance(model.layer1[0].conv1, OctConv2d)
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(1, 3, 64, 64))).all()
    rows = Study("timm:seresnet18", StudyOptions(input_size=64)).coverage(0.5).rows
    assert {row.vanilla_reason for row in rows if ".se.fc" in row.layer} == {"pooled map"}


def tf_same(x, conv):
    """TensorFlow's 'same': pad (out - 1) * stride + extent - size, the odd pixel after."""
    pads = []
    for size, k, s, d in zip(x.shape[-2:], conv.kernel_size, conv.stride, conv.dilation):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    return F.conv2d(F.pad(x, (left, right, top, bottom)), conv.weight, conv.bias, conv.stride, 0, conv.dilation,
                    conv.groups)


@needs_timm
@pytest.mark.parametrize("kernel, dilation, size", [(3, 1, 8), (3, 1, 7), (5, 2, 9), (5, 1, 10)])
def test_conv2d_same_converts_with_its_padding(kernel, dilation, size):
    from timm.layers import Conv2dSame

    torch.manual_seed(0)
    x = torch.randn(2, 8, size, size)
    for stride in (1, 2):
        conv = Conv2dSame(8, 12, kernel, stride=stride, dilation=dilation, bias=True).eval()
        with torch.no_grad():
            torch.testing.assert_close(conv(x), tf_same(x, conv))  # the vanilla layer is TF 'same'
            # entering the octave at stride 1, the high output is the vanilla layer's high channels
            octave = OctConv2d.from_conv(conv, 0.0, 0.5, padding=equivalent_padding(conv))
            pooled = pool2x(x) if stride == 2 else x  # an octave conv pools before a stride-1 conv
            stride_one = Conv2dSame(8, 12, kernel, dilation=dilation, bias=True)
            stride_one.load_state_dict(conv.state_dict())
            out = octave(x)
            torch.testing.assert_close(out.high, tf_same(pooled, stride_one)[:, :6])
            torch.testing.assert_close(out.low, tf_same(pool2x(pooled), stride_one)[:, 6:])


class SameNet(nn.Module):
    def __init__(self, conv):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.body = nn.Sequential(conv(16, 16, 3, stride=1), nn.ReLU(), conv(16, 32, 3, stride=2), nn.ReLU(),
                                  conv(32, 32, 3, stride=1), nn.ReLU())
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc(self.body(self.stem(x)).mean((2, 3)))


@needs_timm
def test_a_chain_of_conv2d_same_converts_and_refuses_strided_downsampling():
    from timm.layers import Conv2dSame

    model = convert(SameNet(Conv2dSame), 0.5, "chain", (1, 3, 32, 32))
    assert [type(m).__name__ for m in model.body if not isinstance(m, nn.ReLU)] == ["OctConv2d"] * 3
    assert not_converted(model) == {}
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    with pytest.raises(ConversionError, match="body.2.*'same' padding at stride 2"):
        convert(SameNet(Conv2dSame), 0.5, "chain", (1, 3, 32, 32), design=OctDesign(downsample="strided"))


@needs_timm
def test_conv2d_same_with_an_even_kernel_stays_vanilla_with_its_reason():
    from timm.layers import Conv2dSame

    model = SameNet(lambda cin, cout, kernel, stride: nn.Conv2d(cin, cout, kernel, stride, padding=1))
    model.body.append(Conv2dSame(32, 32, 2))  # past the exit of the octave chain
    converted = convert(model, 0.5, "chain", (1, 3, 32, 32))
    assert not_converted(converted) == {"body.6": "Conv2dSame with an even kernel pads one side more at every stride"}


def test_padding_same_string_converts_like_its_numbers():
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 8, 5, padding="same", dilation=2)
    plain = nn.Conv2d(8, 8, 5, padding=4, dilation=2)
    plain.load_state_dict(conv.state_dict())
    pair = OctPair(torch.randn(1, 4, 12, 12), torch.randn(1, 4, 6, 6))
    with torch.no_grad():
        same = OctConv2d.from_conv(conv, 0.5, 0.5, padding=equivalent_padding(conv))(pair)
        numbers = OctConv2d.from_conv(plain, 0.5, 0.5)(pair)
    torch.testing.assert_close(same.high, numbers.high, rtol=0, atol=0)
    torch.testing.assert_close(same.low, numbers.low, rtol=0, atol=0)


def test_a_pair_is_scaled_only_per_channel_or_by_a_number():
    pair = OctPair(torch.ones(1, 3, 4, 4), torch.ones(1, 1, 2, 2))
    scaled = 2 * pair * torch.arange(4.0).view(1, 4, 1, 1)
    assert scaled.high[0, :, 0, 0].tolist() == [0.0, 2.0, 4.0] and scaled.low[0, :, 0, 0].tolist() == [6.0]
    assert torch.mean(pair, (2, 3)).shape == (1, 4)
    with pytest.raises(OctPairError, match="per-channel"):
        pair * torch.ones(1, 4, 4, 4)  # a full-resolution map would mix the two grids
    with pytest.raises(OctPairError, match="global spatial mean"):
        pair.mean(1)


@needs_timm
@pytest.mark.parametrize("name", ["timm:mobilenetv3_small_050", "timm:tinynet_e", "timm:lcnet_035",
                                  "timm:efficientnet_cc_b0_4e"])
def test_inverted_residual_families_convert_with_exact_counts(name):
    """One small member per kind of timm mobile block: MobileNet v3 (hard-swish, SE), EfficientNet (BatchNormAct2d,
    SE), LCNet (depthwise-separable blocks only: the chain rule) and CondConv (its routed convs stay vanilla and
    are counted by their own rule); counts are exact at any size, so 64 px, on the meta device (fvcore, which needs
    real weights, on the first)."""
    shape = (1, 3, 64, 64)
    model = meta_model(name, 0.5, input_size=64)
    count = count_model(model, shape)
    assert 2 * count.macs == torch_flops(model, shape)
    assert count.params == sum(p.numel() for p in meta_model(name).parameters())
    assert any(isinstance(m, OctConv2d) and m.alpha_out > 0 for m in model.modules())
    if name == "timm:mobilenetv3_small_050":
        assert fvcore_count(materialised(name, 0.5), shape).macs == count.macs


@needs_timm
def test_an_efficientnet_block_enters_and_leaves_by_the_inverted_residual_rule():
    model = meta_model("timm:efficientnet_b0", 0.5)
    block = model.blocks[1][0]  # expand 1x1, depthwise 3x3 stride 2, SE, project 1x1
    assert (block.conv_pw.alpha_in, block.conv_pw.alpha_out) == (0.0, 0.5)
    assert (block.conv_dw.alpha_in, block.conv_dw.alpha_out) == (0.5, 0.5) and block.conv_dw.depthwise
    assert (block.conv_pwl.alpha_in, block.conv_pwl.alpha_out) == (0.5, 0.0)
    assert type(block.se.conv_reduce) is nn.Conv2d and type(model.conv_stem).__name__ != "OctConv2d"
    assert type(block.bn1).__name__ == "OctNormAct"


@needs_timm
def test_a_layer_that_cannot_take_the_pair_is_named_with_its_timm_class():
    """ConvNeXt's LayerNorm2d (a LayerNorm over all the channels of a pixel, channels last) cuts the octave region;
    each cut names the layer by path and timm class, in the user's terms."""
    model = meta_model("timm:convnext_atto", 0.5, input_size=64)
    cuts = {reason.text for reason in vanilla_reasons_of(model).values() if reason.kind == "cut"}
    assert cuts and all("(timm LayerNorm2d): it uses the map as one tensor (its .permute)" in text for text in cuts)
    assert not any("OctPair" in text or "attribute" in text for text in cuts)


@needs_timm
def test_nf_resnet_converts_its_weight_standardised_convs():
    """NF-ResNet's ScaledStdConv2d become OctStdConv2d (the weight standardised across the paths, see
    tests/nn/test_timm_layers.py), keeping their gains: params equal, analytic = FlopCounterMode ÷ 2."""
    from octprofile.nn import OctStdConv2d

    shape = (1, 3, 64, 64)
    model = meta_model("timm:nf_resnet26", 0.5, input_size=64)
    assert isinstance(model.stages[0][0].conv2, OctStdConv2d) and model.stages[0][0].conv2.gain is not None
    count = count_model(model, shape)
    assert 2 * count.macs == torch_flops(model, shape)
    assert count.params == sum(p.numel() for p in meta_model("timm:nf_resnet26").parameters())
    assert not_converted(model) == {}
