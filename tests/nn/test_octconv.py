"""OctConv2d against the formulas of the paper, with shared weights."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from octprofile.nn import ChannelSplit, OctBatchNorm2d, OctConv2d, OctDesign, OctPair


def formula(conv: OctConv2d, x_h, x_l):
    """Y_H = f(X_H;W_HH) + up(f(X_L;W_LH)); Y_L = f(X_L;W_LL) + f(pool(X_H);W_HL), written out
    with F.conv2d on the layer's own weights; stride 2 pools the inputs first. With strided
    down-sampling each pool right before a conv is that conv's stride 2 instead."""
    g = conv.geometry
    strided = conv.design.downsample == "strided"

    def f(x, path, stride=1):
        return F.conv2d(x, path.weight, path.bias, stride, g.padding, g.dilation, path.groups)

    def pool(x):
        return F.avg_pool2d(x, 2, ceil_mode=True)

    if strided:
        y_h = f(x_h, conv.hh, g.stride)
        if conv.lh is not None:
            from_low = f(x_l, conv.lh)
            if g.stride == 1:
                from_low = from_low.repeat_interleave(2, -2).repeat_interleave(2, -1)[..., : y_h.shape[-2],
                                                                                        : y_h.shape[-1]]
            y_h = y_h + from_low
        if not conv.out_split.low:
            return y_h, None
        parts = [f(x_l, conv.ll, g.stride)] if conv.ll is not None else []
        if conv.hl is not None:
            parts.append(f(pool(x_h) if g.stride == 2 else x_h, conv.hl, 2))
        return y_h, sum(parts)

    lh_input = x_l
    if g.stride == 2:
        x_h = pool(x_h)
        x_l = pool(x_l) if x_l is not None else None
    y_h = f(x_h, conv.hh)
    if conv.lh is not None:
        from_low = f(lh_input, conv.lh)
        if g.stride == 1:
            from_low = from_low.repeat_interleave(2, -2).repeat_interleave(2, -1)[..., : y_h.shape[-2], : y_h.shape[-1]]
        y_h = y_h + from_low
    if not conv.out_split.low:
        return y_h, None
    parts = []
    if conv.ll is not None:
        parts.append(f(x_l, conv.ll))
    if conv.hl is not None:
        parts.append(f(pool(x_h), conv.hl))
    return y_h, sum(parts)


def make_input(split: ChannelSplit, size: int, batch: int = 2):
    x_h = torch.randn(batch, split.high, size, size)
    x_l = torch.randn(batch, split.low, math.ceil(size / 2), math.ceil(size / 2)) if split.low else None
    return x_h, x_l


def run(conv, x_h, x_l):
    out = conv(OctPair(x_h, x_l) if x_l is not None else x_h)
    return (out.high, out.low) if isinstance(out, OctPair) else (out, None)


def assert_matches_formula(conv, size=8):
    torch.manual_seed(0)
    x_h, x_l = make_input(conv.in_split, size)
    got_h, got_l = run(conv, x_h, x_l)
    want_h, want_l = formula(conv, x_h, x_l)
    torch.testing.assert_close(got_h, want_h, rtol=0, atol=1e-5)
    if want_l is None:
        assert got_l is None
    else:
        torch.testing.assert_close(got_l, want_l, rtol=0, atol=1e-5)


def vanilla_params(cin, cout, k, groups, bias):
    return cout * (cin // groups) * k * k + (cout if bias else 0)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("alphas", [(0.5, 0.5), (0.0, 0.5), (0.5, 0.0), (0.25, 0.75), (0.125, 0.125)])
def test_dense_paths_follow_the_formulas(stride, alphas):
    conv = OctConv2d(32, 48, 3, stride, 1, alpha_in=alphas[0], alpha_out=alphas[1], bias=True)
    assert_matches_formula(conv)
    assert sum(p.numel() for p in conv.parameters()) == vanilla_params(32, 48, 3, 1, True)


@pytest.mark.parametrize("stride", [1, 2])
def test_grouped_conv_keeps_all_four_paths_with_the_vanilla_groups(stride):
    conv = OctConv2d(64, 64, 3, stride, 1, groups=8, alpha_in=0.5, alpha_out=0.5)
    assert set(conv.active_paths()) == {"hh", "hl", "lh", "ll"}
    assert all(path.groups == 8 for path in conv.paths().values())
    assert_matches_formula(conv)
    assert sum(p.numel() for p in conv.parameters()) == vanilla_params(64, 64, 3, 8, False)


def test_grouped_split_rounds_low_channels_to_the_group_count():
    conv = OctConv2d(128, 128, 3, 1, 1, groups=32, alpha_in=0.125, alpha_out=0.25)
    assert conv.in_split.low == 0 and conv.out_split.low == 32


@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_keeps_only_same_frequency_paths(stride):
    conv = OctConv2d(24, 24, 3, stride, 1, groups=24, alpha_in=0.5, alpha_out=0.5, bias=True)
    assert conv.active_paths() == ("hh", "ll")
    assert conv.hh.groups == 12 and conv.ll.groups == 12
    assert_matches_formula(conv)
    assert sum(p.numel() for p in conv.parameters()) == vanilla_params(24, 24, 3, 24, True)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("hl, lh", [(False, True), (True, False), (False, False)])
def test_dropped_exchange_paths_have_no_weights(stride, hl, lh):
    conv = OctConv2d(16, 24, 3, stride, 1, alpha_in=0.5, alpha_out=0.25, design=OctDesign(hl=hl, lh=lh))
    assert ("hl" in conv.active_paths()) == hl and ("lh" in conv.active_paths()) == lh
    assert (conv.hl is None) != hl and (conv.lh is None) != lh
    assert_matches_formula(conv)
    # H->L would be 6 x 8 x 3 x 3 weights (low out x high in), L->H 18 x 8 x 3 x 3
    expected_dropped = (0 if hl else 6 * 8 * 9) + (0 if lh else 18 * 8 * 9)
    assert conv.dropped_params() == expected_dropped
    assert sum(p.numel() for p in conv.parameters()) == vanilla_params(16, 24, 3, 1, False) - expected_dropped


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("alphas", [(0.5, 0.5), (0.0, 0.5), (0.5, 0.0), (0.25, 0.75)])
@pytest.mark.parametrize("size", [8, 9])
def test_strided_downsampling_follows_its_formulas(stride, alphas, size):
    conv = OctConv2d(32, 48, 3, stride, 1, alpha_in=alphas[0], alpha_out=alphas[1], bias=True,
                     design=OctDesign(downsample="strided"))
    assert_matches_formula(conv, size)
    assert sum(p.numel() for p in conv.parameters()) == vanilla_params(32, 48, 3, 1, True)


def test_strided_downsampling_differs_from_pooling_with_the_same_weights():
    torch.manual_seed(0)
    pooled = OctConv2d(16, 16, 3, 2, 1, alpha_in=0.5, alpha_out=0.5)
    strided = OctConv2d(16, 16, 3, 2, 1, alpha_in=0.5, alpha_out=0.5, design=OctDesign(downsample="strided"))
    strided.load_state_dict(pooled.state_dict())
    x = OctPair(*make_input(pooled.in_split, 8))
    a, b = pooled(x), strided(x)
    assert a.high.shape == b.high.shape and a.low.shape == b.low.shape
    assert not torch.allclose(a.high, b.high)


@pytest.mark.parametrize("alphas, design, message", [
    ((0.0, 0.5), OctDesign(hl=False), "no path produces the low-frequency output"),
    ((0.5, 0.0), OctDesign(lh=False), "no path reads the low-frequency input")])
def test_a_design_that_cuts_the_low_stream_is_refused(alphas, design, message):
    with pytest.raises(ValueError, match=message):
        OctConv2d(16, 16, 3, 1, 1, alpha_in=alphas[0], alpha_out=alphas[1], design=design)


def test_design_names_and_layer_adaptation():
    assert OctDesign().name == "full"
    assert OctDesign(hl=False, lh=False).name == "no-exchange"
    assert OctDesign(lh=False, downsample="strided").name == "no-lh+strided"
    # entering keeps H->L, leaving keeps L->H, layers octave on both sides follow the design
    design = OctDesign(hl=False, lh=False)
    assert design.for_layer(0.0, 0.5) == OctDesign(hl=True, lh=False)
    assert design.for_layer(0.5, 0.0) == OctDesign(hl=False, lh=True)
    assert design.for_layer(0.5, 0.5) == design
    with pytest.raises(ValueError, match="'blur'"):
        OctDesign(downsample="blur")


def test_awkward_channels_split_by_floor():
    conv = OctConv2d(29, 29, 3, 1, 1, alpha_in=0.1, alpha_out=0.1, bias=True)
    assert (conv.in_split.high, conv.in_split.low) == (27, 2)
    assert_matches_formula(conv, size=9)  # odd size: ceil pooling and cropped upsampling
    assert sum(p.numel() for p in conv.parameters()) == vanilla_params(29, 29, 3, 1, True)


def test_one_bias_per_output_branch_even_without_low_input():
    conv = OctConv2d(16, 16, 3, 1, 1, alpha_in=0.0, alpha_out=0.5, bias=True)
    assert conv.hl.bias is not None and conv.hh.bias is not None
    assert sum(p.numel() for p in conv.parameters()) == vanilla_params(16, 16, 3, 1, True)


def test_zero_alpha_from_vanilla_conv_is_bit_identical():
    torch.manual_seed(0)
    vanilla = nn.Conv2d(8, 12, 3, 1, 1, bias=True)
    octave = OctConv2d.from_conv(vanilla, 0.0, 0.0)
    x = torch.randn(2, 8, 10, 10)
    assert torch.equal(octave(x), vanilla(x))


def test_from_conv_slices_the_vanilla_weight():
    vanilla = nn.Conv2d(8, 8, 3, 1, 1)
    octave = OctConv2d.from_conv(vanilla, 0.5, 0.5)
    assert torch.equal(octave.hh.weight, vanilla.weight[:4, :4])
    assert torch.equal(octave.lh.weight, vanilla.weight[:4, 4:])
    assert torch.equal(octave.hl.weight, vanilla.weight[4:, :4])
    assert torch.equal(octave.ll.weight, vanilla.weight[4:, 4:])


@pytest.mark.parametrize("kwargs, message", [
    (dict(kernel_size=5, padding=0, alpha_in=0.5), "'same' padding"),
    (dict(kernel_size=3, padding=1, stride=3, alpha_in=0.5), "stride 1 or 2"),
    (dict(kernel_size=3, padding=1, alpha_in=1.0), "alpha_in must be in"),
    (dict(kernel_size=3, padding=1, alpha_in=float("nan")), "alpha_in must be in"),
])
def test_bad_configurations_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OctConv2d(8, 8, **kwargs)


def test_pair_and_tensor_mismatch_is_an_error():
    conv = OctConv2d(8, 8, 3, 1, 1, alpha_in=0.5, alpha_out=0.5)
    with pytest.raises(TypeError, match="expects an octave pair"):
        conv(torch.randn(1, 8, 4, 4))


def test_batch_norm_pair_uses_the_shared_split():
    split = ChannelSplit.from_alpha(10, 0.3)
    vanilla = nn.BatchNorm2d(10)
    with torch.no_grad():
        vanilla.weight.uniform_()
        vanilla.running_mean.uniform_()
    octave = OctBatchNorm2d.from_bn(vanilla, split).eval()
    assert sum(p.numel() for p in octave.parameters()) == 20
    assert torch.equal(octave.low.weight, vanilla.weight[7:])
    x = OctPair(torch.randn(1, 7, 4, 4), torch.randn(1, 3, 2, 2))
    assert octave(x).low.shape == (1, 3, 2, 2)


def test_pair_addition_is_branchwise_and_a_tensor_is_split():
    pair = OctPair(torch.ones(1, 2, 4, 4), torch.ones(1, 2, 2, 2))
    summed = pair + pair
    assert torch.equal(summed.high, 2 * pair.high)
    tensor = torch.arange(64.0).reshape(1, 4, 4, 4)
    mixed = pair + tensor
    torch.testing.assert_close(mixed.low - 1, F.avg_pool2d(tensor[:, 2:], 2))
    pair += tensor
    assert torch.equal(pair.high, mixed.high)


def test_unsupported_function_on_a_pair_raises():
    pair = OctPair(torch.ones(1, 2, 4, 4), torch.ones(1, 2, 2, 2))
    with pytest.raises(TypeError, match="no octave version"):
        torch.flatten(pair, 1)


@settings(max_examples=40, deadline=None)
@given(
    cin=st.integers(2, 24), cout=st.integers(2, 24), kernel=st.sampled_from([1, 3, 5]), stride=st.sampled_from([1, 2]),
    alpha_in=st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75]), alpha_out=st.sampled_from([0.0, 0.125, 0.3, 0.5, 0.9]),
    size=st.integers(4, 11), bias=st.booleans(),
)
def test_property_formula_and_parameter_parity(cin, cout, kernel, stride, alpha_in, alpha_out, size, bias):
    conv = OctConv2d(cin, cout, kernel, stride, kernel // 2, alpha_in=alpha_in, alpha_out=alpha_out, bias=bias)
    assert sum(p.numel() for p in conv.parameters()) == vanilla_params(cin, cout, kernel, 1, bias)
    assert_matches_formula(conv, size)
