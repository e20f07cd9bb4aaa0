"""Slices, splits and mixed concatenations of an octave pair's channels, against the same cuts written out on the
high and low tensors by hand, and a tiny model of each kind (Res2Net's split, ReXNet's partial residual, DenseNet's
concatenation with the stem's plain map) converted and counted."""

import pytest
import torch
import torch.nn.functional as F
from channel_nets import PartialResidual, Res2Block, chain_net
from torch import nn

from octprofile.analysis.counting import count_model
from octprofile.analysis.crosscheck import torch_flops
from octprofile.convert import convert
from octprofile.convert.coverage import vanilla_reasons_of
from octprofile.nn import OctConv2d, OctPair, OctPairError
from octprofile.nn.split import SplitRule

HALF = SplitRule(0.5)


def _pair(high: int, low: int, rule=HALF, side: int = 4) -> OctPair:
    return OctPair(torch.randn(2, high, side, side), torch.randn(2, low, side // 2, side // 2), rule)


def _same(got: OctPair, high: torch.Tensor, low: torch.Tensor) -> None:
    assert torch.equal(got.high, high) and torch.equal(got.low, low)


def test_a_channel_range_takes_the_low_channels_a_map_of_its_size_has():
    """27 channels at alpha 0.5: 14 high + 13 low. Channels 0:16 are a map of 16 (8 + 8); 16:27 the rest of each
    branch (6 + 5), though a map of 11 would split 6 + 5 as well; 16:20 lies between boundaries 16 (8 low) and 20
    (10 low)."""
    torch.manual_seed(0)
    pair = _pair(14, 13)
    _same(pair[:, 0:16], pair.high[:, :8], pair.low[:, :8])
    _same(pair[:, 16:], pair.high[:, 8:], pair.low[:, 8:])
    _same(pair[:, 16:20, :, :], pair.high[:, 8:10], pair.low[:, 8:10])
    _same(pair[:, :], pair.high, pair.low)
    joined = torch.cat([pair[:, :16], pair[:, 16:]], 1)
    _same(joined, pair.high, pair.low)
    assert joined.rule is HALF


def test_torch_split_and_tensor_split_cut_consecutive_ranges():
    torch.manual_seed(0)
    pair = _pair(52, 52)  # Res2Net's 4 x 26 channels
    chunks = torch.split(pair, 26, 1)
    assert len(chunks) == 4
    for i, chunk in enumerate(chunks):
        _same(chunk, pair.high[:, 13 * i:13 * (i + 1)], pair.low[:, 13 * i:13 * (i + 1)])
    first, second = pair.split([64, 40], dim=1)  # CSPNet's x.split(n, dim=1)
    _same(first, pair.high[:, :32], pair.low[:, :32])
    _same(second, pair.high[:, 32:], pair.low[:, 32:])
    last = torch.split(pair, 48, dim=1)[-1]  # a short last chunk, as torch.split leaves it
    _same(last, pair.high[:, 48:], pair.low[:, 48:])


def test_the_rule_a_range_follows_keeps_the_low_multiple():
    pair = _pair(32, 32, SplitRule(0.5, low_multiple=8))
    assert pair[:, :20].branch_channels == (12, 8)  # 10 rounds to the even multiple 8


@pytest.mark.parametrize(("index", "words"), [
    (lambda x: x[:, ::2], r"x\[:, ::2\] has no octave version"),
    (lambda x: x[0:1], r"x\[0:1\] has no octave version"),
    (lambda x: x[:, :4, 0], r"x\[:, :4, 0\] has no octave version"),
    (lambda x: torch.split(x, 4, 0), "along dim 0 has no octave version"),
    (lambda x: OctPair(x.high, x.low)[:, :4], "carries no split rule"),
    (lambda x: torch.cat([x, torch.randn(2, 4, 4)], 1), "only pairs and maps of its dims"),
])
def test_other_indexing_is_refused_in_one_line(index, words):
    with pytest.raises(OctPairError, match=words) as refusal:
        index(_pair(4, 4))
    assert "\n" not in str(refusal.value)


def test_a_range_past_a_branch_is_refused():
    # a pair whose low branch is shorter than its rule gives a map of its channels (a concatenation with a map that
    # entered by another rule): channels 0:6 would need 3 low channels of its 2
    with pytest.raises(OctPairError, match="past the pair's branches"):
        _pair(6, 2)[:, 0:6]


def test_pairs_split_otherwise_do_not_add():
    with pytest.raises(OctPairError, match="split differently"):
        _pair(8, 8) + _pair(9, 7)


def test_chunks_that_split_otherwise_than_their_maps_cut_the_region_in_one_line():
    """alpha 0.25 on 24 channels (6 low) in chunks of 6: the boundaries 6, 12, 18 fall after 1, 3 and 4 low channels,
    so the second chunk has 2 low where a map of 6 has 1; Res2Net's sum of chunks refuses it, naming the block."""
    model = convert(chain_net(Res2Block(), channels=24, last=24), 0.25, "chain", (1, 3, 16, 16))
    cut = {reason.text for reason in vanilla_reasons_of(model).values() if reason.kind == "cut"}
    assert cut == {"the octave region is cut at '2' (Res2Block): cannot add a pair of 4 high + 2 low channels to one "
                   "of 5 high + 1 low: their channels split differently (a range of a map's channels splits as the "
                   "map's rule gives it, and that is not additive over its pieces), so no branch adds up"}


def test_a_plain_map_in_a_concatenation_enters_as_its_rule_splits_it():
    """DenseNet's stem output (a plain map) joins the dense layers' pairs: its first channels stay high, the rest
    are pooled to the low grid, as an octave conv's H->L path reads them."""
    torch.manual_seed(0)
    pair, plain = _pair(4, 4), torch.randn(2, 6, 4, 4)
    _same(torch.cat([plain, pair], 1), torch.cat([plain[:, :3], pair.high], 1),
          torch.cat([F.avg_pool2d(plain[:, 3:], 2), pair.low], 1))


def test_stacked_pairs_are_scaled_per_path_and_summed_as_selective_kernel_does():
    """SKNet: the paths' maps stacked on a new dim 1, a softmax gate (N, paths, C, 1, 1) scales them, the sum over
    the paths is the output; the gate's first channels of each path scale its high map."""
    torch.manual_seed(0)
    first, second, gate = _pair(5, 3), _pair(5, 3), torch.rand(2, 2, 8, 1, 1)
    stacked = torch.stack([first, second], dim=1)
    assert stacked.shape == (2, 2, 8, 4, 4)
    out = torch.sum(stacked * gate, dim=1)
    _same(out, first.high * gate[:, 0, :5] + second.high * gate[:, 1, :5],
          first.low * gate[:, 0, 5:] + second.low * gate[:, 1, 5:])
    assert torch.equal(stacked.sum(1).low, first.low + second.low)
    with pytest.raises(OctPairError, match="per-path, per-channel scale"):
        stacked * torch.rand(2, 8, 1, 1)


def test_nearest_interpolation_by_a_whole_factor_repeats_both_branches():
    torch.manual_seed(0)
    pair = _pair(4, 4)
    up = F.interpolate(pair, size=(8, 8), mode="nearest")
    _same(up, pair.high.repeat_interleave(2, 2).repeat_interleave(2, 3),
          pair.low.repeat_interleave(2, 2).repeat_interleave(2, 3))
    with pytest.raises(OctPairError, match="only nearest by whole factors"):
        F.interpolate(pair, scale_factor=2, mode="bilinear")


def test_a_number_adds_to_both_branches():
    pair = _pair(4, 4)
    _same(pair + 1.5, pair.high + 1.5, pair.low + 1.5)
    total = 0
    total += pair
    _same(total, pair.high, pair.low)


def test_a_conv_names_a_pair_split_otherwise_than_its_maps():
    conv = OctConv2d(16, 8, 3, padding=1, alpha_in=0.5, alpha_out=0.5)
    with pytest.raises(OctPairError, match="split otherwise than the 8 high \\+ 8 low channels"):
        conv(_pair(9, 7))


@pytest.mark.parametrize("body, channels, last", [
    ((Res2Block(), Res2Block()), 24, 24),
    ((PartialResidual(), nn.Conv2d(27, 16, 1), PartialResidual()), 16, 27),
], ids=["res2net split", "rexnet partial residual"])
def test_tiny_models_that_cut_channels_convert_whole_with_exact_counts(body, channels, last):
    shape = (1, 3, 16, 16)
    vanilla_params = sum(p.numel() for p in chain_net(*body, channels=channels, last=last).parameters())
    torch.manual_seed(0)
    model = convert(chain_net(*body, channels=channels, last=last), 0.5, "chain", shape)
    assert not {name: r for name, r in vanilla_reasons_of(model).items() if r.kind == "cut"}
    octave = [m for m in model.modules() if isinstance(m, OctConv2d) and m.in_split.low and m.out_split.low]
    assert len(octave) >= 4
    assert sum(p.numel() for p in model.parameters()) == vanilla_params
    assert 2 * count_model(model, shape).macs == torch_flops(model, shape)
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(shape))).all()
