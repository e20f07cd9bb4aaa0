"""timm's layers on an octave pair, each against an independent equation written here from torch primitives: the
squeeze-excitation and ECA gates pool the map the pair stands for (the low map weighted by the high pixels it
covers), and the norm + activation layers (filter response norms, EvoNorm S too) normalise each branch as the
vanilla layer normalises its channels."""

import importlib.util

import pytest
import torch
import torch.nn.functional as F

from octprofile.nn import ChannelSplit, OctPair, OctPairError, octave_norm_rule

pytestmark = pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="optional timm not installed")


def merged(high, low):
    """The map a pair stands for: the low map on the high grid, each low pixel repeated over the 2x2 it covers."""
    up = low.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)[:, :, :high.shape[2], :high.shape[3]]
    return torch.cat([high, up], dim=1)


@pytest.mark.parametrize("side", [8, 7])
def test_squeeze_excite_on_a_pair_computes_the_vanilla_gate(side):
    from timm.models._efficientnet_blocks import SqueezeExcite

    torch.manual_seed(0)
    se = SqueezeExcite(24, rd_ratio=0.25).eval()
    half = (side + 1) // 2
    high, low = torch.randn(2, 16, side, side), torch.randn(2, 8, half, half)
    with torch.no_grad():
        out = se(OctPair(high, low))
        # by hand: the mean of the merged map, on an odd side the last low row and column cover one high pixel
        rows = torch.full((half,), 2.0)
        rows[-1] = 2.0 if side % 2 == 0 else 1.0
        weights = rows[:, None] * rows[None, :]
        pooled = torch.cat([high.sum((2, 3)), (low * weights).sum((2, 3))], 1) / side ** 2
        hidden = torch.relu(pooled @ se.conv_reduce.weight.flatten(1).T + se.conv_reduce.bias)
        gate = torch.sigmoid(hidden @ se.conv_expand.weight.flatten(1).T + se.conv_expand.bias)
        torch.testing.assert_close(out.high, high * gate[:, :16, None, None])
        torch.testing.assert_close(out.low, low * gate[:, 16:, None, None])
        # the vanilla block on the merged map: its high channels, and its low channels on the low grid
        vanilla = se(merged(high, low))
    torch.testing.assert_close(out.high, vanilla[:, :16])
    torch.testing.assert_close(out.low, vanilla[:, 16:, ::2, ::2])


@pytest.mark.parametrize("side", [8, 5])
def test_eca_on_a_pair_computes_the_vanilla_gate(side):
    from timm.layers import EcaModule

    torch.manual_seed(0)
    eca = EcaModule(32, kernel_size=3).eval()
    half = (side + 1) // 2
    high, low = torch.randn(2, 24, side, side), torch.randn(2, 8, half, half)
    with torch.no_grad():
        out = eca(OctPair(high, low))
        pooled = merged(high, low).mean((2, 3))  # (N, C): the 1-d conv runs across these channels
        gate = torch.sigmoid(F.conv1d(pooled[:, None], eca.conv.weight, padding=1))[:, 0]
    torch.testing.assert_close(out.high, high * gate[:, :24, None, None])
    torch.testing.assert_close(out.low, low * gate[:, 24:, None, None])


def test_batch_norm_act_normalises_and_activates_each_branch():
    from timm.layers import BatchNormAct2d

    torch.manual_seed(0)
    norm = BatchNormAct2d(12, act_layer=torch.nn.SiLU).eval()
    with torch.no_grad():
        norm.running_mean.normal_(), norm.running_var.uniform_(0.5, 2), norm.weight.normal_(), norm.bias.normal_()
    octave = octave_norm_rule(norm)(norm, ChannelSplit(12, 4)).eval()
    high, low = torch.randn(1, 8, 6, 6), torch.randn(1, 4, 3, 3)
    with torch.no_grad():
        out = octave(OctPair(high, low))
    for got, x, part in ((out.high, high, slice(0, 8)), (out.low, low, slice(8, 12))):
        scale = norm.weight[part] / torch.sqrt(norm.running_var[part] + norm.eps)
        expected = (x - norm.running_mean[part, None, None]) * scale[:, None, None] + norm.bias[part, None, None]
        torch.testing.assert_close(got, F.silu(expected))
    assert sum(p.numel() for p in octave.parameters()) == sum(p.numel() for p in norm.parameters())


def test_group_norm_act_keeps_each_group_in_one_branch():
    from timm.layers import GroupNormAct

    torch.manual_seed(0)
    norm = GroupNormAct(16, num_groups=4, act_layer=torch.nn.ReLU).eval()
    with torch.no_grad():
        norm.weight.normal_(), norm.bias.normal_()
    octave = octave_norm_rule(norm)(norm, ChannelSplit(16, 8)).eval()
    high, low = torch.randn(2, 8, 6, 6), torch.randn(2, 8, 3, 3)
    with torch.no_grad():
        out = octave(OctPair(high, low))
    for got, x, part in ((out.high, high, slice(0, 8)), (out.low, low, slice(8, 16))):
        groups = x.reshape(2, 2, -1)  # two groups of 4 channels in each branch
        normed = ((groups - groups.mean(-1, keepdim=True)) / torch.sqrt(groups.var(-1, unbiased=False, keepdim=True)
                                                                         + norm.eps)).reshape(x.shape)
        affine = normed * norm.weight[part, None, None] + norm.bias[part, None, None]
        torch.testing.assert_close(got, torch.relu(affine))
    with pytest.raises(ValueError, match="straddle"):
        octave_norm_rule(norm)(norm, ChannelSplit(16, 6))


def _octave_norm_on_random_pair(norm, low_channels: int):
    """``norm`` (12 channels) with random parameters, its octave version, a random 6×6 / 3×3 pair and the output."""
    with torch.no_grad():
        for param in norm.parameters():
            param.normal_()
    octave = octave_norm_rule(norm)(norm, ChannelSplit(12, low_channels))
    high, low = torch.randn(2, 12 - low_channels, 6, 6), torch.randn(2, low_channels, 3, 3)
    with torch.no_grad():
        return octave, high, low, octave(OctPair(high, low))


@pytest.mark.parametrize("kind", ["FilterResponseNormTlu2d", "FilterResponseNormAct2d"])
def test_filter_response_norm_normalises_each_channel_over_its_branch(kind):
    """x / sqrt(mean over the map of x^2 + eps), scaled and shifted per channel, then the TLU max(x, tau) or ReLU:
    each channel alone, so each branch over its own grid."""
    import timm.layers

    torch.manual_seed(0)
    norm = getattr(timm.layers, kind)(12)
    octave, high, low, out = _octave_norm_on_random_pair(norm, low_channels=5)
    for got, x, part in ((out.high, high, slice(0, 7)), (out.low, low, slice(7, 12))):
        normed = x / torch.sqrt(x.square().mean((2, 3), keepdim=True) + norm.eps)
        affine = normed * norm.weight[part, None, None] + norm.bias[part, None, None]
        expected = torch.maximum(affine, norm.tau[part, None, None]) if hasattr(norm, "tau") else torch.relu(affine)
        torch.testing.assert_close(got, expected)
    assert sum(p.numel() for p in octave.parameters()) == sum(p.numel() for p in norm.parameters())


def test_evonorm_s0a_keeps_each_group_in_one_branch():
    """EvoNorm S0a: x * sigmoid(v x) over the standard deviation of x's group (per sample, over the group's channels
    and the map), scaled and shifted per channel; groups of 4 channels, 8 high + 4 low."""
    from timm.layers import EvoNorm2dS0a

    torch.manual_seed(0)
    norm = EvoNorm2dS0a(12, group_size=4)
    octave, high, low, out = _octave_norm_on_random_pair(norm, low_channels=4)
    for got, x, part in ((out.high, high, slice(0, 8)), (out.low, low, slice(8, 12))):
        groups = x.reshape(2, -1, 4, *x.shape[2:])
        std = torch.sqrt(groups.var((2, 3, 4), unbiased=False, keepdim=True) + norm.eps).expand_as(groups)
        gated = x * torch.sigmoid(x * norm.v[part, None, None]) / std.reshape(x.shape)
        torch.testing.assert_close(got, gated * norm.weight[part, None, None] + norm.bias[part, None, None])
    assert sum(p.numel() for p in octave.parameters()) == sum(p.numel() for p in norm.parameters())
    with pytest.raises(ValueError, match="straddle"):
        octave_norm_rule(norm)(norm, ChannelSplit(12, 6))


def test_a_pair_stands_for_its_merged_map_in_shape_and_refuses_other_expansions():
    pair = OctPair(torch.ones(2, 6, 5, 5), torch.ones(2, 2, 3, 3))
    assert pair.shape == (2, 8, 5, 5) and pair.ndim == 4
    with pytest.raises(OctPairError, match="per-channel"):
        torch.ones(2, 8, 5, 5).expand_as(pair)


def standardised(conv) -> torch.Tensor:
    """The weight a weight-standardised conv convolves with, by hand: each output row minus its mean over (in, kh,
    kw), over the root of its biased variance + eps; times gain x gamma / sqrt(fan-in) for the scaled version."""
    w = conv.weight
    mean, var = w.mean((1, 2, 3), keepdim=True), w.var((1, 2, 3), unbiased=False, keepdim=True)
    out = (w - mean) / torch.sqrt(var + conv.eps)
    return out * conv.gain * conv.scale if hasattr(conv, "gain") else out


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("kind", ["StdConv2d", "ScaledStdConv2d"])
def test_std_conv_on_a_pair_standardises_the_vanilla_weight_then_splits_it(kind, stride):
    import timm.layers

    from octprofile.nn import OctStdConv2d, octave_class

    torch.manual_seed(0)
    conv = getattr(timm.layers, kind)(12, 16, 3, stride=stride, bias=True).eval()
    with torch.no_grad():
        conv.bias.normal_()
        if hasattr(conv, "gain"):
            conv.gain.uniform_(0.5, 2)
    params = sum(p.numel() for p in conv.parameters())
    x = torch.randn(2, 12, 8, 8)
    vanilla = octave_class(conv).from_conv(conv, 0.0, 0.0)  # α → 0: the vanilla layer (pooled first at stride 2)
    assert isinstance(vanilla, OctStdConv2d) and sum(p.numel() for p in vanilla.parameters()) == params
    with torch.no_grad():
        expected = conv(x) if stride == 1 else F.conv2d(F.avg_pool2d(x, 2), standardised(conv), conv.bias, 1, 1)
        torch.testing.assert_close(vanilla(x), expected)
    octave = octave_class(conv).from_conv(conv, 0.25, 0.5)  # in 9 + 3, out 8 + 8
    assert sum(p.numel() for p in octave.parameters()) == params
    high, low = torch.randn(2, 9, 8, 8), torch.randn(2, 3, 4, 4)
    with torch.no_grad():
        out = octave(OctPair(high, low))
        w, b = standardised(conv), conv.bias

        def run(x, rows, cols, bias=None):
            return F.conv2d(x, w[rows, cols], bias, 1, 1)

        h, lo, pool = slice(0, 8), slice(8, None), lambda t: F.avg_pool2d(t, 2)
        if stride == 1:
            lh = run(low, h, slice(9, None)).repeat_interleave(2, 2).repeat_interleave(2, 3)
            expected_high = run(high, h, slice(0, 9), b[h]) + lh
            expected_low = run(low, lo, slice(9, None), b[lo]) + run(pool(high), lo, slice(0, 9))
        else:
            expected_high = run(pool(high), h, slice(0, 9), b[h]) + run(low, h, slice(9, None))
            expected_low = run(pool(low), lo, slice(9, None), b[lo]) + run(pool(pool(high)), lo, slice(0, 9))
    torch.testing.assert_close(out.high, expected_high)
    torch.testing.assert_close(out.low, expected_low)


def test_an_in_place_scale_of_a_pair_scales_both_branches():
    """NF-Net's skip-init gain: ``out.mul_(gain)`` on the map, a 0-d parameter."""
    high, low = torch.ones(1, 4, 4, 4), torch.ones(1, 2, 2, 2)
    pair = OctPair(high, low)
    assert pair.mul_(torch.tensor(3.0)) is pair
    assert (high == 3).all() and (low == 3).all()
    with pytest.raises(OctPairError, match="per-channel"):
        pair.mul_(torch.ones(1, 6, 2, 2))
