"""How a feature map's channels divide into high- and low-frequency groups."""

from __future__ import annotations

import math
from dataclasses import dataclass

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
    def from_alpha(cls, channels: int, alpha: float, multiple: int = 1) -> ChannelSplit:
        """low = floor(alpha * channels), rounded down to a multiple of ``multiple``.

        ``multiple`` is the group count of a grouped conv that reads or writes the map: each of
        its four paths keeps the vanilla groups, so both halves must divide by it.
        """
        alpha = check_alpha(alpha)
        low = math.floor(alpha * channels)
        low -= low % multiple
        return cls(channels, low)
