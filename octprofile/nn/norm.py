"""Norms for an octave pair: one norm per branch (batch norm 1-, 2- or 3-d, group norm), sharing the conv's channel
split, and timm's norm + activation layers; ``NORM_RULES`` says which norm layer becomes which."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import ClassVar, NamedTuple

import torch
from torch import nn

from octprofile.nn.pair import OctPair
from octprofile.nn.split import ChannelSplit


def _device_of(norm: nn.Module):
    """Where a norm's tensors live (its running statistics where it has no affine weights), None if it has none."""
    return next((t.device for t in (*norm.parameters(), *norm.buffers())), None)


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
        return OctPair(self.high(x.high), self.low(x.low), x.rule)

    @classmethod
    def from_bn(cls, bn: nn.modules.batchnorm._BatchNorm, split: ChannelSplit) -> OctBatchNormNd:
        """An octave batch norm holding ``bn``'s parameters and statistics, sliced by ``split``."""
        oct_bn = cls(split, bn.eps, bn.momentum, bn.affine, bn.track_running_stats, device=_device_of(bn))
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


class OctGroupNorm(nn.Module):
    """Group norm for an octave pair whose split falls between groups: each group lies in one branch and is
    normalised over that branch's map, as batch norm is; the high branch keeps the first groups, the low the rest.
    The converter rounds a map's low channels to a multiple of its group norms' group size so that it does."""

    def __init__(self, split: ChannelSplit, num_groups: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        size = split.channels // num_groups
        if split.channels % num_groups or split.low % size:
            raise ValueError(f"its {num_groups} groups of {size} channels straddle the split {split.high} high + "
                             f"{split.low} low")
        self.split = split
        options = dict(eps=eps, affine=affine, device=device, dtype=dtype)
        self.high = nn.GroupNorm(split.high // size, split.high, **options)
        self.low = nn.GroupNorm(split.low // size, split.low, **options)

    def forward(self, x: OctPair) -> OctPair:
        if not isinstance(x, OctPair):
            raise TypeError(f"{type(self).__name__} expects an octave pair ({self.split}), got {type(x).__name__}")
        return OctPair(self.high(x.high), self.low(x.low), x.rule)

    @classmethod
    def from_gn(cls, gn: nn.GroupNorm, split: ChannelSplit) -> OctGroupNorm:
        oct_gn = cls(split, gn.num_groups, gn.eps, gn.affine, device=_device_of(gn))
        if gn.affine:
            with torch.no_grad():
                for branch, part in ((oct_gn.high, slice(0, split.high)), (oct_gn.low, slice(split.high, None))):
                    branch.weight.copy_(gn.weight[part])
                    branch.bias.copy_(gn.bias[part])
        return oct_gn


class OctNormAct(nn.Module):
    """timm's norm + activation layers (``BatchNormAct2d``, ``GroupNormAct``) on an octave pair: the octave norm,
    then the layer's own ``drop`` and ``act`` modules run on each branch (both are element-wise)."""

    def __init__(self, norm: nn.Module, drop: nn.Module, act: nn.Module) -> None:
        super().__init__()
        self.norm, self.drop, self.act = norm, drop, act

    def forward(self, x: OctPair) -> OctPair:
        x = self.norm(x)
        x = OctPair(self.drop(x.high), self.drop(x.low), x.rule)
        return OctPair(self.act(x.high), self.act(x.low), x.rule)


class OctBranchNorm(nn.Module):
    """A norm whose statistics are per sample, over each channel's map (timm's filter response norms) or over
    whole groups of channels (its EvoNorm S layers): on a pair, one copy of it per branch, each holding its
    channels' parameters, normalises that branch over its own grid, as batch norm does."""

    def __init__(self, high: nn.Module, low: nn.Module) -> None:
        super().__init__()
        self.high, self.low = high, low

    def forward(self, x: OctPair) -> OctPair:
        return OctPair(self.high(x.high), self.low(x.low), x.rule)

    @classmethod
    def from_norm(cls, norm: nn.Module, split: ChannelSplit) -> OctBranchNorm:
        size = grouped_channels(norm)[1]
        if split.low % size:
            raise ValueError(f"its groups of {size} channels straddle the split {split.high} high + {split.low} low")
        if not _elementwise(getattr(norm, "act", nn.Identity())):
            raise ValueError(f"its activation {type(norm.act).__name__} has per-channel parameters")
        return cls(*(_channels_copy(norm, part, size) for part in (slice(0, split.high), slice(split.high, None))))


def _channels_copy(norm: nn.Module, part: slice, group_size: int) -> nn.Module:
    """``norm`` for the channels ``part`` of its map: its per-channel parameters sliced, its groups counted anew."""
    branch = copy.deepcopy(norm)
    with torch.no_grad():
        for name, param in norm.named_parameters(recurse=False):
            setattr(branch, name, nn.Parameter(param[part].clone(), param.requires_grad))
    if hasattr(norm, "groups"):
        branch.groups = branch.weight.numel() // group_size
    return branch


def _timm_layer(module: nn.Module, *names: str) -> bool:
    """One of timm's layers ``names`` (recognised by name, so that timm stays optional)."""
    kind = type(module)
    return kind.__name__ in names and kind.__module__.startswith("timm.")


def _elementwise(module: nn.Module) -> bool:
    """An activation or drop layer that acts on each element alone, so on each branch alike: no per-channel
    parameters (a PReLU with one slope per channel would need splitting)."""
    return all(p.numel() == 1 for p in module.parameters())


def _octave_norm_act(module: nn.Module, split: ChannelSplit) -> nn.Module:
    if not (_elementwise(module.act) and _elementwise(module.drop)):
        raise ValueError(f"its activation {type(module.act).__name__} has per-channel parameters")
    norm = (OctBatchNorm2d.from_bn(module, split) if isinstance(module, nn.BatchNorm2d)
            else OctGroupNorm.from_gn(module, split))
    return OctNormAct(norm, module.drop, module.act)


def _plain_forward(module: nn.Module, base: type[nn.Module]) -> bool:
    """A ``base`` layer or a subclass that keeps its forward (a subclass's own forward may do more)."""
    return isinstance(module, base) and type(module).forward is base.forward


def _whole_groups(module: nn.Module) -> bool:
    """A group norm of more than one group: one group (timm's GroupNorm1) takes a mean over every channel, which
    no split into branches keeps."""
    return isinstance(module, nn.GroupNorm) and module.num_groups > 1


class NormRule(NamedTuple):
    kind: str
    matches: Callable[[nn.Module], bool]
    build: Callable[[nn.Module, ChannelSplit], nn.Module]  # (the vanilla layer, its map's split) -> octave layer


# timm's norms that act per sample on each channel, or on whole groups of channels, and whose every parameter is
# per channel: their EvoNorm B layers (batch statistics over all channels) are not among them
_PER_CHANNEL_NORMS = ("FilterResponseNormTlu2d", "FilterResponseNormAct2d")
_PER_GROUP_NORMS = ("EvoNorm2dS0", "EvoNorm2dS0a", "EvoNorm2dS1", "EvoNorm2dS1a", "EvoNorm2dS2", "EvoNorm2dS2a")

# One rule per norm kind, looked up in order; a norm no rule matches stays as it is (and refuses the pair).
NORM_RULES = (
    NormRule("batch norm", lambda m: _plain_forward(m, nn.modules.batchnorm._BatchNorm),
             lambda bn, split: octave_norm_class(bn).from_bn(bn, split)),
    NormRule("group norm", lambda m: _whole_groups(m) and (_plain_forward(m, nn.GroupNorm)
                                                           or _timm_layer(m, "GroupNorm")), OctGroupNorm.from_gn),
    NormRule("timm norm + act", lambda m: (_timm_layer(m, "BatchNormAct2d") and type(m).__mro__[1] is nn.BatchNorm2d)
             or (_timm_layer(m, "GroupNormAct") and _whole_groups(m)), _octave_norm_act),
    NormRule("timm filter response norm", lambda m: _timm_layer(m, *_PER_CHANNEL_NORMS), OctBranchNorm.from_norm),
    NormRule("timm EvoNorm S", lambda m: _timm_layer(m, *_PER_GROUP_NORMS) and m.groups > 1, OctBranchNorm.from_norm),
)


def octave_norm_rule(module: nn.Module):
    """How to build the octave version of the norm layer ``module`` for a split (``build(module, split)``), or
    None when it is no norm layer octprofile carries."""
    return next((rule.build for rule in NORM_RULES if rule.matches(module)), None)


def grouped_channels(module: nn.Module) -> tuple[int, int] | None:
    """(channels, channels per group) of a norm the converter carries that normalises groups of channels together
    (a split must fall between groups; 1 per group: each channel alone), or None for another layer."""
    if octave_norm_rule(module) is None:
        return None
    if isinstance(module, nn.GroupNorm):
        return module.num_channels, module.num_channels // module.num_groups
    if _timm_layer(module, *_PER_GROUP_NORMS):
        return module.weight.numel(), module.weight.numel() // module.groups
    if _timm_layer(module, *_PER_CHANNEL_NORMS):
        return module.weight.numel(), 1
    return None
