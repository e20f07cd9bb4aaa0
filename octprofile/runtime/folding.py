"""Batch norm folded into the conv that feeds it: which (conv, norm) pairs may fold, and the folded weights."""

from __future__ import annotations

import torch
import torch.fx
from torch import nn

from octprofile.nn import OctBatchNorm2d, OctConv2d
from octprofile.runtime.carriable import carriable

_LEAVES = (nn.Conv2d, OctConv2d, nn.BatchNorm2d, OctBatchNorm2d)


def bn_scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode batch norm as ``x * scale + shift`` per channel."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    return scale, shift if bn.bias is None else shift + bn.bias


def fold(weight: torch.Tensor, bias: torch.Tensor | None, norm: nn.BatchNorm2d | None, carries_shift: bool = True):
    """``weight`` and ``bias`` with ``norm`` folded in; of several convs summed into one output, only
    one may carry the norm's shift."""
    if norm is None:
        return weight, bias
    scale, shift = bn_scale_shift(norm)
    weight = weight * scale.view(-1, 1, 1, 1)
    bias = bias * scale if bias is not None else None
    if carries_shift:
        bias = shift if bias is None else bias + shift
    return weight, bias


class _LayerTracer(torch.fx.Tracer):
    """Keeps convs and norms as single nodes, so the consumers of each can be counted."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return isinstance(module, _LEAVES) or super().is_leaf_module(module, qualified_name)


def foldable_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(conv, norm) names where the norm is the conv's only consumer and each is called once, both running their
    stock forward with no hooks (``carriable``); a model that symbolic tracing cannot follow (data-dependent
    control flow) gets none."""
    try:
        graph = _LayerTracer().trace(model)
    except Exception:  # noqa: BLE001 - any tracing failure just means no folding
        return []
    modules = dict(model.named_modules())
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], nn.BatchNorm2d | OctBatchNorm2d):
            continue
        source = node.args[0] if node.args else None
        if (isinstance(source, torch.fx.Node) and source.op == "call_module"
                and isinstance(modules[source.target], nn.Conv2d | OctConv2d) and len(source.users) == 1
                and calls[source.target] == 1 and calls[node.target] == 1
                and carriable(modules[source.target]) and carriable(modules[node.target])
                and _norm_fits(modules[source.target], modules[node.target])):
            pairs.append((source.target, node.target))
    return pairs


def _norm_fits(conv: nn.Module, norm: nn.Module) -> bool:
    """Whether ``norm`` normalises exactly ``conv``'s output channels with running statistics."""
    branches = [norm.high, norm.low] if isinstance(norm, OctBatchNorm2d) else [norm]
    if not all(b.track_running_stats and b.running_mean is not None for b in branches):
        return False
    if isinstance(conv, OctConv2d):
        split = conv.out_split
        expected = [split.high, split.low] if split.low else [split.channels]
    else:
        expected = [conv.out_channels]
    return [b.num_features for b in branches] == expected
