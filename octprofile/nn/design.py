"""How an octave conv is wired: which inter-octave paths it has and how it down-samples.

The paper's OctConv (``OctDesign()``) has all four paths and down-samples by 2x2 average pooling. Its
ablations (Chen et al., sec. 4, down-sampling and inter-octave connectivity) drop the H->L and/or L->H
exchange, or down-sample with a strided conv instead of pooling; ``ABLATIONS`` lists those variants.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from octprofile.errors import BadValueError
from octprofile.nn.split import check_low_multiple

DOWNSAMPLING = ("pool", "strided")
LOW_MULTIPLE = "low-multiple-"  # a design's name part: 'low-multiple-8'


@dataclass(frozen=True)
class OctDesign:
    """``hl`` / ``lh``: keep the H->L / L->H path. ``downsample``: ``"pool"`` (2x2 average pooling, then a
    stride-1 conv: the paper's choice) or ``"strided"`` (the conv itself runs at stride 2, which samples
    the two grids at misaligned points; the alternative the paper ablates). ``low_multiple``: 1 (the paper's
    split, floor(α·c) low channels), or N > 1: every map's low channels rounded to the nearest multiple of N
    (``ChannelSplit.from_alpha``), e.g. a CPU's vector block; named 'low-multiple-N'."""

    hl: bool = True
    lh: bool = True
    downsample: str = "pool"
    low_multiple: int = 1

    def __post_init__(self) -> None:
        check_low_multiple(self.low_multiple)
        if self.downsample not in DOWNSAMPLING:
            raise BadValueError(f"downsample must be one of {', '.join(DOWNSAMPLING)}, got {self.downsample!r}")

    @property
    def name(self) -> str:
        """'full', or what differs from it: 'no-hl', 'no-lh', 'no-exchange', 'strided', 'no-hl+strided',
        'low-multiple-8', ..."""
        dropped = {(False, False): ["no-exchange"], (False, True): ["no-hl"], (True, False): ["no-lh"]}
        parts = [*dropped.get((self.hl, self.lh), []), *(["strided"] if self.downsample == "strided" else []),
                 *([f"{LOW_MULTIPLE}{self.low_multiple}"] if self.low_multiple != 1 else [])]
        return "+".join(parts) or "full"

    @classmethod
    def parse(cls, name: str) -> OctDesign:
        """The design a ``name`` spells (inverse of ``.name``; 'no-hl+no-lh' is 'no-exchange')."""
        parts = set(name.split("+"))
        known = {"full": {}, "no-hl": {"hl": False}, "no-lh": {"lh": False}, "no-exchange": {"hl": False, "lh": False},
                 "strided": {"downsample": "strided"}}
        rounded = {part for part in parts if part.startswith(LOW_MULTIPLE) and part[len(LOW_MULTIPLE):].isdigit()}
        unknown = parts - set(known) - rounded
        if unknown:
            raise BadValueError(f"unknown OctConv design {name!r}; give {', '.join(known)} or a '+' combination "
                                "such as no-hl+strided")
        low = [int(part[len(LOW_MULTIPLE):]) for part in rounded]
        if len(low) > 1:
            raise BadValueError(f"OctConv design {name!r} gives more than one {LOW_MULTIPLE}N")
        return cls(**{key: value for part in parts - rounded for key, value in known[part].items()},
                   **({"low_multiple": low[0]} if low else {}))

    @property
    def is_full(self) -> bool:
        return self == OctDesign()

    def for_layer(self, alpha_in: float, alpha_out: float) -> OctDesign:
        """This design as one layer of a network can have it: the layer that enters the octave
        (alpha_in = 0) makes the low map by H->L and the one that leaves it (alpha_out = 0) reads it
        by L->H, so those keep their exchange; the switches act on layers octave on both sides."""
        return replace(self, hl=self.hl or alpha_in == 0, lh=self.lh or alpha_out == 0)


FULL = OctDesign()
# The variants of the paper's ablation: every exchange combination with pooling, and strided down-sampling.
ABLATIONS = (FULL, OctDesign(hl=False), OctDesign(lh=False), OctDesign(hl=False, lh=False),
             OctDesign(downsample="strided"))
