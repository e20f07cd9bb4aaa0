"""Batch norm for an octave pair: one BatchNorm2d per branch, sharing the conv's channel split."""

from __future__ import annotations

import torch
from torch import nn

from octprofile.nn.pair import OctPair
from octprofile.nn.split import ChannelSplit


class OctBatchNorm2d(nn.Module):
    """Normalises ``high`` and ``low`` separately; 2 x channels parameters, as the vanilla norm."""

    def __init__(self, split: ChannelSplit, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        self.split = split
        options = dict(eps=eps, momentum=momentum, affine=affine,
                       track_running_stats=track_running_stats, device=device, dtype=dtype)
        self.high = nn.BatchNorm2d(split.high, **options)
        self.low = nn.BatchNorm2d(split.low, **options)

    def forward(self, x: OctPair) -> OctPair:
        if not isinstance(x, OctPair):
            raise TypeError(f"OctBatchNorm2d expects an octave pair ({self.split}), got {type(x).__name__}")
        return OctPair(self.high(x.high), self.low(x.low))

    @classmethod
    def from_bn(cls, bn: nn.BatchNorm2d, split: ChannelSplit) -> OctBatchNorm2d:
        """An OctBatchNorm2d holding ``bn``'s parameters and statistics, sliced by ``split``."""
        device = bn.weight.device if bn.weight is not None else None
        oct_bn = cls(split, bn.eps, bn.momentum, bn.affine, bn.track_running_stats, device=device)
        cut = split.high
        with torch.no_grad():
            for branch, part in ((oct_bn.high, slice(0, cut)), (oct_bn.low, slice(cut, None))):
                for name in ("weight", "bias", "running_mean", "running_var"):
                    source = getattr(bn, name)
                    if source is not None:
                        getattr(branch, name).copy_(source[part])
        return oct_bn
