"""What every parameter-free op call of a forward pass touched: the facts other counters' rules are applied to.

The analytic engine costs work in its own units (rules.py); ptflops, thop, fvcore and torchinfo each use
other units (a BN element counted 2 or 4 times, a pool by its input or its output). To explain their totals
the census keeps, per call, the op, the module that made it, the shapes it read and wrote and whether it
had a bias (conv, linear) or an affine scale (batch norm); ``analysis/counters.py`` applies each tool's rules.
It watches the engine's own meta pass (``count_model(..., observers=(census,))``) inside ``census.watch``.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from octprofile.nn.meta import ModuleScope
from octprofile.nn.pair import OctPair

_ADDITIONS = (torch.add, torch.Tensor.add, torch.Tensor.add_, torch.Tensor.__add__, torch.Tensor.__radd__,
              torch.Tensor.__iadd__)
# torch functions the census records, by the op name it files them under
CENSUS_OPS = {
    F.relu: "relu", F.relu_: "relu", torch.relu: "relu", torch.relu_: "relu", F.hardtanh: "hardtanh",
    F.relu6: "hardtanh", F.silu: "silu", F.gelu: "gelu", F.leaky_relu: "leaky_relu", F.elu: "elu",
    F.hardswish: "hardswish", F.hardsigmoid: "hardsigmoid", torch.sigmoid: "sigmoid",
    F.batch_norm: "batch_norm", F.interpolate: "interpolate", F.linear: "linear", F.dropout: "dropout",
    **{getattr(F, f"{pool}_pool{d}d"): f"{pool}_pool{d}d"
       for pool in ("max", "avg", "adaptive_avg") for d in (1, 2, 3)},
    **{getattr(F, f"conv{d}d"): f"conv{d}d" for d in (1, 2, 3)}, F.conv_transpose2d: "conv_transpose2d",
    **dict.fromkeys(_ADDITIONS, "add"),
}
CONV_OPS = ("conv1d", "conv2d", "conv3d", "conv_transpose2d")
# the argument that holds a bias (convs, linear) or an affine scale (batch_norm), by position and name
_WEIGHTED_BY = {**dict.fromkeys((*CONV_OPS, "linear"), (2, "bias")), "batch_norm": (3, "weight")}


def _maps(value) -> tuple[tuple[int, ...], ...]:
    """Shapes of a feature map: one for a tensor, two (high, low) for an octave pair."""
    if isinstance(value, OctPair):
        return tuple(value.high.shape), tuple(value.low.shape)
    return (tuple(value.shape),) if isinstance(value, torch.Tensor) else ()


@dataclass(frozen=True)
class OpCall:
    """One call of a recorded torch function."""

    op: str  # e.g. "relu", "batch_norm", "max_pool2d", "interpolate" (nearest; else "interpolate_bilinear"...), "add"
    module: type | None  # the leaf module whose forward made the call (nn.ReLU, nn.BatchNorm2d...), else None
    caller: str  # the class of the innermost module running (OctConv2d, BasicBlock, nn.ReLU...)
    inputs: tuple[tuple[int, ...], ...]  # shapes of the first argument (two for an octave pair)
    outputs: tuple[tuple[int, ...], ...]
    weighted: bool  # conv / linear: has a bias; batch_norm: has an affine scale
    weight: tuple[int, ...] = ()  # conv / linear: the weight's shape

    @property
    def in_elements(self) -> int:
        return sum(math.prod(shape) for shape in self.inputs)

    @property
    def out_elements(self) -> int:
        return sum(math.prod(shape) for shape in self.outputs)

    @property
    def macs(self) -> int:
        """A conv's or linear's multiply-accumulates: one per output element and weight of its filter; a transposed
        conv's, one per *input* element and weight it scatters to (weight: in, out / groups, *kernel)."""
        if not self.weight:
            return 0
        return (self.in_elements if self.op.startswith("conv_transpose") else self.out_elements) * \
            math.prod(self.weight[1:])


class OpCensus(TorchFunctionMode):
    """Records every call of a ``CENSUS_OPS`` function, with the module that made it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[OpCall] = []
        self._scope: ModuleScope | None = None

    @contextmanager
    def watch(self, model: nn.Module):
        """Track which module runs, so each call knows its caller."""
        with ModuleScope().watch(model) as scope:
            self._scope = scope
            try:
                yield self
            finally:
                self._scope = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        output = func(*args, **kwargs)
        op = CENSUS_OPS.get(func)
        if op is not None:
            self.calls.append(self._record(op, args, kwargs, output))
        return output

    def _record(self, op: str, args, kwargs, output) -> OpCall:
        module = self._scope.stack[-1][1] if self._scope and self._scope.stack else None
        leaf = module is not None and next(module.children(), None) is None
        position, name = _WEIGHTED_BY.get(op, (None, None))
        weight = kwargs.get(name, args[position] if position is not None and len(args) > position else None)
        kernel = tuple(args[1].shape) if op in (*CONV_OPS, "linear") else ()
        if op == "interpolate":
            mode = kwargs.get("mode", args[3] if len(args) > 3 else "nearest")
            op = op if mode == "nearest" else f"interpolate_{mode}"
        return OpCall(op, type(module) if leaf else None, type(module).__name__ if module is not None else "model",
                      _maps(args[0]), _maps(output), weight is not None, kernel)
