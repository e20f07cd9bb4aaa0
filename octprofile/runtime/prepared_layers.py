"""Inference-only layers that ``prepare`` puts in place of a conv (and the batch norm folded into it).

Each is built from a layer of a built model and holds a snapshot: weights folded and reordered when
it is made, kernels made once per input shape. It has no parameters and never reads the layer it
came from again, so later changes to that layer are not seen (prepare again after changing weights).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from octprofile.nn import OctConv2d, OctPair, pool2x, upsample2x
from octprofile.nn.pair import PooledInputs, pooled_size
from octprofile.runtime.folding import fold
from octprofile.runtime.kernels import channels_last, make_kernel

MAX_CACHED_SHAPES = 8  # input shapes per layer whose kernels are kept


class _ShapeCache:
    """Kernels (or plans) by input shape, made on first use of each shape."""

    def __init__(self, make) -> None:
        self._make = make
        self._made: dict = {}

    def __call__(self, key):
        found = self._made.get(key)
        if found is None:
            if len(self._made) >= MAX_CACHED_SHAPES:
                self._made.clear()
            found = self._made[key] = self._make(key)
        return found

    def made(self) -> list:
        """What was made so far, one per input shape seen."""
        return list(self._made.values())


def _pooled(shape: torch.Size, times: int = 1) -> torch.Size:
    n, c, h, w = shape
    return torch.Size((n, c, pooled_size(h, times), pooled_size(w, times)))


def add_upsampled_(y: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``y += upsample2x(q, y.shape[-2:])`` in place. For even sizes ``q`` is broadcast over a view of
    ``y``'s 2x2 blocks, which reads ``q`` once and never materialises the upsampled map."""
    height, width = y.shape[-2:]
    if height % 2 or width % 2:
        return y.add_(upsample2x(q, y.shape[-2:]))
    blocks = y.unflatten(3, (width // 2, 2)).unflatten(2, (height // 2, 2))
    blocks.add_(q[:, :, :, None, :, None])
    return y


class PreparedConv2d(nn.Module):
    """An ``nn.Conv2d`` (with the batch norm after it folded in, if any) on prepared kernels."""

    def __init__(self, conv: nn.Conv2d, norm: nn.BatchNorm2d | None = None) -> None:
        super().__init__()
        with torch.no_grad():
            self.weight, self.bias = (t.detach().clone() if t is not None else None
                                      for t in fold(conv.weight, conv.bias, norm))
        self.stride, self.dilation, self.groups = conv.stride, conv.dilation, conv.groups
        # Numeric zero padding goes to the kernel; anything else ('same', reflect, ...) is applied first,
        # exactly as nn.Conv2d pads, and the kernel runs unpadded.
        self.explicit_padding = isinstance(conv.padding, str) or conv.padding_mode != "zeros"
        self.padding = (0, 0) if self.explicit_padding else tuple(conv.padding)
        self.pad_amounts = conv._reversed_padding_repeated_twice
        self.pad_mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
        self.folded = norm is not None
        self._kernels = _ShapeCache(lambda shape: make_kernel(self.weight, self.bias, self.stride, self.padding,
                                                              self.dilation, self.groups, shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.explicit_padding:
            x = F.pad(x, self.pad_amounts, mode=self.pad_mode)
        x = channels_last(x)
        return self._kernels(x.shape)(x)

    def extra_repr(self) -> str:
        out_channels, in_per_group, *kernel = self.weight.shape
        return (f"{in_per_group * self.groups}, {out_channels}, kernel={tuple(kernel)}, stride={self.stride}, "
                f"folded_norm={self.folded}")


class PreparedOctConv2d(nn.Module):
    """An ``OctConv2d`` (with its branch norms folded in, if any) evaluated by a plan per input shape."""

    def __init__(self, conv: OctConv2d, norm: nn.Module | None = None) -> None:
        super().__init__()
        self.in_split, self.out_split, self.geometry = conv.in_split, conv.out_split, conv.geometry
        self.split_rule = conv.split_rule
        self.path_groups = {name: path.groups for name, path in conv.paths().items()}
        self.routes = {name: conv.route(name) for name in conv.paths()}
        self.pooling = conv.design.downsample == "pool"
        with torch.no_grad():
            self.terms = _folded_paths(conv, norm)
        self.folded = norm is not None
        self._plans = _ShapeCache(self._plan)

    def _plan(self, key):
        high_shape, low_shape = key
        plan = {"strided": StridedPlan, "low-cat": LowCatPlan, "paths": PathsPlan}[plan_name(self)]
        return plan(self, high_shape, low_shape)

    def kernel(self, weight, bias, input_shape, groups: int, stride: int = 1):
        """A kernel for one path conv (or several stacked): stride 1, but for strided down-sampling."""
        g = self.geometry
        return make_kernel(weight, bias, (stride, stride), g.padding, g.dilation, groups, input_shape)

    def forward(self, x):
        if isinstance(x, OctPair):
            x_h, x_l = channels_last(x.high), channels_last(x.low)
        else:
            x_h, x_l = channels_last(x), None
        y_h, y_l = self._plans((x_h.shape, x_l.shape if x_l is not None else None))(x_h, x_l)
        return y_h if y_l is None else OctPair(y_h, y_l, self.split_rule)

    def plans(self) -> list:
        """The plans made so far (one per input shape seen); each names its kernels in ``kernels`` by the
        paths they compute ("hh", "hl+ll"...), for profiling."""
        return self._plans.made()

    def extra_repr(self) -> str:
        return (f"in={self.in_split.high}+{self.in_split.low}, out={self.out_split.high}+{self.out_split.low}, "
                f"stride={self.geometry.stride}, paths={','.join(self.terms)}, folded_norm={self.folded}")


def plan_name(conv: PreparedOctConv2d) -> str:
    """Which formulation evaluates this layer: ``strided`` (StridedPlan), ``low-cat`` (LowCatPlan) or
    ``paths`` (PathsPlan); the deploy form (``runtime/deploy.py``) follows the same choice."""
    terms = conv.terms
    # StridedPlan needs both branches to read the same sources: H->L exists, L->L iff L->H
    same_sources = not conv.out_split.low or ("hl" in terms and ("lh" in terms) == ("ll" in terms))
    dense = conv.geometry.groups == 1 and conv.pooling  # the fused plans pool every input
    if dense and conv.geometry.stride == 2 and same_sources:
        return "strided"
    if dense and conv.geometry.stride == 1 and {"hl", "ll"} <= set(terms):
        return "low-cat"
    return "paths"


def _folded_paths(conv: OctConv2d, norm) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
    """Each path's weight and bias with the branch norm folded in; one path per branch carries the
    branch's shift (H->H for high; L->L, else H->L, for low)."""
    norms = {} if norm is None else {"h": norm.high, "l": norm.low} if hasattr(norm, "low") else {"h": norm}
    paths = conv.paths()
    carrier = {"h": "hh", "l": "ll" if "ll" in paths else "hl"}
    terms = {}
    for name, path in paths.items():
        weight, bias = fold(path.weight, path.bias, norms.get(name[1]), carries_shift=carrier[name[1]] == name)
        terms[name] = (weight.detach().clone(), bias.detach().clone() if bias is not None else None)
    return terms


def _sum_bias(biases: list):
    present = [b for b in biases if b is not None]
    return sum(present[1:], present[0]) if present else None


class PathsPlan:
    """Any configuration (grouped, depthwise, dropped paths, strided down-sampling): one kernel per path
    on its route (see ``OctConv2d.route``), the paths into a branch accumulating into the first one's
    output; L->H at stride 1 is added through a broadcast view instead of being upsampled.
    Pooling, stride 1:  Y_H = hh(X_H) + up(lh(X_L));  Y_L = ll(X_L) + hl(pool X_H).
    Pooling, stride 2:  P = pool X_H;  Y_H = hh(P) + lh(X_L);  Y_L = ll(pool X_L) + hl(pool P).
    """

    def __init__(self, conv: PreparedOctConv2d, high_shape, low_shape) -> None:
        self.routes = conv.routes
        self.has_low = bool(conv.out_split.low)
        shapes = {"h": high_shape, "l": low_shape}
        self.kernels = {name: conv.kernel(*conv.terms[name], _pooled(shapes[name[0]], route.pools),
                                          conv.path_groups[name], route.stride)
                        for name, route in self.routes.items()}

    def __call__(self, x_h, x_l):
        k, routes = self.kernels, self.routes
        inputs = PooledInputs(x_h, x_l)

        def read(name: str) -> torch.Tensor:
            return inputs(name[0], routes[name].pools)

        y_h = k["hh"](read("hh"))
        if "lh" in k:
            if routes["lh"].upsample:
                add_upsampled_(y_h, k["lh"](x_l))
            else:
                k["lh"].accumulate_(y_h, read("lh"))
        if not self.has_low:
            return y_h, None
        y_l = k["ll"](read("ll")) if "ll" in k else None
        if "hl" in k:
            y_l = k["hl"](read("hl")) if y_l is None else k["hl"].accumulate_(y_l, read("hl"))
        return y_h, y_l


class LowCatPlan:
    """Dense stride 1 with H->L and L->L: both paths into the low branch read the low grid, so they run
    as one conv over the concatenated inputs (one call instead of two, and no accumulation pass):
    Y_L = f([pool X_H, X_L]; [W_HL | W_LL]);  Y_H = hh(X_H), += up(lh(X_L)) through a broadcast view.
    Measured on resnet50 alpha 0.5 (2 AVX-512 cores, eager): 0.99 -> 0.93 of vanilla at batch 1,
    0.73 -> 0.69 at batch 8."""

    def __init__(self, conv: PreparedOctConv2d, high_shape, low_shape) -> None:
        terms = conv.terms
        high_terms = [terms[n] for n in ("hh", "lh") if n in terms]
        self.high = conv.kernel(*terms["hh"][:1], _sum_bias([b for _, b in high_terms]), high_shape, groups=1)
        self.lh = conv.kernel(terms["lh"][0], None, low_shape, groups=1) if "lh" in terms else None
        (w_hl, b_hl), (w_ll, b_ll) = terms["hl"], terms["ll"]
        cat_shape = torch.Size((low_shape[0], w_hl.shape[1] + w_ll.shape[1], *low_shape[2:]))
        self.low = conv.kernel(torch.cat([w_hl, w_ll], 1), _sum_bias([b_hl, b_ll]), cat_shape, groups=1)
        self.kernels = {"hh": self.high, "hl+ll": self.low, **({"lh": self.lh} if self.lh else {})}

    def __call__(self, x_h, x_l):
        y_l = self.low(torch.cat([pool2x(x_h), x_l], 1))
        y_h = self.high(x_h)
        if self.lh is not None:
            add_upsampled_(y_h, self.lh(x_l))
        return y_h, y_l


class StridedPlan:
    """Dense stride 2: all inputs are pooled to the output grids first, so the paths into a branch read
    one grid and run as one conv over the concatenated inputs (conv is linear in its input channels):
    C = [pool X_H, X_L];  Y_H = f(C; [W_HH | W_LH]);  Y_L = f(pool C; [W_HL | W_LL])."""

    def __init__(self, conv: PreparedOctConv2d, high_shape, low_shape) -> None:
        terms = conv.terms
        self.uses_low = "lh" in terms
        self.has_low = bool(conv.out_split.low)
        pooled = _pooled(high_shape)
        cat_shape = pooled if not self.uses_low else torch.Size((*pooled[:1], pooled[1] + low_shape[1], *pooled[2:]))
        high_terms = [terms[n] for n in ("hh", "lh") if n in terms]
        self.high = conv.kernel(torch.cat([w for w, _ in high_terms], 1), _sum_bias([b for _, b in high_terms]),
                                cat_shape, groups=1)
        if self.has_low:
            low_terms = [terms[n] for n in ("hl", "ll") if n in terms]
            self.low = conv.kernel(torch.cat([w for w, _ in low_terms], 1), _sum_bias([b for _, b in low_terms]),
                                   _pooled(cat_shape), groups=1)
        self.kernels = {"+".join(n for n in ("hh", "lh") if n in terms): self.high,
                        **({"+".join(n for n in ("hl", "ll") if n in terms): self.low} if self.has_low else {})}

    def __call__(self, x_h, x_l):
        grid = pool2x(x_h)
        if self.uses_low:
            grid = torch.cat([grid, x_l], 1)
        y_h = self.high(grid)
        return y_h, self.low(pool2x(grid)) if self.has_low else None
