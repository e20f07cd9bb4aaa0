"""The deploy form: a rewritten copy whose graph already holds the fusions eager applies at run time.

Graph compilers (torch.compile, ONNX Runtime, OpenVINO) see the built model's ops and cannot merge an
octave layer's paths themselves: a conv over ``cat[pool X_H, X_L]`` is not a pattern any of them looks for.
``deploy_form`` writes those formulations into ordinary modules, so every backend that traces the model
gets them:

* generic, applied alike to vanilla and Oct: each batch norm that only reads a conv is folded into it;
* octave-specific (the plans of ``runtime/prepared_layers.py``, chosen the same way by ``plan_name``):
  at stride 1, H->L and L->L as one conv over ``cat[pool X_H, X_L]`` (``low-cat``); at stride 2, every
  input pooled to the output grids and each branch one conv over the concatenation (``strided``); other
  layers (depthwise, grouped, dropped paths, strided down-sampling) keep their paths, norms folded.

The copy computes the built model's function (within float rounding) with the same MACs: each merged
conv is the sum of the paths it replaces, weight by weight.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from octprofile.nn import OctConv2d, OctPair, pool2x, upsample2x
from octprofile.runtime.carriable import carriable, left_alone_note
from octprofile.runtime.folding import foldable_pairs
from octprofile.runtime.prepared_layers import _folded_paths, plan_name


def _conv(weight: torch.Tensor, bias: torch.Tensor | None, geometry, stride: int = 1) -> nn.Conv2d:
    """A dense conv holding ``weight`` and ``bias``, with the octave layer's kernel, padding and dilation."""
    out_channels, in_channels = weight.shape[:2]
    conv = nn.Conv2d(in_channels, out_channels, geometry.kernel_size, stride, geometry.padding, geometry.dilation,
                     bias=bias is not None, device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(weight)
        if bias is not None:
            conv.bias.copy_(bias)
    return conv.requires_grad_(False)


def _summed_bias(*biases: torch.Tensor | None) -> torch.Tensor | None:
    present = [b for b in biases if b is not None]
    return sum(present[1:], present[0]) if present else None


class LowCatOctConv2d(nn.Module):
    """Stride 1 with H->L and L->L:  Y_L = low(cat[pool X_H, X_L]);  Y_H = hh(X_H) + up(lh(X_L))."""

    def __init__(self, terms: dict, geometry, split_rule) -> None:
        super().__init__()
        self.split_rule = split_rule
        (w_hh, b_hh), (w_hl, b_hl), (w_ll, b_ll) = terms["hh"], terms["hl"], terms["ll"]
        w_lh, b_lh = terms.get("lh", (None, None))
        self.hh = _conv(w_hh, _summed_bias(b_hh, b_lh), geometry)
        self.lh = _conv(w_lh, None, geometry) if w_lh is not None else None
        self.low = _conv(torch.cat([w_hl, w_ll], 1), _summed_bias(b_hl, b_ll), geometry)
        self.path_groups = ["hh", "lh", "hl+ll"] if self.lh is not None else ["hh", "hl+ll"]  # the paths each conv does

    def forward(self, x: OctPair) -> OctPair:
        y_h = self.hh(x.high)
        if self.lh is not None:
            y_h = y_h + upsample2x(self.lh(x.low), y_h.shape[-2:])
        return OctPair(y_h, self.low(torch.cat([pool2x(x.high), x.low], 1)), self.split_rule)


class StridedOctConv2d(nn.Module):
    """Stride 2, every input pooled to the output grids first:
    C = cat[pool X_H, X_L];  Y_H = high(C);  Y_L = low(pool C)."""

    def __init__(self, terms: dict, geometry, has_low: bool, split_rule) -> None:
        super().__init__()
        self.split_rule = split_rule
        self.uses_low = "lh" in terms
        high = [terms[name] for name in ("hh", "lh") if name in terms]
        self.high = _conv(torch.cat([w for w, _ in high], 1), _summed_bias(*(b for _, b in high)), geometry)
        low = [terms[name] for name in ("hl", "ll") if name in terms] if has_low else []
        self.low = _conv(torch.cat([w for w, _ in low], 1), _summed_bias(*(b for _, b in low)), geometry) if low \
            else None
        self.path_groups = [group for group in ("+".join(n for n in ("hh", "lh") if n in terms),
                                                "+".join(n for n in ("hl", "ll") if n in terms and has_low)) if group]

    def forward(self, x):
        grid = pool2x(x.high if isinstance(x, OctPair) else x)
        if self.uses_low:
            grid = torch.cat([grid, x.low], 1)
        y_h = self.high(grid)
        return y_h if self.low is None else OctPair(y_h, self.low(pool2x(grid)), self.split_rule)


class _Terms:
    """What ``plan_name`` reads of a layer: its folded paths, splits, geometry and down-sampling."""

    def __init__(self, conv: OctConv2d, norm) -> None:
        self.terms = _folded_paths(conv, norm)
        self.out_split, self.geometry = conv.out_split, conv.geometry
        self.pooling = conv.design.downsample == "pool"


def _with_folded_paths(conv: OctConv2d, terms: dict) -> OctConv2d:
    """``conv`` (a copy) whose path convs hold the folded weights, each with the bias it now needs."""
    conv = copy.deepcopy(conv)
    for name, (weight, bias) in terms.items():
        path = getattr(conv, name)
        folded = nn.Conv2d(path.in_channels, path.out_channels, path.kernel_size, path.stride, path.padding,
                           path.dilation, path.groups, bias=bias is not None, device=weight.device, dtype=weight.dtype)
        with torch.no_grad():
            folded.weight.copy_(weight)
            if bias is not None:
                folded.bias.copy_(bias)
        setattr(conv, name, folded.requires_grad_(False))
    return conv


DEPLOYED_LAYERS = (LowCatOctConv2d, StridedOctConv2d)  # layers whose convs each do several paths


def deploy_octconv(conv: OctConv2d, norm=None) -> nn.Module:
    """The deploy form of one octave layer (with the norm that reads it folded in, if any)."""
    layer = _Terms(conv, norm)
    plan = plan_name(layer)
    if plan == "low-cat":
        return LowCatOctConv2d(layer.terms, conv.geometry, conv.split_rule)
    if plan == "strided":
        return StridedOctConv2d(layer.terms, conv.geometry, bool(conv.out_split.low), conv.split_rule)
    return _with_folded_paths(conv, layer.terms)


@torch.no_grad()
def deploy_form(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """``model`` (an eval-mode copy, changed in place) in its deploy form, and notes saying what changed."""
    if isinstance(model, OctConv2d | nn.Conv1d | nn.Conv2d | nn.Conv3d):  # a lone layer: no tree to rewrite
        model = nn.Sequential(model)
    pairs = dict(foldable_pairs(model))
    plans: dict[str, int] = {}
    folded = 0
    for conv_name, norm_name in pairs.items():
        conv, norm = model.get_submodule(conv_name), model.get_submodule(norm_name)
        if isinstance(conv, OctConv2d):
            continue  # rewritten with its norm below
        model.set_submodule(conv_name, fuse_conv_bn_eval(conv, norm).requires_grad_(False))
        model.set_submodule(norm_name, nn.Identity())
        folded += 1
    left_alone: list[tuple[str, nn.Module]] = []
    for name, module in list(model.named_modules()):
        if any(name.startswith(prefix + ".") for prefix, _ in left_alone):
            continue  # inside a layer that runs as built
        if isinstance(module, OctConv2d | nn.Conv2d) and not carriable(module):
            left_alone.append((name, module))
        elif isinstance(module, OctConv2d):
            norm = model.get_submodule(pairs[name]) if name in pairs else None
            plan = plan_name(_Terms(module, norm))
            plans[plan] = plans.get(plan, 0) + 1
            model.set_submodule(name, deploy_octconv(module, norm))
            if norm is not None:
                model.set_submodule(pairs[name], nn.Identity())
                folded += 1
    circular = _explicit_circular_padding(model)
    notes = [f"deploy form: {folded} batch norms folded into their convs", *left_alone_note(left_alone)]
    if circular:
        notes.append(f"deploy form: {circular} circular-padded convs pad by concatenation, then convolve unpadded")
    if plans:
        described = {"low-cat": "H→L and L→L as one conv over cat[pool X_H, X_L]",
                     "strided": "stride-2 paths merged into one conv per branch over the pooled concatenation",
                     "paths": "paths kept (depthwise, grouped or dropped paths)"}
        notes.append("deploy form, octave-specific: " + "; ".join(
            f"{count} OctConv2d {described[plan]}" for plan, count in sorted(plans.items())))
    return model, notes


class CircularPad(nn.Module):
    """Circular padding as slices and concatenations (what ``F.pad(mode='circular')`` computes), amounts in
    ``F.pad``'s order (last dimension first). Inductor's freezing pass cannot compile the circular pad op itself,
    and OpenVINO's conversion of it holds the batch size fixed; a concatenation compiles and reshapes anywhere."""

    def __init__(self, amounts) -> None:
        super().__init__()
        self.amounts = tuple(amounts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(len(self.amounts) // 2):
            dim = x.dim() - 1 - i
            before, after = self.amounts[2 * i], self.amounts[2 * i + 1]
            size = x.shape[dim]
            parts = [x.narrow(dim, size - before, before)] if before else []
            parts += [x, x.narrow(dim, 0, after)] if after else [x]
            x = torch.cat(parts, dim) if len(parts) > 1 else x
        return x


def _explicit_circular_padding(model: nn.Module) -> int:
    """Each stock conv with ``padding_mode='circular'`` (one its rewrite may carry) replaced, in place, by
    ``CircularPad`` then the conv unpadded; how many."""
    found = [(name, module) for name, module in model.named_modules()
             if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d) and module.padding_mode == "circular"
             and carriable(module)]
    for name, conv in found:
        unpadded = copy.deepcopy(conv)
        unpadded.padding, unpadded.padding_mode = (0,) * len(conv.kernel_size), "zeros"
        unpadded._reversed_padding_repeated_twice = [0] * (2 * len(conv.kernel_size))
        model.set_submodule(name, nn.Sequential(CircularPad(conv._reversed_padding_repeated_twice), unpadded))
    return len(found)
