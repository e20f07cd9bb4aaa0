"""--low-multiple's split rule: the low channels are the multiple of N nearest α·c (a tie to the even multiple),
fewer than c, a multiple of a grouped conv's groups too (their lcm); 1 is the paper's floor(α·c), unchanged."""

import math

import pytest

from octprofile.errors import BadValueError
from octprofile.nn import FULL, ChannelSplit, OctConv2d, OctDesign
from octprofile.nn.split import low_split


@pytest.mark.parametrize(("channels", "alpha", "multiple", "low"), [
    (96, 0.375, 8, 32),     # 36 is 4.5 steps: a tie, to the even multiple (4 × 8)
    (144, 0.375, 8, 56),    # 54 → 56, the nearest (floor would give 48)
    (192, 0.375, 16, 64),   # 72 is 4.5 steps of 16: a tie, to 4 × 16
    (576, 0.375, 16, 224),  # 216 is 13.5 steps: a tie, to 14 × 16 (up: ties go both ways)
    (40, 0.5, 8, 16),       # 20 is 2.5 steps: a tie, to 2 × 8 (down)
    (16, 0.375, 8, 8),      # 6 → 8
    (8, 0.75, 8, 0),        # 6 → 8 would be every channel: the largest multiple below c is 0
    (24, 0.9, 8, 16),       # 21.6 → 24 = c: capped at 16
    (4, 0.5, 8, 0),         # a map narrower than one step keeps no low channels
    (64, 0.0, 8, 0),        # α 0 stays vanilla
    (30, 0.1, 3, 3),        # 0.1 is taken as the decimal: 3 exactly, not 3.0000000000000004
])
def test_the_nearest_multiple_below_the_channel_count(channels, alpha, multiple, low):
    split = ChannelSplit.from_alpha(channels, alpha, low_multiple=multiple)
    assert split.low == low and split.low % multiple == 0 and split.high >= 1


def test_ties_are_exact_at_decimal_alphas():
    assert low_split(40, 0.1, 8) == 0  # 4 is half of 8: a tie, to 0 (the even multiple), not above it
    assert low_split(120, 0.1, 8) == 16  # 12 = 1.5 steps: to 2 steps


def test_grouped_convs_round_to_the_lcm_of_the_groups_and_the_multiple():
    split = ChannelSplit.from_alpha(120, 0.5, multiple=6, low_multiple=8)  # lcm 24: 60 is 2.5 steps → 48
    assert split.low == 48 and math.lcm(6, 8) == 24


@pytest.mark.parametrize("channels", [3, 10, 36, 54, 96, 144, 1000])
@pytest.mark.parametrize("alpha", [0.125, 0.25, 0.3, 0.375, 0.5, 0.75])
def test_multiple_1_is_the_papers_split(channels, alpha):
    assert ChannelSplit.from_alpha(channels, alpha, low_multiple=1).low == math.floor(alpha * channels)
    assert ChannelSplit.from_alpha(channels, alpha, 2, low_multiple=1) == ChannelSplit.from_alpha(channels, alpha, 2)


def test_the_design_names_the_rounding_and_parses_back():
    design = OctDesign(low_multiple=8)
    assert design.name == "low-multiple-8" and not design.is_full
    assert OctDesign(hl=False, downsample="strided", low_multiple=16).name == "no-hl+strided+low-multiple-16"
    for d in (design, OctDesign(hl=False, lh=False, low_multiple=4), FULL):
        assert OctDesign.parse(d.name) == d
    assert OctDesign(low_multiple=1) == FULL and FULL.name == "full"
    assert design.for_layer(0.0, 0.5).low_multiple == 8


@pytest.mark.parametrize("value", [0, -8, 2.5, True, "8"])
def test_bad_multiples_are_refused(value):
    with pytest.raises(BadValueError, match="low_multiple must be a positive integer"):
        OctDesign(low_multiple=value)
    with pytest.raises(BadValueError):
        ChannelSplit.from_alpha(64, 0.5, low_multiple=value)


def test_an_octconv_built_directly_rounds_by_its_design():
    conv = OctConv2d(96, 144, 3, padding=1, alpha_in=0.375, alpha_out=0.375, design=OctDesign(low_multiple=8))
    assert (conv.in_split.low, conv.out_split.low) == (32, 56)
