"""Fast inference for octave (and vanilla) models: same parameters, same outputs, fewer and cheaper ops.

``accelerate(model)`` swaps, in place, the class of every ``OctConv2d``, ``OctBatchNorm2d``, ``nn.Conv2d`` and
``nn.BatchNorm2d`` for a twin that keeps the module's parameters, buffers and configuration attributes
(the MAC counter reads those) and only changes how an eval-mode forward without autograd is computed.
With gradients, or in training mode, every twin runs the reference forward, so training is untouched.

The fast forward, in order of what it saves on a 2-core CPU:

* weights prepared once and cached: a 1x1 conv becomes one matrix product on the channels_last rows
  (no im2col, no weight reorder); other convs run oneDNN on weights reordered once, where eager
  ``F.conv2d`` reorders them on every call;
* batch norm folded into the conv that feeds it (scale into the weights, shift into the bias) when
  the norm is that conv's only consumer; the norm then passes the conv's output through;
* channels_last end to end (the input is converted once, by the first conv);
* octave paths that write the same branch accumulate into one buffer in place (GEMM ``beta=1`` or the
  oneDNN sum post-op) instead of allocating a map per path and adding; the L->H term is added
  through a broadcast view of the 2x2 blocks instead of materialising the upsampled map.

The caches hold derived tensors only (never parameters): they are rebuilt when a parameter or
statistic changes (data pointer or version counter), dropped by ``train()``, ``.to()`` and pickling.
Generic parts (the first three) apply to vanilla models alike: ``accelerate(vanilla)`` is the
like-for-like baseline for the octave-specific gain.
"""

from __future__ import annotations

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from octprofile.nn.norm import OctBatchNorm2d
from octprofile.nn.octconv import OctConv2d
from octprofile.nn.pair import OctPair, pool2x, upsample2x

CHANNELS_LAST = torch.channels_last
# A 1x1 conv runs as a plain GEMM up to this many output pixels (N*H*W) and weights; beyond, oneDNN's
# blocked kernels win (measured on 2 AVX2 cores: GEMM is 1.2-2x faster on the small maps of the
# octave branches, 10-25% slower on 56x56 maps at batch 8 and on the 2048x512 weights of ResNet's last stage).
MATMUL_MAX_ROWS = 4096
MATMUL_MAX_WEIGHTS = 300_000
# Below this many input elements (batch 1, ungrouped) F.conv2d's own im2col + GEMM path beats oneDNN,
# whose fixed cost per call (~40 us here) dominates such small convs; 20480 is also where PyTorch
# itself stops choosing oneDNN for batch-1 convs.
ONEDNN_MIN_INPUT = 20480
MAX_CACHED_SHAPES = 8  # input shapes per layer whose prepared kernels are kept
NORMALISED_BY = "_octprofile_normalised_by"  # tensor attribute: the norm already folded into it


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=CHANNELS_LAST)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """A channels_last map as its (N*H*W, C) matrix, without copying."""
    return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])


def add_upsampled_(y: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``y += upsample2x(q, y.shape[-2:])`` in place. For even sizes ``q`` is broadcast over a view of
    ``y``'s 2x2 blocks, which reads ``q`` once and never materialises the upsampled map."""
    height, width = y.shape[-2:]
    if height % 2 or width % 2:
        return y.add_(upsample2x(q, y.shape[-2:]))
    blocks = y.unflatten(3, (width // 2, 2)).unflatten(2, (height // 2, 2))
    blocks.add_(q[:, :, :, None, :, None])
    return y


class MatmulKernel:
    """A 1x1, stride-1, ungrouped conv as one GEMM on the channels_last rows."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.weight_t = weight.flatten(1).t().contiguous()
        self.bias = bias

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        rows = _rows(x)
        out = rows @ self.weight_t if self.bias is None else torch.addmm(self.bias, rows, self.weight_t)
        return out.view(n, h, w, -1).permute(0, 3, 1, 2)

    def accumulate_(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        _rows(out).addmm_(_rows(x), self.weight_t)  # GEMM with beta=1: no temporary, no extra pass
        return out if self.bias is None else out.add_(self.bias[:, None, None])


class OneDNNKernel:
    """A conv through oneDNN with its weight reordered once, for this input shape, into the blocked
    layout the primitive wants (eager F.conv2d repeats that reorder on every call)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, stride, padding, dilation, groups: int,
                 input_shape: torch.Size) -> None:
        self.args = (list(padding), list(stride), list(dilation), groups)
        self.weight = torch.ops.mkldnn._reorder_convolution_weight(weight, *self.args, list(input_shape))
        self.bias = bias

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._convolution_pointwise(x, self.weight, self.bias, *self.args, "none", [], None)

    def accumulate_(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # oneDNN's sum post-op: the conv adds into ``out`` as it writes it
        return torch.ops.mkldnn._convolution_pointwise_.binary(out, x, self.weight, self.bias, *self.args, "add",
                                                               None, None, [], None)


class ATenKernel:
    """``F.conv2d`` on cached (folded, channels_last) weights: any device and dtype, e.g. cuDNN on a GPU."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, stride, padding, dilation,
                 groups: int) -> None:
        self.weight = _channels_last(weight)
        self.bias = bias
        self.args = (stride, padding, dilation, groups)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, *self.args)

    def accumulate_(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return out.add_(self(x))


def make_kernel(weight: torch.Tensor, bias: torch.Tensor | None, stride, padding, dilation, groups: int,
                input_shape: torch.Size):
    """The fastest evaluation this machine has for one conv on inputs of ``input_shape``."""
    if weight.device.type != "cpu" or weight.dtype != torch.float32 or not torch.backends.mkldnn.is_available():
        return ATenKernel(weight, bias, stride, padding, dilation, groups)
    n, _, h, w = input_shape
    pointwise = weight.shape[-2:] == (1, 1) and tuple(stride) == (1, 1) and groups == 1
    if pointwise and n * h * w <= MATMUL_MAX_ROWS and weight.numel() <= MATMUL_MAX_WEIGHTS:
        return MatmulKernel(weight, bias)
    if n == 1 and groups == 1 and input_shape.numel() <= ONEDNN_MIN_INPUT:
        return ATenKernel(weight, bias, stride, padding, dilation, groups)
    return OneDNNKernel(weight, bias, stride, padding, dilation, groups, input_shape)


def bn_scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode batch norm as ``x * scale + shift`` per channel."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    return scale, shift if bn.bias is None else shift + bn.bias


class _FastPath:
    """Shared machinery of the twins: when the fast path applies, and the cache of prepared kernels."""

    def _fast_path_applies(self, x: torch.Tensor) -> bool:
        """Eval mode on real data, no autograd, no autocast, not traced or compiled; otherwise the
        reference forward runs, so meta-tensor shape tracing, torch.jit.trace (fvcore) and
        torch.compile see the reference ops."""
        return not (self.training or torch.is_grad_enabled() or x.is_meta or torch.jit.is_tracing()
                    or torch.compiler.is_compiling() or torch.is_autocast_enabled(x.device.type))

    def _watched(self) -> list[torch.Tensor]:
        """The tensors the cached kernels derive from: own parameters and those of a folded norm."""
        tensors = _direct_tensors(self)
        if self._folding():
            tensors += _direct_tensors(self.__dict__["_folded_norm"])
        return tensors

    def _prepared(self, key: tuple):
        """What ``_prepare`` made for inputs described by ``key``, rebuilt when a watched tensor changed."""
        try:
            stamp = tuple((t.data_ptr(), t._version) for t in self._watched())
        except RuntimeError:  # inference tensors (made under inference_mode) have no version counter,
            with torch.no_grad():  # so a cache could not notice an in-place change: prepare afresh
                return self._prepare(key)
        cache = self.__dict__.get("_fast_cache")
        if cache is None or cache[0] != stamp or len(cache[1]) > MAX_CACHED_SHAPES:
            cache = self.__dict__["_fast_cache"] = (stamp, {})
        kernels = cache[1].get(key)
        if kernels is None:
            with torch.no_grad():
                kernels = cache[1][key] = self._prepare(key)
        return kernels

    def _folding(self) -> bool:
        norm = self.__dict__.get("_folded_norm")
        return norm is not None and not norm.training

    def _mark_folded(self, output: torch.Tensor) -> None:
        """Tag ``output`` as normalised by the folded norm. The tag lives on the tensor itself, so
        concurrent forwards (threads) and other tensors reaching the norm are never confused."""
        output.__dict__[NORMALISED_BY] = self.__dict__["_folded_norm"]

    def _drop_cache(self) -> None:
        self.__dict__.pop("_fast_cache", None)

    def train(self, mode: bool = True):
        self._drop_cache()
        return super().train(mode)

    def _apply(self, fn, recurse=True):
        self._drop_cache()
        return super()._apply(fn, recurse)

    def __getstate__(self):
        state = super().__getstate__()
        return {k: v for k, v in state.items() if k != "_fast_cache"}


def _direct_tensors(module: nn.Module) -> list[torch.Tensor]:
    """Parameters and buffers of ``module`` and its direct children, read straight from their dicts:
    called on every forward, where ``module.parameters()`` would cost more than a small conv."""
    found = []
    for owner in (module, *module._modules.values()):
        if owner is not None:
            found += [t for t in (*owner._parameters.values(), *owner._buffers.values()) if t is not None]
    return found


def _fold(weight: torch.Tensor, bias: torch.Tensor | None, norm: nn.BatchNorm2d | None, carries_shift: bool):
    """``weight`` and ``bias`` with ``norm`` folded in; only one conv per output may carry the shift."""
    if norm is None:
        return weight, bias
    scale, shift = bn_scale_shift(norm)
    weight = weight * scale.view(-1, 1, 1, 1)
    bias = bias * scale if bias is not None else None
    if carries_shift:
        bias = shift if bias is None else bias + shift
    return weight, bias


def _pooled(shape: torch.Size) -> torch.Size:
    n, c, h, w = shape
    return torch.Size((n, c, (h + 1) // 2, (w + 1) // 2))


class FastConv2d(_FastPath, nn.Conv2d):
    """``nn.Conv2d`` with cached kernels (and a folded norm) for inference."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._fast_path_applies(x) or self.padding_mode != "zeros" or isinstance(self.padding, str):
            return super().forward(x)
        x = _channels_last(x)
        out = self._prepared(x.shape)(x)
        if self._folding():
            self._mark_folded(out)
        return out

    def _prepare(self, input_shape: torch.Size):
        norm = self.__dict__.get("_folded_norm") if self._folding() else None
        weight, bias = _fold(self.weight, self.bias, norm, carries_shift=True)
        return make_kernel(weight, bias, self.stride, self.padding, self.dilation, self.groups, input_shape)


class FastOctConv2d(_FastPath, OctConv2d):
    """``OctConv2d`` with its paths evaluated by a plan chosen per input shape (see the plans below)."""

    def forward(self, x):
        x_h, x_l = self._unpack(x)
        if not self._fast_path_applies(x_h):
            return super().forward(x)
        x_h = _channels_last(x_h)
        x_l = _channels_last(x_l) if x_l is not None else None
        plan = self._prepared((x_h.shape, x_l.shape if x_l is not None else None))
        y_h, y_l = plan(x_h, x_l)
        if self._folding():
            self._mark_folded(y_h)
        return y_h if y_l is None else OctPair(y_h, y_l)

    def _prepare(self, key: tuple):
        high_shape, low_shape = key
        terms = self._folded_paths()
        # StridedPlan needs both branches to read the same sources: H->L exists, L->L iff L->H
        same_sources = not self.out_split.low or ("hl" in terms and ("lh" in terms) == ("ll" in terms))
        if self.geometry.groups == 1 and self.geometry.stride == 2 and same_sources:
            return StridedPlan(self, terms, high_shape, low_shape)
        return PathsPlan(self, terms, high_shape, low_shape)

    def _folded_paths(self) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
        """Each path's weight and bias with the branch norm folded in; one path per branch carries
        the branch's shift (H->H for high; L->L, else H->L, for low)."""
        norms = self._branch_norms()
        paths = self.paths()
        carrier = {"h": "hh", "l": "ll" if "ll" in paths else "hl"}
        return {name: _fold(path.weight, path.bias, norms.get(name[1]), carries_shift=carrier[name[1]] == name)
                for name, path in paths.items()}

    def _branch_norms(self) -> dict[str, nn.BatchNorm2d]:
        if not self._folding():
            return {}
        norm = self.__dict__["_folded_norm"]
        return {"h": norm.high, "l": norm.low} if isinstance(norm, OctBatchNorm2d) else {"h": norm}

    def _kernel(self, weight, bias, input_shape, groups: int):
        """A kernel for one path conv (or several stacked), which always runs at stride 1."""
        g = self.geometry
        return make_kernel(weight, bias, (1, 1), g.padding, g.dilation, groups, input_shape)


def _sum_bias(biases: list):
    present = [b for b in biases if b is not None]
    return sum(present[1:], present[0]) if present else None


class PathsPlan:
    """Any configuration (grouped, depthwise, disabled paths): one kernel per path, the paths of a
    branch accumulating into its first one's output.

    Stride 1:  Y_H = hh(X_H), += up(lh(X_L)) through a broadcast view;  Y_L = ll(X_L), += hl(pool X_H).
    Stride 2:  P = pool X_H;  Y_H = hh(P), += lh(X_L);  Y_L = ll(pool X_L), += hl(pool P).
    """

    def __init__(self, conv: FastOctConv2d, terms: dict, high_shape, low_shape) -> None:
        self.strided = conv.geometry.stride == 2
        self.has_low = bool(conv.out_split.low)
        if self.strided:
            high_shape = _pooled(high_shape)
        inputs = {"hh": high_shape, "lh": low_shape, "hl": _pooled(high_shape),
                  "ll": _pooled(low_shape) if self.strided and low_shape is not None else low_shape}
        groups = {name: path.groups for name, path in conv.paths().items()}
        self.kernels = {name: conv._kernel(*terms[name], inputs[name], groups[name]) for name in terms}

    def __call__(self, x_h, x_l):
        k = self.kernels
        if self.strided:
            x_h = pool2x(x_h)
        y_h = k["hh"](x_h)
        if "lh" in k:
            if self.strided:  # X_L already has the output size
                k["lh"].accumulate_(y_h, x_l)
            else:
                add_upsampled_(y_h, k["lh"](x_l))
        if not self.has_low:
            return y_h, None
        y_l = k["ll"](pool2x(x_l) if self.strided else x_l) if "ll" in k else None
        if "hl" in k:
            pooled = pool2x(x_h)
            y_l = k["hl"](pooled) if y_l is None else k["hl"].accumulate_(y_l, pooled)
        return y_h, y_l


class StridedPlan:
    """Dense stride 2: all inputs are pooled to the output grids first, so the paths into a branch read
    one grid and run as one conv over the concatenated inputs (conv is linear in its input channels):
    C = [pool X_H, X_L];  Y_H = f(C; [W_HH | W_LH]);  Y_L = f(pool C; [W_HL | W_LL])."""

    def __init__(self, conv: FastOctConv2d, terms: dict, high_shape, low_shape) -> None:
        self.uses_low = "lh" in terms
        self.has_low = bool(conv.out_split.low)
        pooled = _pooled(high_shape)
        cat_shape = pooled if not self.uses_low else torch.Size((*pooled[:1], pooled[1] + low_shape[1], *pooled[2:]))
        high_terms = [terms[n] for n in ("hh", "lh") if n in terms]
        self.high = conv._kernel(torch.cat([w for w, _ in high_terms], 1), _sum_bias([b for _, b in high_terms]),
                                 cat_shape, groups=1)
        if self.has_low:
            low_terms = [terms[n] for n in ("hl", "ll") if n in terms]
            self.low = conv._kernel(torch.cat([w for w, _ in low_terms], 1), _sum_bias([b for _, b in low_terms]),
                                    _pooled(cat_shape), groups=1)

    def __call__(self, x_h, x_l):
        grid = pool2x(x_h)
        if self.uses_low:
            grid = torch.cat([grid, x_l], 1)
        y_h = self.high(grid)
        return y_h, self.low(pool2x(grid)) if self.has_low else None


class _PassesNormalised:
    """A norm that lets through, unchanged, the output its conv has already normalised."""

    def _already_normalised(self, x) -> bool:
        tags = (x.high if isinstance(x, OctPair) else x).__dict__
        if tags.get(NORMALISED_BY) is not self:
            return False
        del tags[NORMALISED_BY]  # once: the same tensor reaching this norm again is normalised again
        return True


class FastBatchNorm2d(_PassesNormalised, nn.BatchNorm2d):
    def forward(self, x):
        return x if self._already_normalised(x) else super().forward(x)


class FastOctBatchNorm2d(_PassesNormalised, OctBatchNorm2d):
    def forward(self, x):
        return x if self._already_normalised(x) else super().forward(x)


TWINS: dict[type, type] = {
    OctConv2d: FastOctConv2d,
    nn.Conv2d: FastConv2d,
    OctBatchNorm2d: FastOctBatchNorm2d,
    nn.BatchNorm2d: FastBatchNorm2d,
}


class _LayerTracer(torch.fx.Tracer):
    """Traces a model keeping convs and norms as single nodes, so their consumers can be counted."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return isinstance(module, tuple(TWINS)) or super().is_leaf_module(module, qualified_name)


def foldable_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(conv, norm) names where the norm is the conv's only consumer and each is called once; a
    model that symbolic tracing cannot follow (data-dependent control flow) gets none."""
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


def accelerate(model: nn.Module, *, fold_norms: bool = True) -> nn.Module:
    """Make ``model`` (octave or vanilla) fast for inference, in place, and return it.

    Parameters, buffers, ``state_dict`` keys and module names stay as they are; only the classes of
    the convs and norms change (to twins that subclass them) and the weights go channels_last.
    """
    pairs = foldable_pairs(model) if fold_norms else []
    for module in model.modules():
        twin = TWINS.get(type(module))
        if twin is not None:
            module.__class__ = twin  # keeps the very parameter objects an optimizer may hold
    for conv_name, norm_name in pairs:
        # a plain attribute, not a submodule: the module tree and the state_dict stay unchanged
        model.get_submodule(conv_name).__dict__["_folded_norm"] = model.get_submodule(norm_name)
    return model.to(memory_format=CHANNELS_LAST)


__all__ = ["FastBatchNorm2d", "FastConv2d", "FastOctBatchNorm2d", "FastOctConv2d", "accelerate", "add_upsampled_",
           "foldable_pairs"]
