"""OctConv1d, OctConv3d and OctConvTranspose2d against their equations written out with F.conv1d, F.conv3d and
F.conv_transpose2d (not the code under test), and the models that use them: params, counters, CLI shapes."""

import pytest
import torch
import torch.nn.functional as F
from conftest import materialised, meta_model
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from octprofile import build_model, resolve
from octprofile.analysis.counting import count_model
from octprofile.analysis.crosscheck import fvcore_count
from octprofile.cli.options import parse_input_size
from octprofile.errors import BadValueError
from octprofile.nn import OctConv1d, OctConv3d, OctConvNd, OctConvTranspose2d, OctPair
from octprofile.study import Study, StudyOptions

AUDIO = "examples/audio_net.py:audio_net"
DECODER = "examples/decoder_net.py:decoder_net"


def _pool(x):
    """2x average over the octave dims: L of a sequence, H and W of an image or a video (time kept)."""
    if x.dim() == 3:
        return (x[..., 0::2] + x[..., 1::2]) / 2
    return (x[..., 0::2, 0::2] + x[..., 1::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 1::2]) / 4


def _up(x):
    """Nearest 2x over the octave dims."""
    if x.dim() == 3:
        return x.repeat_interleave(2, -1)
    return x.repeat_interleave(2, -2).repeat_interleave(2, -1)


def _equations(f, x_h, x_l, down: bool):
    """Y_H = f(X_H; W_HH) + up(f(X_L; W_LH)), Y_L = f(X_L; W_LL) + f(pool(X_H); W_HL); ``down`` (stride 2 over
    the octave dims): the inputs pooled first, every conv at stride 1, L->H reading the un-pooled X_L."""
    if down:
        return f(_pool(x_h), "hh") + f(x_l, "lh"), f(_pool(x_l), "ll") + f(_pool(_pool(x_h)), "hl")
    return f(x_h, "hh") + _up(f(x_l, "lh")), f(x_l, "ll") + f(_pool(x_h), "hl")


def _weights(conv):
    return {name: (p.weight, p.bias) for name, p in conv.paths().items()}


@pytest.mark.parametrize("stride", [1, 2])
def test_octconv1d_is_its_equations(stride):
    torch.manual_seed(0)
    conv = OctConv1d(8, 12, 3, stride, 1, bias=True, alpha_in=0.5, alpha_out=0.25)
    x_h, x_l = torch.randn(2, 4, 16), torch.randn(2, 4, 8)
    w = _weights(conv)

    def f(x, name):
        return F.conv1d(x, *w[name], padding=1)

    y_h, y_l = _equations(f, x_h, x_l, stride == 2)
    out = conv(OctPair(x_h, x_l))
    torch.testing.assert_close(out.high, y_h)
    torch.testing.assert_close(out.low, y_l)


@pytest.mark.parametrize("stride", [(1, 1, 1), (2, 2, 2), (1, 2, 2), (2, 1, 1)])
def test_octconv3d_pools_space_only_and_strides_time_on_every_path(stride):
    """Time is never pooled: both grids keep the frames; a temporal stride is every path's conv stride."""
    torch.manual_seed(0)
    conv = OctConv3d(6, 8, 3, stride, 1, alpha_in=0.5, alpha_out=0.5)
    x_h, x_l = torch.randn(1, 3, 4, 8, 8), torch.randn(1, 3, 4, 4, 4)
    w = _weights(conv)
    t = stride[0]

    def f(x, name):
        return F.conv3d(x, *w[name], stride=(t, 1, 1), padding=1)

    y_h, y_l = _equations(f, x_h, x_l, stride[1] == 2)
    out = conv(OctPair(x_h, x_l))
    assert out.low.shape[2] == out.high.shape[2]  # same number of frames on both grids
    torch.testing.assert_close(out.high, y_h)
    torch.testing.assert_close(out.low, y_l)


@pytest.mark.parametrize("kernel, stride, padding", [(4, 2, 1), (3, 1, 1)])
def test_octconv_transpose2d_is_its_equations(kernel, stride, padding):
    """Every path is the vanilla transposed conv; H->L pools X_H first, L->H up-samples after."""
    torch.manual_seed(0)
    conv = OctConvTranspose2d(8, 6, kernel, stride, padding, bias=True, alpha_in=0.5, alpha_out=0.5)
    x_h, x_l = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 4, 4)
    w = _weights(conv)

    def f(x, name):
        return F.conv_transpose2d(x, *w[name], stride=stride, padding=padding)

    out = conv(OctPair(x_h, x_l))
    torch.testing.assert_close(out.high, f(x_h, "hh") + _up(f(x_l, "lh")))
    torch.testing.assert_close(out.low, f(x_l, "ll") + f(_pool(x_h), "hl"))


@pytest.mark.parametrize("vanilla, octave, shape", [
    (nn.Conv1d(8, 12, 5, padding=2), OctConv1d, (1, 8, 20)),
    (nn.Conv3d(8, 12, 3, padding=1), OctConv3d, (1, 8, 4, 8, 8)),
    (nn.ConvTranspose2d(8, 12, 4, 2, 1), OctConvTranspose2d, (1, 8, 8, 8)),
])
def test_entering_and_leaving_layers_partition_the_vanilla_weight(vanilla, octave, shape):
    """0 -> alpha then alpha -> 0 hold exactly the vanilla weight: at alpha = 0 on both sides the layer equals
    the vanilla one, and its params equal vanilla's at every split."""
    x = torch.randn(shape)
    same = octave.from_conv(vanilla, 0.0, 0.0)
    torch.testing.assert_close(same(x), vanilla(x))
    for alphas in ((0.0, 0.5), (0.5, 0.0), (0.5, 0.5)):
        layer = octave.from_conv(vanilla, *alphas)
        assert sum(p.numel() for p in layer.parameters()) == sum(p.numel() for p in vanilla.parameters())


def test_transposed_conv_that_does_not_multiply_the_size_exactly_is_refused():
    with pytest.raises(ValueError, match="out = stride x in"):
        OctConvTranspose2d(8, 8, 3, 2, 1, alpha_in=0.5, alpha_out=0.5)  # 2n - 1: the grids would drift


@pytest.mark.parametrize("name, size", [(AUDIO, (4000,)), (DECODER, 32), ("r3d_18", (4, 32, 32)),
                                        ("mc3_18", (2, 32, 32)), ("r2plus1d_18", (4, 32, 32)),
                                        ("fcn_resnet50", 64), ("deeplabv3_resnet50", 64)])
@pytest.mark.parametrize("alpha", [0.25, 0.5])
def test_new_models_keep_params_and_analytic_equals_flop_counter_and_fvcore(name, size, alpha):
    info = resolve(name)
    shape = info.input_shape(size)
    vanilla = sum(p.numel() for p in meta_model(name).parameters())
    model = meta_model(name, alpha)
    assert any(isinstance(m, OctConvNd) and m.out_split.low for m in model.modules())
    assert sum(p.numel() for p in model.parameters()) == vanilla
    counter = FlopCounterMode(display=False)
    count = count_model(model, shape, observers=(counter,))
    assert counter.get_total_flops() == 2 * count.macs
    assert fvcore_count(materialised(name, alpha), shape).macs == count.macs


def test_transposed_conv_counts_its_input_positions():
    """The convention fvcore and FlopCounterMode share: N x input positions x Cin x Cout/groups x kernel."""
    model = nn.Sequential(nn.ConvTranspose2d(4, 6, 4, 2, 1))
    count = count_model(model, (1, 4, 5, 5))
    assert count.macs == 5 * 5 * 4 * 6 * 16


def test_r3d_18_matches_torchvision_figure_and_the_2d_theory_ratio():
    """Vanilla r3d_18 at 16x112x112 is torchvision's published 40.697 GMACs; the Oct model's ratio is the 2-d
    closed form weighted per layer (time kept, so the low grid has 1/4 of the positions as in 2-d)."""
    result = Study("r3d_18").compare(0.5, fvcore=False)
    vanilla, octave = result.rows
    assert round(vanilla.macs / 1e9, 3) == 40.697
    assert octave.mac_ratio == pytest.approx(octave.network_theory_mac_ratio, abs=1e-3)


def test_segmentation_model_returns_its_dict_and_keeps_the_head_vanilla():
    model = build_model("fcn_resnet50", 0.5, input_size=64)
    out = model.eval()(torch.randn(1, 3, 64, 64))
    assert set(out) == {"out"} and out["out"].shape == (1, 21, 64, 64)
    assert not any(isinstance(m, OctConvNd) for m in model.classifier.modules())


@pytest.mark.parametrize("text, expected", [("224", 224), ("16,112,112", (16, 112, 112)), (" 4 , 32 ,32", (4, 32, 32))])
def test_input_size_parses_a_side_or_every_size(text, expected):
    assert parse_input_size(text) == expected


@pytest.mark.parametrize("name, size, message", [
    ("r3d_18", (4, 32), "takes T,H,W"), ("resnet18", (16, 112, 112), "takes H,W"), (AUDIO, (40, 40), "takes L"),
])
def test_a_shape_the_model_does_not_take_is_one_line(name, size, message):
    with pytest.raises(BadValueError, match=message):
        Study(name, StudyOptions(input_size=size))


@pytest.mark.parametrize("text", ["a,b", "0", "16,-1,4"])
def test_bad_input_size_text_is_one_line(text):
    with pytest.raises(BadValueError, match="--input-size"):
        parse_input_size(text)


def test_video_models_list_their_input_as_input_size_takes_it():
    from octprofile.models import model_specs
    from octprofile.models.input_size import format_input_size

    sizes = {s.name: format_input_size(s.input_size) for s in model_specs()}
    assert sizes["r3d_18"] == sizes["mc3_18"] == sizes["r2plus1d_18"] == "16,112,112"
    assert sizes["fcn_resnet50"] == "520"
