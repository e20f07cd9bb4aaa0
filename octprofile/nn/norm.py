"""Batch norm for an octave pair: one batch norm per branch (1-, 2- or 3-d), sharing the conv's channel split."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from octprofile.nn.pair import OctPair
from octprofile.nn.split import ChannelSplit


class OctBatchNormNd(nn.Module):
    """Normalises ``high`` and ``low`` separately; 2 x channels parameters, as the vanilla norm.
    Subclasses name the branch norm (``norm_class``)."""

    norm_class: ClassVar[type[nn.modules.batchnorm._BatchNorm]] = nn.BatchNorm2d

    def __init__(self, split: ChannelSplit, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        self.split = split
        options = dict(eps=eps, momentum=momentum, affine=affine,
                       track_running_stats=track_running_stats, device=device, dtype=dtype)
        self.high = self.norm_class(split.high, **options)
        self.low = self.norm_class(split.low, **options)

    def forward(self, x: OctPair) -> OctPair:
        if not isinstance(x, OctPair):
            raise TypeError(f"{type(self).__name__} expects an octave pair ({self.split}), got {type(x).__name__}")
        return OctPair(self.high(x.high), self.low(x.low))

    @classmethod
    def from_bn(cls, bn: nn.modules.batchnorm._BatchNorm, split: ChannelSplit) -> OctBatchNormNd:
        """An octave batch norm holding ``bn``'s parameters and statistics, sliced by ``split``."""
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


class OctBatchNorm1d(OctBatchNormNd):
    norm_class = nn.BatchNorm1d


class OctBatchNorm2d(OctBatchNormNd):
    norm_class = nn.BatchNorm2d


class OctBatchNorm3d(OctBatchNormNd):
    norm_class = nn.BatchNorm3d


OCTAVE_NORMS: dict[type[nn.Module], type[OctBatchNormNd]] = {
    nn.BatchNorm1d: OctBatchNorm1d, nn.BatchNorm2d: OctBatchNorm2d, nn.BatchNorm3d: OctBatchNorm3d,
}


def octave_norm_class(norm: nn.Module) -> type[OctBatchNormNd] | None:
    """The octave norm that replaces ``norm`` (by its torch base class), or None for another kind of layer."""
    return next((OCTAVE_NORMS[kind] for kind in type(norm).__mro__ if kind in OCTAVE_NORMS), None)
