"""One small rule per layer kind: what a layer costs, from its configuration and tensor shapes.

Units. ``macs``: multiply-accumulates of conv and linear layers (what the paper and torchvision
call "FLOPs"; FLOPs = 2 x MACs); bias additions are not counted, as in fvcore.
Parameter-free work is counted apart, in element operations, never mixed into ``macs``:
  pool      output elements x window size (adaptive pooling: input elements read)
  upsample  output elements written
  add       output elements of an element-wise addition
  bn        output elements of a batch norm (one multiply-add each in inference)
``activations``: elements of the layer's output feature map(s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from octprofile.nn import OctConv2d, OctPair
from octprofile.nn.pair import pooled_size

OTHER_WORK = ("pool", "upsample", "add", "bn")


@dataclass
class LayerCount:
    """The cost of one conv or linear layer (vanilla or octave)."""

    name: str
    kind: str  # "conv", "octconv" or "linear"
    params: int
    macs: int
    activations: int
    paths: dict[str, int] = field(default_factory=dict)  # hh/hl/lh/ll MACs of an octave conv
    other: dict[str, int] = field(default_factory=dict)  # parameter-free work inside the layer
    alpha_in: float = 0.0
    alpha_out: float = 0.0
    stride: int = 1
    depthwise: bool = False
    downsample: str = "pool"  # an octave conv's down-sampling (OctDesign.downsample)
    params_dropped: int = 0  # weights of the paths its design drops
    output_shapes: tuple[tuple[int, ...], ...] = ()  # per output map (high, low), without the batch


def output_shapes(value) -> tuple[tuple[int, ...], ...]:
    maps = (value.high, value.low) if isinstance(value, OctPair) else (value,)
    return tuple(tuple(m.shape[1:]) for m in maps if isinstance(m, torch.Tensor))


def numel(value) -> int:
    if isinstance(value, OctPair):
        return value.high.numel() + value.low.numel()
    return value.numel() if isinstance(value, torch.Tensor) else 0


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _stride(conv: nn.Conv2d) -> int:
    return conv.stride[0] if isinstance(conv.stride, tuple) else conv.stride


def conv_macs(batch: int, cout: int, out_hw: tuple[int, int], cin_per_group: int,
              kernel: tuple[int, int]) -> int:
    return batch * cout * out_hw[0] * out_hw[1] * cin_per_group * kernel[0] * kernel[1]


def count_conv(name: str, conv: nn.Conv2d, inputs, output) -> LayerCount:
    n, _, h, w = output.shape
    macs = conv_macs(n, conv.out_channels, (h, w), conv.in_channels // conv.groups, conv.kernel_size)
    return LayerCount(name, "conv", _params(conv), macs, output.numel(), stride=_stride(conv),
                      depthwise=conv.groups > 1 and conv.groups == conv.in_channels)


def count_linear(name: str, linear: nn.Linear, inputs, output) -> LayerCount:
    rows = inputs[0].numel() // linear.in_features
    return LayerCount(name, "linear", _params(linear), rows * linear.in_features * linear.out_features,
                      output.numel())


def count_octconv(name: str, conv: OctConv2d, inputs, output) -> LayerCount:
    """Per path, at the resolution it runs at (see OctConv2d): H->H at the high output size,
    L->H at the size of X_L (it is upsampled after the conv at stride 1; at stride 2 X_L already
    has the output size), L->L and H->L at the low output size."""
    x = inputs[0]
    x_low_hw = tuple(x.low.shape[-2:]) if isinstance(x, OctPair) else None
    y_high = output.high if isinstance(output, OctPair) else output
    y_low_hw = tuple(output.low.shape[-2:]) if isinstance(output, OctPair) else None
    n, _, ho, wo = y_high.shape
    i, o, g = conv.in_split, conv.out_split, conv.geometry
    per_group = (lambda c: 1) if conv.depthwise else (lambda c: c // g.groups)
    k = g.kernel_size
    paths = {}
    for path_name in conv.active_paths():
        source = i.high if path_name[0] == "h" else i.low
        target = o.high if path_name[1] == "h" else o.low
        hw = {"hh": (ho, wo), "lh": x_low_hw}.get(path_name, y_low_hw)
        paths[path_name] = conv_macs(n, target, hw, per_group(source), k)
    return LayerCount(name, "octconv", _params(conv), sum(paths.values()), numel(output), paths,
                      _octconv_other_work(conv, x, output), conv.alpha_in, conv.alpha_out,
                      g.stride, conv.depthwise, conv.design.downsample, conv.dropped_params())


def _octconv_other_work(conv: OctConv2d, x, output) -> dict[str, int]:
    """Pooling, upsampling and path sums of the paths' routes, from the tensor shapes (an input pooled
    once is shared by every path that reads it)."""
    x_high, x_low = (x.high, x.low) if isinstance(x, OctPair) else (x, None)
    inputs = {"h": x_high, "l": x_low}
    outputs = {"h": output.high, "l": output.low} if isinstance(output, OctPair) else {"h": output}
    routes = {name: conv.route(name) for name in conv.active_paths()}
    pooled = {(name[0], level) for name, route in routes.items() for level in range(1, route.pools + 1)}
    pool = 0
    for branch, level in pooled:
        n, channels, height, width = inputs[branch].shape
        pool += 4 * n * channels * pooled_size(height, level) * pooled_size(width, level)
    upsample = sum(numel(outputs["h"]) for route in routes.values() if route.upsample)
    add = sum(numel(outputs[branch]) for branch in outputs if sum(name[1] == branch for name in routes) == 2)
    return {"pool": pool, "upsample": upsample, "add": add}


# Module rules, looked up along the class hierarchy (subclasses of OctConv2d count alike).
MODULE_RULES = {
    OctConv2d: count_octconv,
    nn.Conv2d: count_conv,
    nn.Linear: count_linear,
}


def module_rule(module: nn.Module):
    for cls in type(module).__mro__:
        if cls in MODULE_RULES:
            return MODULE_RULES[cls]
    return None


# Function rules: parameter-free work done between layers (residual adds, pooling, norms).
def _window(kernel) -> int:
    return math.prod(kernel) if isinstance(kernel, tuple | list) else kernel * kernel


def _pool_work(args, kwargs, output) -> tuple[str, int]:
    kernel = kwargs.get("kernel_size", args[1] if len(args) > 1 else 1)
    return "pool", numel(output) * _window(kernel)


FUNCTION_RULES = {
    F.max_pool2d: _pool_work,
    F.avg_pool2d: _pool_work,
    F.adaptive_avg_pool2d: lambda args, kwargs, output: ("pool", numel(args[0])),
    F.interpolate: lambda args, kwargs, output: ("upsample", numel(output)),
    F.batch_norm: lambda args, kwargs, output: ("bn", numel(output)),
}
for _add in (torch.add, torch.Tensor.add, torch.Tensor.add_, torch.Tensor.__add__, torch.Tensor.__radd__,
             torch.Tensor.__iadd__):
    FUNCTION_RULES[_add] = lambda args, kwargs, output: ("add", numel(output))
