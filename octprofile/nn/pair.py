"""The octave feature map: a (high, low) pair that plain PyTorch modules can pass along.

The pair is not a tuple on purpose: ``out += identity`` in torchvision's blocks would concatenate
two tuples silently. ``OctPair`` adds branch by branch instead, and through ``__torch_function__``
it lets parameter-free modules (ReLU, pooling, dropout) run unchanged on each branch, and concatenates
pairs along channels branch by branch (DenseNet). A squeeze-excitation block runs too: its global mean
concatenates the branches' means, and the gate it computes scales each branch by that branch's channels.
A slice or a split of the channels (Res2Net, CSPNet, DPN, ReXNet) takes consecutive channels of each branch, as
many low ones as the pair's ``SplitRule`` gives a map of that many channels (``channel_range``).
Anything else raises ``OctPairError``, so an unconverted layer is never run on half of a feature map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from octprofile.nn.split import SplitRule

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
    """A feature map in octave form: ``high`` at full resolution, ``low`` at half of it. ``rule``: how the region's
    maps split (from the octave conv that made the pair; None for a pair built by hand), which a slice of the
    channels follows."""

    __slots__ = ("high", "low", "rule")

    def __init__(self, high: torch.Tensor, low: torch.Tensor, rule: SplitRule | None = None) -> None:
        self.high = high
        self.low = low
        self.rule = rule

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

    def merged(self) -> torch.Tensor:
        """The map the pair stands for, on the high grid: the high channels, then the low ones upsampled (nearest,
        cropped on an odd side), as an octave conv's L->H path upsamples them."""
        return torch.cat([self.high, upsample2x(self.low, self.high.shape[-octave_dims(self.ndim):])], 1)

    def merged_mean(self, dims: tuple[int, ...], keepdim: bool = False) -> torch.Tensor:
        """Each channel's mean over the map the pair stands for, the low map on the high grid (upsampled as
        L->H does): a low pixel weighs the high pixels it covers. On even sides each covers 2x2, so that is the
        low map's own mean; on an odd side the last row (column) covers one, and is counted so."""
        size = tuple(self.high.shape[-len(dims):])
        low = upsample2x(self.low, size) if any(s % 2 for s in size[-octave_dims(self.high.dim()):]) else self.low
        return torch.cat([self.high.mean(dims, keepdim=keepdim), low.mean(dims, keepdim=keepdim)], dim=1)

    @property
    def branch_channels(self) -> tuple[int, int]:
        """(high, low) channels."""
        return self.high.shape[1], self.low.shape[1]

    def _addends(self, other) -> tuple:
        """What adds to the high and the low branch in a sum with ``other``: a pair split alike; a number (a
        constant map is that constant on both grids: GhostNet v3 sums its convs into ``x1 = 0``); a plain map of
        the pair's channels, split and its low part pooled (``_entering``)."""
        if isinstance(other, OctPair):
            if other.branch_channels != self.branch_channels:
                (high, low), (other_high, other_low) = self.branch_channels, other.branch_channels
                raise OctPairError(f"cannot add a pair of {other_high} high + {other_low} low channels to one of "
                                   f"{high} high + {low} low: their channels split differently (a range of a map's "
                                   "channels splits as the map's rule gives it, and that is not additive over its "
                                   "pieces), so no branch adds up")
            return other.high, other.low
        if self._is_number(other):
            return other, other
        if not isinstance(other, torch.Tensor) or other.dim() != self.ndim or other.shape[1] != self.channels:
            what = f"a map of shape {tuple(other.shape)}" if isinstance(other, torch.Tensor) else type(other).__name__
            raise OctPairError(f"cannot add {what} to the (high, low) pair of {self.channels} channels: only a pair, "
                               "a number or a map of its channels has an octave meaning")
        return tuple(self._entering(other, self.high.shape[1]))

    def _entering(self, tensor: torch.Tensor, high: int) -> OctPair:
        """A plain map in octave form, as an octave conv's H->L path would read it: its first ``high`` channels
        stay, the rest are pooled to the low grid."""
        return OctPair(tensor[:, :high], pool2x(tensor[:, high:]), self.rule)

    def plus(self, other: torch.Tensor | OctPair) -> OctPair:
        """Branchwise sum; named, so the torch-function handler below can call it without
        re-entering operator dispatch (which recurses under torch.compile)."""
        high, low = self._addends(other)
        return OctPair(self.high + high, self.low + low, self.rule)

    __add__ = __radd__ = plus

    def times(self, other) -> OctPair:
        """Branchwise product with another pair or a number; a per-channel scale (N, C, 1, 1) over the pair's
        channels (a squeeze-excitation gate) splits as the channels do: its first ``high`` entries scale the
        high map, the rest the low map. Anything else would mix the two grids."""
        high, low = self._factors(other)
        return OctPair(self.high * high, self.low * low, self.rule)

    mul = __mul__ = __rmul__ = times  # ``x.mul(gamma)``: a layer scale (ConvNeXt, InceptionNeXt)

    def times_(self, other) -> OctPair:
        """``times`` in place (NF-Net's skip-init gain: ``out.mul_(gain)``), each branch scaled where it lies."""
        high, low = self._factors(other)
        self.high.mul_(high)
        self.low.mul_(low)
        return self

    mul_ = __imul__ = times_

    def _is_number(self, other) -> bool:
        """A number, or a tensor of one element that broadcasts over the map as one (HGNet v2's learnable affine
        scale and bias, of shape (1,))."""
        return isinstance(other, int | float) or (isinstance(other, torch.Tensor) and other.numel() == 1
                                                  and other.dim() <= self.ndim)

    def _factors(self, other) -> tuple:
        """What scales the high and the low branch in a product with ``other`` (see ``times``)."""
        if isinstance(other, OctPair):
            return other.high, other.low
        if self._is_number(other):
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

    def contiguous(self, memory_format=torch.contiguous_format) -> OctPair:
        """Each branch contiguous (CSPNet's ``.contiguous()`` after a split)."""
        return OctPair(self.high.contiguous(memory_format=memory_format),
                       self.low.contiguous(memory_format=memory_format), self.rule)

    def resized(self, size=None, scale_factor=None, mode: str = "nearest", **_options) -> OctPair:
        """``F.interpolate`` by nearest neighbours to a whole multiple of the map's size (GhostNet v2 computes its
        gate on the map pooled 2x and brings it back): each branch repeated by the same factor, so each low pixel
        still covers the high pixels it did. Another mode or factor has no octave version."""
        dims = octave_dims(self.ndim)
        sides = self.high.shape[-dims:]
        if size is not None:
            size = (size,) * dims if isinstance(size, int) else tuple(size)
            factors = [target / side for target, side in zip(size, sides)]
        else:
            factors = list(scale_factor) if isinstance(scale_factor, tuple | list) else [scale_factor] * dims
        if mode != "nearest" or not all(float(f).is_integer() and f >= 1 for f in factors):
            raise OctPairError(f"F.interpolate of {self!r} by mode {mode!r} and factors {factors} has no octave "
                               "version; only nearest by whole factors has")
        factors = [int(f) for f in factors]
        high_size = [side * f for side, f in zip(sides, factors)]
        low_size = [side * f for side, f in zip(self.low.shape[-dims:], factors)]
        if low_size != [pooled_size(side) for side in high_size]:
            raise OctPairError(f"F.interpolate of {self!r} to {high_size} would leave its low map off the high grid")
        return OctPair(F.interpolate(self.high, size=high_size, mode="nearest"),
                       F.interpolate(self.low, size=low_size, mode="nearest"), self.rule)

    def _boundary(self, position: int) -> tuple[int, int]:
        """Where channel ``position`` of the map the pair stands for falls in each branch: (high, low) channels
        before it. Inside the map, the pair's rule says (a map of ``position`` channels splits so); its end is
        the pair's own split."""
        if position == 0:
            return 0, 0
        if position == self.channels:
            return self.branch_channels
        if self.rule is None:
            raise OctPairError(f"cannot take channels of {self!r}: it carries no split rule (it was not made by "
                               "an octave conv), so how many of them are low is unknown")
        split = self.rule(position)
        return split.high, split.low

    def channel_range(self, start: int, stop: int) -> OctPair:
        """Channels ``start``..``stop`` of the map the pair stands for: the high channels between the two
        boundaries and the low channels between them (``_boundary``). A range from channel 0 splits as a map of
        its channels does, so it adds to such a map and feeds a conv of that many channels; consecutive ranges
        take consecutive channels of each branch, so concatenated again they give back this pair. A range whose
        split no map of its channels has fails where it is read (a conv or a sum checks the split it gets)."""
        (high_start, low_start), (high_stop, low_stop) = self._boundary(start), self._boundary(stop)
        if not (0 <= high_start <= high_stop <= self.high.shape[1] and 0 <= low_start <= low_stop <= self.low.shape[1]):
            raise OctPairError(f"channels {start}:{stop} of {self!r} have no octave version: the rule splits them "
                               f"at high {high_start}:{high_stop}, low {low_start}:{low_stop}, past the pair's "
                               "branches")
        return OctPair(self.high[:, high_start:high_stop], self.low[:, low_start:low_stop], self.rule)

    def __getitem__(self, key) -> OctPair:
        """``x[:, a:b]`` (other dims whole): ``channel_range``; any other index has no octave version."""
        parts = key if isinstance(key, tuple) else (key,)
        if (len(parts) >= 2 and _whole(parts[0]) and isinstance(parts[1], slice)
                and all(_whole(part) or part is Ellipsis for part in parts[2:])):
            start, stop, step = parts[1].indices(self.channels)
            if step == 1:
                return self.channel_range(start, max(start, stop))
        raise OctPairError(f"indexing the map as x[{', '.join(map(_index_text, parts))}] has no octave version; "
                           "only a range of its channels (x[:, a:b]) has")

    def split(self, split_size_or_sections, dim: int = 0) -> tuple[OctPair, ...]:
        """``torch.split`` of the channels (dim 1) into consecutive ``channel_range`` s (Res2Net, CSPNet)."""
        if dim not in (1, 1 - self.ndim):
            raise OctPairError(f"splitting the map along dim {dim} has no octave version; along its channels has")
        if isinstance(split_size_or_sections, int):
            size = split_size_or_sections
            sections = [min(size, self.channels - start) for start in range(0, self.channels, size)]
        else:
            sections = list(split_size_or_sections)
        if sum(sections) != self.channels:
            raise OctPairError(f"cannot split the {self.channels} channels of {self!r} into {sections}")
        bounds = [sum(sections[:i]) for i in range(len(sections) + 1)]
        return tuple(self.channel_range(start, stop) for start, stop in zip(bounds, bounds[1:]))

    def concatenate(self, parts) -> OctPair:
        """``torch.cat`` along the channels of pairs (this one among them) and plain maps: high with high, low
        with low, as the reference concatenates (DenseNet); a plain map enters the octave as it would enter an
        addition (``_addends``), split by the pair's rule (DenseNet's stem output, when only the layers after it
        are octave)."""
        pairs = [part if isinstance(part, OctPair) else self._entering_by_rule(part) for part in parts]
        return OctPair(torch.cat([p.high for p in pairs], 1), torch.cat([p.low for p in pairs], 1), self.rule)

    def _entering_by_rule(self, tensor) -> OctPair:
        if not isinstance(tensor, torch.Tensor) or tensor.dim() != self.ndim:
            raise OctPairError(f"cannot concatenate {type(tensor).__name__} with {self!r}: only pairs and maps "
                               "of its dims have an octave meaning")
        if self.rule is None:
            raise OctPairError(f"cannot concatenate a plain map with {self!r}: the pair carries no split rule")
        return self._entering(tensor, self.rule(tensor.shape[1]).high)

    def __iadd__(self, other):
        high, low = self._addends(other)
        self.high += high
        self.low += low
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
        if func is torch.cat and _concatenates_channels(args, kwargs):
            parts = args[0]
            return next(part for part in parts if isinstance(part, OctPair)).concatenate(parts)
        if func is F.interpolate and isinstance(args[0], OctPair):
            return args[0].resized(*args[1:], **kwargs)
        if func is torch.stack and kwargs.get("dim", args[1] if len(args) > 1 else 0) == 1 \
                and all(isinstance(part, OctPair) for part in args[0]):
            return OctPairStack(list(args[0]))
        if func is torch.split and isinstance(args[0], OctPair):
            return args[0].split(*args[1:], **kwargs)
        if func in _BRANCHWISE and isinstance(args[0], OctPair):
            rest = args[1:]
            return OctPair(func(args[0].high, *rest, **kwargs), func(args[0].low, *rest, **kwargs), args[0].rule)
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
            return OctPair(gate[:, :cut].expand_as(pair.high), gate[:, cut:].expand_as(pair.low), pair.rule)
        raise OctPairError(f"{_qualified(func)} on the map has no octave version")


class OctPairStack:
    """Pairs of one split stacked along a new dim 1 (``torch.stack(pairs, dim=1)``: the paths of SKNet's selective
    kernel), kept as the pairs: their sum over that dim is the sum of the pairs, and a per-path, per-channel scale
    (N, paths, C, 1, 1) scales each pair by its path's (N, C, 1, 1) gate (``OctPair.times``)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[OctPair]) -> None:
        self.pairs = pairs

    @property
    def shape(self) -> torch.Size:
        first = self.pairs[0].shape
        return torch.Size((first[0], len(self.pairs), *first[1:]))

    def sum(self, dim: int) -> OctPair:
        if dim != 1:
            raise OctPairError(f"a sum of stacked pairs over dim {dim} has no octave version; over the stack's has")
        total = self.pairs[0]
        for pair in self.pairs[1:]:
            total = total.plus(pair)
        return total

    def times(self, gate) -> OctPairStack:
        if not (isinstance(gate, torch.Tensor) and gate.dim() == 5 and gate.shape[1] == len(self.pairs)):
            raise OctPairError(f"cannot scale {len(self.pairs)} stacked pairs by {getattr(gate, 'shape', gate)}: "
                               "only a per-path, per-channel scale (N, paths, C, 1, 1) has an octave meaning")
        return OctPairStack([pair.times(gate[:, i]) for i, pair in enumerate(self.pairs)])

    __mul__ = __rmul__ = times

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.sum, torch.Tensor.sum) and isinstance(args[0], OctPairStack):
            return args[0].sum(kwargs.get("dim", args[1] if len(args) > 1 else None))
        raise OctPairError(f"{_qualified(func)} on stacked octave pairs has no octave version")


def _concatenates_channels(args, kwargs) -> bool:
    dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
    return dim == 1 and isinstance(args[0], list | tuple) and any(isinstance(part, OctPair) for part in args[0])


def _index_text(index) -> str:
    """One index as its caller wrote it: ``:``, ``2:8``, ``::2``, ``...``, ``0``."""
    if isinstance(index, slice):
        text = ":".join("" if part is None else str(part) for part in (index.start, index.stop, index.step))
        return text.removesuffix(":") if index.step is None else text
    return "..." if index is Ellipsis else type(index).__name__ if isinstance(index, torch.Tensor) else repr(index)


def _whole(index) -> bool:
    return isinstance(index, slice) and index == slice(None)


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
