"""How a feature map's channels divide into high- and low-frequency groups."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from octprofile.errors import BadValueError


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """Return ``alpha`` as a float, or raise BadValueError (a ValueError) when it is not in [0, 1)."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise BadValueError(f"{name} must be a number in [0, 1), got {alpha!r}") from None
    if math.isnan(value) or not 0.0 <= value < 1.0:
        raise BadValueError(f"{name} must be in [0, 1), got {alpha!r}")
    return value


@dataclass(frozen=True)
class ChannelSplit:
    """``channels`` = ``high`` + ``low``; the low channels are the last ``low`` ones.

    One split is computed per feature map and shared by every layer that reads or writes it
    (the conv that produces it, its norm, the conv that consumes it), so their shapes agree.
    """

    channels: int
    low: int

    def __post_init__(self) -> None:
        if self.channels < 1 or not 0 <= self.low < self.channels:
            raise ValueError(f"invalid split: {self.low} low of {self.channels} channels")

    @property
    def high(self) -> int:
        return self.channels - self.low

    @classmethod
    def from_alpha(cls, channels: int, alpha: float, multiple: int = 1, low_multiple: int = 1) -> ChannelSplit:
        """low = floor(alpha * channels), rounded down to a multiple of ``multiple``: the paper's split.

        ``multiple`` is the group count of a grouped conv that reads or writes the map: each of
        its four paths keeps the vanilla groups, so both halves must divide by it.

        ``low_multiple`` above 1 (``OctDesign.low_multiple``, ``--low-multiple``) asks for a low part that is
        a multiple of it, e.g. a CPU's vector block: ``low_split`` says how it rounds.
        """
        alpha = check_alpha(alpha)
        if check_low_multiple(low_multiple) != 1:
            return cls(channels, low_split(channels, alpha, math.lcm(multiple, low_multiple)))
        low = math.floor(alpha * channels)
        low -= low % multiple
        return cls(channels, low)


@dataclass(frozen=True)
class SplitRule:
    """How every map of an octave region splits, whatever its channel count: ``from_alpha`` at ``alpha``, with the
    region's ``low_multiple`` and each channel count's group ``multiples`` (the converter's ``group_multiples``).
    An octave pair carries the rule of the conv that made it, so that a slice or chunk of its channels splits as a
    map of that many channels does (``OctPair.channel_range``): as the convs that read it and the maps it is added
    to were split."""

    alpha: float
    low_multiple: int = 1
    multiples: Mapping[int, int] = field(default_factory=dict, hash=False)

    def __call__(self, channels: int) -> ChannelSplit:
        return ChannelSplit.from_alpha(channels, self.alpha, self.multiples.get(channels, 1), self.low_multiple)


def check_low_multiple(value: int, name: str = "low_multiple") -> int:
    """``value`` if it is a positive integer, else BadValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def low_split(channels: int, alpha: float, step: int) -> int:
    """The low channel count nearest alpha * channels that is a multiple of ``step``, never ``channels`` or more
    (the high part keeps a channel: then the largest multiple below ``channels``; 0 when ``step`` >= ``channels``).

    Nearest rather than down: each map's share of low channels stays as close to alpha as the step allows, above
    as often as below, so the network's savings stay near alpha's instead of always falling short of them. A tie
    (alpha = .375, c = 96, step 8: 36 is 4.5 steps) goes to the even multiple (32; 72 of 192 at step 16 to 64, 216
    of 576 to 224), half of them up, half down, as ``round`` does: a rule that always went down or up would skew
    the whole network one way at the alphas (3/8, 5/8) whose ties are common. alpha is taken as its shortest
    decimal (0.1, not the binary double just above it), so ties are exact."""
    low = step * round(Fraction(repr(alpha)) * channels / step)
    return min(low, step * ((channels - 1) // step))


def rounding_note(low_multiple: int) -> str:
    """The footer line that says a split is not floor(alpha * channels) (empty for 1, the paper's split)."""
    if low_multiple == 1:
        return ""
    return (f"low channels: each map's α·c rounded to the nearest multiple of {low_multiple} (design "
            f"low-multiple-{low_multiple}; a tie to the even multiple; never all of c; with a grouped conv, a "
            "multiple of the lcm with its groups), not floor(α·c): the theory at α differs from the count by that "
            "rounding.")
