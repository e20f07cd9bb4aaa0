"""Where the octave pair reaches a conv that no octave conv reproduces (an even kernel: FasterNet's 2x2 stride-2
patch merging, after a residual stage whose shortcut carries the pair): the conv reads the map the pair stands for."""

from __future__ import annotations

from torch import nn

from octprofile.nn.pair import OctPair


class MergingConv(nn.Module):
    """``conv`` run on the map an octave pair stands for (``OctPair.merged``: the high channels, then the low ones
    upsampled to the high grid as an octave conv's L->H path upsamples them), so the octave region leaves there; a
    plain map passes as it is. The weights and MACs are the vanilla layer's."""

    def __init__(self, conv: nn.Module) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x):
        return self.conv(x.merged() if isinstance(x, OctPair) else x)
