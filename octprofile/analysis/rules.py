"""One small rule per layer kind: what a layer costs, from its configuration and tensor shapes.

Units. ``macs``: multiply-accumulates of conv and linear layers (what the paper and torchvision
call "FLOPs"; FLOPs = 2 x MACs); bias additions are not counted, as in fvcore. Convs of 1, 2 or 3 dims
count alike: output positions x input channels per group x kernel volume per output channel.
A transposed conv counts the multiplies its scatter form does: every *input* position times every
weight (input positions x out channels per group x kernel volume per input channel), as fvcore and
PyTorch's FlopCounterMode count it. The output-based count (ptflops before its #149) also charges the
zeros a stride-s transposed conv inserts between input pixels, about s^2 times too many.
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

from octprofile.nn import OctConvNd, OctPair
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
    transposed: bool = False  # a transposed conv: its stride up-samples


def output_shapes(value) -> tuple[tuple[int, ...], ...]:
    maps = (value.high, value.low) if isinstance(value, OctPair) else (value,)
    return tuple(tuple(m.shape[1:]) for m in maps if isinstance(m, torch.Tensor))


def numel(value) -> int:
    if isinstance(value, OctPair):
        return value.high.numel() + value.low.numel()
    return value.numel() if isinstance(value, torch.Tensor) else 0


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _stride(conv: nn.Module) -> int:
    """The stride over the last dim (H, or a sequence's length): 2 marks a down-sampling layer."""
    return conv.stride[-1] if isinstance(conv.stride, tuple) else conv.stride


def conv_macs(batch: int, cout: int, out_positions: tuple[int, ...], cin_per_group: int,
              kernel: tuple[int, ...]) -> int:
    """MACs of a conv producing ``cout`` maps over ``out_positions`` (its spatial sizes: L, (H, W) or (T, H, W)).
    For a transposed conv, pass its input positions and the roles of the channels swapped (see the header)."""
    return batch * cout * math.prod(out_positions) * cin_per_group * math.prod(kernel)


def _is_transposed(conv: nn.Module) -> bool:
    return bool(getattr(conv, "transposed", False))


def count_conv(name: str, conv: nn.Module, inputs, output) -> LayerCount:
    """A vanilla conv of any dims; a transposed one by its input positions (see the header)."""
    n = output.shape[0]
    if _is_transposed(conv):
        macs = conv_macs(n, conv.in_channels, tuple(inputs[0].shape[2:]), conv.out_channels // conv.groups,
                         conv.kernel_size)
    else:
        macs = conv_macs(n, conv.out_channels, tuple(output.shape[2:]), conv.in_channels // conv.groups,
                         conv.kernel_size)
    return LayerCount(name, "conv", _params(conv), macs, output.numel(), stride=_stride(conv),
                      depthwise=conv.groups > 1 and conv.groups == conv.in_channels, transposed=_is_transposed(conv))


def count_linear(name: str, linear: nn.Linear, inputs, output) -> LayerCount:
    rows = inputs[0].numel() // linear.in_features
    return LayerCount(name, "linear", _params(linear), rows * linear.in_features * linear.out_features,
                      output.numel())


def _branches(value) -> dict[str, torch.Tensor]:
    return {"h": value.high, "l": value.low} if isinstance(value, OctPair) else {"h": value}


def count_octconv(name: str, conv: OctConvNd, inputs, output) -> LayerCount:
    """Per path, at the resolution it runs at (see OctConvNd): H->H at the high output size,
    L->H at the size of X_L (it is upsampled after the conv at stride 1; at stride 2 X_L already
    has the output size), L->L and H->L at the low output size. The dims the octave keeps (a video's
    time) are the output's on every path. A transposed octave conv counts each path by the positions it
    reads: X_H for H->H, pooled X_H for H->L, X_L for L->H and L->L."""
    x = inputs[0]
    x_in, y_out = _branches(x), _branches(output)
    n = y_out["h"].shape[0]
    i, o, g = conv.in_split, conv.out_split, conv.geometry
    per_group = (lambda c: 1) if conv.depthwise else (lambda c: c // g.groups)
    octave, k = conv.octave_dims, g.kernel_size
    paths = {}
    for path_name in conv.active_paths():
        source = i.high if path_name[0] == "h" else i.low
        target = o.high if path_name[1] == "h" else o.low
        if conv.transposed:
            read = x_in[path_name[0]].shape[2:]
            positions = tuple(pooled_size(s, conv.route(path_name).pools) for s in read)
            paths[path_name] = conv_macs(n, source, positions, per_group(target), k)
            continue
        kept = tuple(y_out["h"].shape[2:2 + conv.spatial_dims - octave])
        grid = {"hh": y_out["h"], "lh": x_in.get("l")}.get(path_name, y_out.get("l"))
        paths[path_name] = conv_macs(n, target, kept + tuple(grid.shape[-octave:]), per_group(source), k)
    return LayerCount(name, "octconv", _params(conv), sum(paths.values()), numel(output), paths,
                      _octconv_other_work(conv, x, output), conv.alpha_in, conv.alpha_out,
                      g.stride, conv.depthwise, conv.design.downsample, conv.dropped_params(),
                      transposed=conv.transposed)


def _octconv_other_work(conv: OctConvNd, x, output) -> dict[str, int]:
    """Pooling, upsampling and path sums of the paths' routes, from the tensor shapes (an input pooled
    once is shared by every path that reads it; a pool reads 2 inputs per output and octave dim)."""
    inputs, outputs = _branches(x), _branches(output)
    routes = {name: conv.route(name) for name in conv.active_paths()}
    pooled = {(name[0], level) for name, route in routes.items() for level in range(1, route.pools + 1)}
    octave = conv.octave_dims
    pool = 0
    for branch, level in pooled:
        n, channels, *sizes = inputs[branch].shape
        kept, halved = sizes[: len(sizes) - octave], sizes[len(sizes) - octave:]
        positions = math.prod(kept) * math.prod(pooled_size(s, level) for s in halved)
        pool += 2 ** octave * n * channels * positions
    upsample = sum(numel(outputs["h"]) for route in routes.values() if route.upsample)
    add = sum(numel(outputs[branch]) for branch in outputs if sum(name[1] == branch for name in routes) == 2)
    return {"pool": pool, "upsample": upsample, "add": add}


def count_cond_conv(name: str, conv: nn.Module, inputs, output) -> LayerCount:
    """timm's CondConv2d: each sample's kernel is its routing weights times the experts' kernels (a matmul of
    batch x experts x kernel size, and the same for the bias), then a plain conv with that kernel."""
    n, experts = output.shape[0], conv.num_experts
    mixing = n * experts * (conv.weight[0].numel() + (conv.out_channels if conv.bias is not None else 0))
    macs = conv_macs(n, conv.out_channels, tuple(output.shape[2:]), conv.in_channels // conv.groups,
                     conv.kernel_size)
    return LayerCount(name, "conv", _params(conv), macs + mixing, output.numel(), stride=_stride(conv),
                      depthwise=conv.groups > 1 and conv.groups == conv.in_channels)


def count_attention(name: str, attention: nn.MultiheadAttention, inputs, output) -> LayerCount:
    """nn.MultiheadAttention: its four projections (linear layers: query, key, value, output) and the two
    matmuls of attention (scores Q·Kᵀ and their weighted sum of V), each (query rows x key rows x embed dim) per
    sample, as FlopCounterMode counts them. ``inputs``: query, key, value (self-attention where key is missing)."""
    query, key = inputs[0], inputs[1] if len(inputs) > 1 else inputs[0]
    embed, kdim, vdim = attention.embed_dim, attention.kdim, attention.vdim
    batch = (query.shape[0] if attention.batch_first else query.shape[1]) if query.dim() == 3 else 1
    rows, key_rows = query.numel() // embed, key.numel() // kdim  # batch x sequence
    projections = rows * embed * embed * 2 + key_rows * (kdim + vdim) * embed
    macs = projections + 2 * rows * (key_rows // batch) * embed
    attended = output[0] if isinstance(output, tuple) else output
    return LayerCount(name, "linear", _params(attention), macs, numel(attended))


def _conv_at(conv: nn.Module, batch: int, positions: tuple[int, ...]) -> int:
    """MACs of a (non-transposed) conv producing ``positions`` output positions."""
    return conv_macs(batch, conv.out_channels, positions, conv.in_channels // conv.groups, conv.kernel_size)


def count_blur_pool(name: str, blur: nn.Module, inputs, output) -> LayerCount:
    """timm's BlurPool2d: a depthwise conv with a fixed binomial filter (a buffer, no params): each output element
    reads filt_size² inputs, as FlopCounterMode and fvcore count its F.conv2d."""
    macs = output.numel() * blur.filt_size ** 2
    return LayerCount(name, "conv", _params(blur), macs, output.numel(), stride=blur.stride, depthwise=True)


def count_bilinear_attention(name: str, bat: nn.Module, inputs, output) -> LayerCount:
    """timm's BilinearAttnTransform (BAT): its convs (1x1 conv1 and conv2 over the map, conv_p and conv_q over the
    pooled block_size x 1 and 1 x block_size maps, each giving one position) and the two matmuls of the map by its
    row and column transforms: (H x H) · (H x W) and (H x W) · (W x W) per channel."""
    n, c, h, w = inputs[0].shape
    convs = _conv_at(bat.conv1.conv, n, (h, w)) + _conv_at(bat.conv2.conv, n, (h, w))
    pooled = _conv_at(bat.conv_p, n, (1, 1)) + _conv_at(bat.conv_q, n, (1, 1))
    matmuls = n * c * h * w * (h + w)
    return LayerCount(name, "conv", _params(bat), convs + pooled + matmuls, output.numel())


def count_attention_pool(name: str, pool: nn.Module, inputs, output) -> LayerCount:
    """timm's AttentionPool2d / RotAttentionPool2d (CLIP's head): the H·W tokens and their mean as one more token
    through the q, k, v projections (linear), the two matmuls of attention, (tokens x tokens x embed dim) each per
    sample, and the output projection over every token (skipped with ``pre_logits``)."""
    n, _, h, w = inputs[0].shape
    tokens = h * w + 1
    linears = [m for m in (getattr(pool, n, None) for n in ("qkv", "q", "k", "v")) if m is not None]
    macs = sum(n * tokens * m.in_features * m.out_features for m in linears) + 2 * n * tokens ** 2 * pool.embed_dim
    pre_logits = len(inputs) > 1 and bool(inputs[1])
    if isinstance(pool.proj, nn.Linear) and not pre_logits:
        macs += n * tokens * pool.proj.in_features * pool.proj.out_features
    return LayerCount(name, "linear", _params(pool), macs, numel(output))


# Module rules, looked up along the class hierarchy (every octave conv, and every torch conv, counts alike).
MODULE_RULES = {
    OctConvNd: count_octconv,
    nn.modules.conv._ConvNd: count_conv,
    nn.Linear: count_linear,
    nn.MultiheadAttention: count_attention,
}
# Layers of optional libraries, by library and class name (so that they stay optional)
NAMED_RULES = {("timm", "CondConv2d"): count_cond_conv, ("timm", "BlurPool2d"): count_blur_pool,
               ("timm", "BilinearAttnTransform"): count_bilinear_attention,
               ("timm", "AttentionPool2d"): count_attention_pool, ("timm", "RotAttentionPool2d"): count_attention_pool}
# Layers whose rule counts attention matmuls (what fvcore's cross-check adds from its attention operators)
ATTENTION_RULES = (count_attention, count_attention_pool)


def module_rule(module: nn.Module):
    for cls in type(module).__mro__:
        if cls in MODULE_RULES:
            return MODULE_RULES[cls]
        if (rule := NAMED_RULES.get((cls.__module__.partition(".")[0], cls.__name__))) is not None:
            return rule
    return None


# Function rules: parameter-free work done between layers (residual adds, pooling, norms).
def _window(kernel, dims: int) -> int:
    """Inputs one pooled output reads: a ``dims``-dim window (an int kernel is that size in every dim)."""
    return math.prod(kernel) if isinstance(kernel, tuple | list) else kernel ** dims


def _pool_work(args, kwargs, output) -> tuple[str, int]:
    kernel = kwargs.get("kernel_size", args[1] if len(args) > 1 else 1)
    first = output.high if isinstance(output, OctPair) else output
    return "pool", numel(output) * _window(kernel, first.dim() - 2)


def _read_input(args, kwargs, output) -> tuple[str, int]:
    return "pool", numel(args[0])


FUNCTION_RULES = {
    **dict.fromkeys((F.max_pool1d, F.avg_pool1d, F.max_pool2d, F.avg_pool2d, F.max_pool3d, F.avg_pool3d),
                    _pool_work),
    **dict.fromkeys((F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d), _read_input),
    F.interpolate: lambda args, kwargs, output: ("upsample", numel(output)),
    F.batch_norm: lambda args, kwargs, output: ("bn", numel(output)),
}
for _add in (torch.add, torch.Tensor.add, torch.Tensor.add_, torch.Tensor.__add__, torch.Tensor.__radd__,
             torch.Tensor.__iadd__):
    FUNCTION_RULES[_add] = lambda args, kwargs, output: ("add", numel(output))
