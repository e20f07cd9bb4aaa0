"""The octave feature map: a (high, low) pair that plain PyTorch modules can pass along.

The pair is not a tuple on purpose: ``out += identity`` in torchvision's blocks would concatenate
two tuples silently. ``OctPair`` adds branch by branch instead, and through ``__torch_function__``
it lets parameter-free modules (ReLU, pooling, dropout) run unchanged on each branch, and concatenates
pairs along channels branch by branch (DenseNet). A squeeze-excitation block runs too: its global mean
concatenates the branches' means, and the gate it computes scales each branch by that branch's channels.
Anything else raises ``OctPairError``, so an unconverted layer is never run on half of a feature map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Functions that act on each branch alone with the same arguments: element-wise ops, and
# pooling (a video's time pooling too: both grids share the frames), which halves both grids alike and so
# keeps the octave relation between them.
_BRANCHWISE = {
    F.relu, F.relu_, torch.relu, torch.relu_, F.relu6, F.hardtanh, F.hardtanh_, F.silu, F.gelu,
    F.leaky_relu, F.elu, F.hardswish, F.hardsigmoid, F.sigmoid, torch.sigmoid, F.tanh, torch.tanh,
    F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.max_pool1d, F.avg_pool1d, F.max_pool2d, F.avg_pool2d,
    F.max_pool3d, F.avg_pool3d, torch.Tensor.relu, torch.Tensor.relu_,
}
# Global pooling, whatever the number of dims (see ``__torch_function__``).
_GLOBAL_POOLS = {F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d}
_GLOBAL_MAX_POOLS = {F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d}
_ADDITIONS = {torch.add, torch.Tensor.add, torch.Tensor.add_, torch.Tensor.__add__,
              torch.Tensor.__radd__, torch.Tensor.__iadd__}
_MULTIPLICATIONS = {torch.mul, torch.Tensor.mul, torch.Tensor.__mul__, torch.Tensor.__rmul__}
_SPATIAL_DIMS = ({2, 3}, {-2, -1}, {2, -1}, {-2, 3})


class OctPairError(TypeError):
    """An operation that has no octave meaning was applied to an ``OctPair``."""


def octave_dims(ndim: int) -> int:
    """How many trailing dims of an ``ndim``-dim map (N, C, ...) the low grid halves: the length of a 1-d map,
    H and W of an image, and H and W of a video (N, C, T, H, W), whose frames both grids keep (see OctConv3d)."""
    return min(ndim - 2, 2)


class OctInputError(TypeError):
    """An octave layer got a tensor where its split wants a (high, low) pair (``wants_pair``), or the reverse."""

    def __init__(self, message: str, wants_pair: bool) -> None:
        super().__init__(message)
        self.wants_pair = wants_pair


def pool2x(x: torch.Tensor) -> torch.Tensor:
    """2x average pooling over the octave dims (2x2 for images and videos, 2 for sequences); an odd edge is
    averaged over the pixels it has (ceil mode)."""
    # Even sides pool without ceil mode (the same values): ONNX Runtime runs a ceil-mode AveragePool outside
    # its blocked (NCHWc) layout, with a reorder around each (8 of 63 ms on Oct-ResNet-50, 1 thread).
    ceil = any(side % 2 for side in x.shape[-octave_dims(x.dim()):])
    if x.dim() == 3:
        return F.avg_pool1d(x, 2, ceil_mode=ceil)
    if x.dim() == 5:
        return F.avg_pool3d(x, (1, 2, 2), ceil_mode=ceil)
    return F.avg_pool2d(x, 2, ceil_mode=ceil)


def pooled_size(size: int, times: int = 1) -> int:
    """A side after ``times`` 2x average pools (ceil mode, as ``pool2x``)."""
    for _ in range(times):
        size = (size + 1) // 2
    return size


def crop_to(x: torch.Tensor, size) -> torch.Tensor:
    """``x`` cut to ``size`` over its last ``len(size)`` dims (a no-op where it already has that size)."""
    if tuple(x.shape[-len(size):]) == tuple(size):
        return x
    return x[(..., *(slice(0, s) for s in size))]


class PooledInputs:
    """The (high, low) inputs of an octave layer and their pooled versions, each pooled once however many
    paths read it: ``inputs("h", 2)`` is X_H pooled twice."""

    def __init__(self, high: torch.Tensor, low: torch.Tensor | None) -> None:
        self._made = {("h", 0): high, ("l", 0): low}

    def __call__(self, branch: str, pools: int) -> torch.Tensor:
        if (branch, pools) not in self._made:
            self._made[branch, pools] = pool2x(self(branch, pools - 1))
        return self._made[branch, pools]


def upsample2x(x: torch.Tensor, size) -> torch.Tensor:
    """Nearest 2x upsampling over the octave dims, cropped to ``size`` (their sizes), so output pixel i reads
    input pixel i // 2; a video's frames are kept."""
    scale = (1.0, 2.0, 2.0) if x.dim() == 5 else 2.0
    return crop_to(F.interpolate(x, scale_factor=scale, mode="nearest"), size)


class OctPair:
    """A feature map in octave form: ``high`` at full resolution, ``low`` at half of it."""

    __slots__ = ("high", "low")

    def __init__(self, high: torch.Tensor, low: torch.Tensor) -> None:
        self.high = high
        self.low = low

    def __iter__(self):
        yield self.high
        yield self.low

    def __repr__(self) -> str:
        return f"OctPair(high={tuple(self.high.shape)}, low={tuple(self.low.shape)})"

    @property
    def channels(self) -> int:
        return self.high.shape[1] + self.low.shape[1]

    @property
    def shape(self) -> torch.Size:
        """The shape of the map the pair stands for: every channel, on the high grid (a squeeze-excitation block
        reads the batch size from it, ECA reshapes its gate to (N, C, 1, 1) by it)."""
        return torch.Size((self.high.shape[0], self.channels, *self.high.shape[2:]))

    @property
    def ndim(self) -> int:
        return self.high.ndim

    def merged_mean(self, dims: tuple[int, ...], keepdim: bool = False) -> torch.Tensor:
        """Each channel's mean over the map the pair stands for, the low map on the high grid (upsampled as
        L->H does): a low pixel weighs the high pixels it covers. On even sides each covers 2x2, so that is the
        low map's own mean; on an odd side the last row (column) covers one, and is counted so."""
        size = tuple(self.high.shape[-len(dims):])
        low = upsample2x(self.low, size) if any(s % 2 for s in size[-octave_dims(self.high.dim()):]) else self.low
        return torch.cat([self.high.mean(dims, keepdim=keepdim), low.mean(dims, keepdim=keepdim)], dim=1)

    def like(self, other: torch.Tensor | OctPair) -> OctPair:
        """``other`` in this pair's layout; a plain tensor is split and its low part pooled."""
        if isinstance(other, OctPair):
            return other
        if not isinstance(other, torch.Tensor) or other.shape[1] != self.channels:
            what = f"a map of {other.shape[1]} channels" if isinstance(other, torch.Tensor) else type(other).__name__
            raise OctPairError(f"cannot add {what} to the (high, low) pair of {self.channels} channels: only a pair "
                               "or a map of its channels has an octave meaning")
        cut = self.high.shape[1]
        return OctPair(other[:, :cut], pool2x(other[:, cut:]))

    def plus(self, other: torch.Tensor | OctPair) -> OctPair:
        """Branchwise sum; named, so the torch-function handler below can call it without
        re-entering operator dispatch (which recurses under torch.compile)."""
        other = self.like(other)
        return OctPair(self.high + other.high, self.low + other.low)

    __add__ = __radd__ = plus

    def times(self, other) -> OctPair:
        """Branchwise product with another pair or a number; a per-channel scale (N, C, 1, 1) over the pair's
        channels (a squeeze-excitation gate) splits as the channels do: its first ``high`` entries scale the
        high map, the rest the low map. Anything else would mix the two grids."""
        high, low = self._factors(other)
        return OctPair(self.high * high, self.low * low)

    __mul__ = __rmul__ = times

    def times_(self, other) -> OctPair:
        """``times`` in place (NF-Net's skip-init gain: ``out.mul_(gain)``), each branch scaled where it lies."""
        high, low = self._factors(other)
        self.high.mul_(high)
        self.low.mul_(low)
        return self

    mul_ = __imul__ = times_

    def _factors(self, other) -> tuple:
        """What scales the high and the low branch in a product with ``other`` (see ``times``)."""
        if isinstance(other, OctPair):
            return other.high, other.low
        if isinstance(other, int | float) or (isinstance(other, torch.Tensor) and other.dim() == 0):
            return other, other
        if (isinstance(other, torch.Tensor) and other.dim() == 4 and other.shape[1] == self.channels
                and other.shape[-2:] == (1, 1)):
            cut = self.high.shape[1]
            return other[:, :cut], other[:, cut:]
        shape = tuple(other.shape) if isinstance(other, torch.Tensor) else type(other).__name__
        raise OctPairError(f"cannot multiply {self!r} by {shape}: only a pair, a number or a per-channel "
                           f"(N, {self.channels}, 1, 1) scale has an octave meaning")

    def mean(self, dim, keepdim: bool = False) -> torch.Tensor:
        """The global spatial mean (the squeeze of squeeze-excitation): each channel's mean over the map the
        pair stands for (``merged_mean``), as global average pooling (see ``__torch_function__``)."""
        dims = {dim} if isinstance(dim, int) else set(dim)
        if dims not in _SPATIAL_DIMS:
            raise OctPairError(f"mean over dims {dim} has no octave version; only the global spatial mean (2, 3) has")
        return self.merged_mean((2, 3), keepdim)

    def __iadd__(self, other):
        other = self.like(other)
        self.high += other.high
        self.low += other.low
        return self

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _ADDITIONS:
            first, second = args[0], args[1]
            pair = first if isinstance(first, OctPair) else second
            return pair.plus(second if pair is first else first)
        if func in _MULTIPLICATIONS:
            first, second = args[0], args[1]
            pair = first if isinstance(first, OctPair) else second
            return pair.times(second if pair is first else first)
        if func in (torch.Tensor.mul_, torch.Tensor.__imul__) and isinstance(args[0], OctPair):
            return args[0].times_(args[1])
        if func in (torch.mean, torch.Tensor.mean) and isinstance(args[0], OctPair):
            dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
            keepdim = kwargs.get("keepdim", args[2] if len(args) > 2 else False)
            if dim is None:
                raise OctPairError("mean over every dimension has no octave version")
            return args[0].mean(dim, keepdim)
        if func is torch.cat and _concatenates_pairs(args, kwargs):
            # Branch by branch, as the reference concatenates (DenseNet): high with high, low with low.
            pairs = args[0]
            return OctPair(torch.cat([p.high for p in pairs], 1), torch.cat([p.low for p in pairs], 1))
        if func in _BRANCHWISE and isinstance(args[0], OctPair):
            rest = args[1:]
            return OctPair(func(args[0].high, *rest, **kwargs), func(args[0].low, *rest, **kwargs))
        if func in _GLOBAL_POOLS and _is_global(args, kwargs):
            # Global pooling of the merged map: each channel's mean over its branch, weighted by area
            pair = args[0]
            dims = tuple(range(2, pair.high.dim()))
            return pair.merged_mean(dims, keepdim=True)
        if func in _GLOBAL_MAX_POOLS and _is_global(args, kwargs) and not kwargs.get("return_indices"):
            # upsampling repeats pixels, so the merged map's maximum is each branch's own
            pair = args[0]
            return torch.cat([func(pair.high, 1), func(pair.low, 1)], dim=1)
        if func is torch.Tensor.expand_as and isinstance(args[1], OctPair) and isinstance(args[0], torch.Tensor):
            # a per-channel gate (N, C, 1, ...) broadcast over the pair (ECA): each branch gets its channels
            gate, pair = args
            cut = pair.high.shape[1]
            if gate.dim() != pair.ndim or gate.shape[1] != pair.channels or any(s != 1 for s in gate.shape[2:]):
                raise OctPairError(f"cannot expand {tuple(gate.shape)} over {pair!r}: only a per-channel scale "
                                   f"(N, {pair.channels}, 1, 1) has an octave meaning")
            return OctPair(gate[:, :cut].expand_as(pair.high), gate[:, cut:].expand_as(pair.low))
        raise OctPairError(f"{_qualified(func)} on the map has no octave version")


def _concatenates_pairs(args, kwargs) -> bool:
    dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
    return dim == 1 and all(isinstance(part, OctPair) for part in args[0])


def _is_global(args, kwargs) -> bool:
    size = kwargs.get("output_size", args[1] if len(args) > 1 else None)
    return size == 1 or (isinstance(size, tuple | list) and all(s == 1 for s in size))


def _qualified(func) -> str:
    """``torch.split``, ``Tensor.view``, ``F.interpolate``: a torch function as its caller wrote it."""
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", str(func))
    module = getattr(func, "__module__", "") or ""
    if name.startswith("_TensorBase.") or name.startswith("TensorBase."):
        name = "Tensor." + name.partition(".")[2]
    if name.startswith("_VariableFunctionsClass."):  # torch.cat, torch.conv2d … as C builtins name themselves
        name = "torch." + name.partition(".")[2]
    if "." in name:
        return name
    return {"torch.nn.functional": "F.", "torch._C._nn": "F."}.get(module, "torch.") + name
