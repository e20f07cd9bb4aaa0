"""Octave convolutions of Chen et al. (ICCV 2019): four paths on a (high, low) pair, in 1, 2 or 3 dims.

    Y_H = f(X_H; W_HH) + upsample2x(f(X_L; W_LH))
    Y_L = f(X_L; W_LL) + f(pool2x(X_H); W_HL)

At stride 2 the inputs are average-pooled first and every conv runs at stride 1 (a strided conv
would sample the two grids at misaligned points); the L->H path then reads the un-pooled X_L,
which already has the output size. Weights of the four paths partition the vanilla weight, so
the parameter count equals the vanilla one for every alpha. An ``OctDesign`` can drop the H->L or
L->H path (their weights are then absent) or down-sample by strided convs instead (see ``routes``).

One class, ``OctConvNd``, holds the algorithm; ``OctConv1d`` / ``OctConv2d`` / ``OctConv3d`` and
``OctConvTranspose2d`` only say which torch conv a path is and how many dims the octave halves
(``pair.octave_dims``): the length of a 1-d map, H and W of a 2-d one, and H and W of a video, whose
time axis both grids share (see ``OctConv3d``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch
from torch import nn

from octprofile.nn.design import FULL, OctDesign
from octprofile.nn.pair import (
    OctInputError,
    OctPair,
    OctPairError,
    PooledInputs,
    crop_to,
    octave_dims,
    pooled_size,
    upsample2x,
)
from octprofile.nn.split import ChannelSplit, SplitRule, check_alpha

PATHS = ("hh", "hl", "lh", "ll")
# grid of each branch in octaves below the high input grid: X_H 0, X_L 1; outputs one lower at stride 2
_INPUT_OCTAVE = {"h": 0, "l": 1}


class Route(NamedTuple):
    """How one path reaches its output grid: ``pools`` 2x average pools of its input (over the octave dims),
    then its conv at ``stride`` (over the octave dims), then (L->H at stride 1) a nearest 2x upsampling."""

    pools: int
    stride: int
    upsample: bool


def _ntuple(value, dims: int) -> tuple[int, ...]:
    return (value,) * dims if isinstance(value, int) else tuple(value)


@dataclass(frozen=True)
class ConvGeometry:
    """The part of a conv's configuration every path shares. ``stride`` is the stride over the octave dims
    (1 or 2); ``kept_stride`` the strides over the dims the octave leaves alone (a video's time), which every
    path runs at unchanged: both grids share that axis, so striding it samples them at the same points."""

    kernel_size: tuple[int, ...]
    stride: int
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    kept_stride: tuple[int, ...] = ()
    output_padding: tuple[int, ...] = ()  # transposed convs only


class OctConvNd(nn.Module):
    """Octave convolution over ``spatial_dims`` dims; input and output are a tensor (alpha = 0 side) or an
    ``OctPair``. Subclasses name the path conv (``path_class``).

    ``in_split`` / ``out_split`` override the splits derived from ``alpha_in`` / ``alpha_out``
    (a converter passes the splits it shares with the neighbouring layers). ``split_rule``, which the output pair
    carries (see ``SplitRule``), defaults to ``alpha_out``'s.
    """

    spatial_dims: ClassVar[int] = 2
    path_class: ClassVar[type[nn.Module]] = nn.Conv2d
    transposed: ClassVar[bool] = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = False,
        alpha_in: float = 0.0,
        alpha_out: float = 0.0,
        *,
        design: OctDesign = FULL,
        in_split: ChannelSplit | None = None,
        out_split: ChannelSplit | None = None,
        output_padding: int | tuple[int, ...] = 0,
        split_rule: SplitRule | None = None,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.alpha_in = check_alpha(alpha_in, "alpha_in")
        self.alpha_out = check_alpha(alpha_out, "alpha_out")
        self.depthwise = groups > 1 and groups == in_channels
        multiple = groups if groups > 1 and not self.depthwise else 1
        self.in_split = in_split or ChannelSplit.from_alpha(in_channels, alpha_in, multiple, design.low_multiple)
        self.out_split = out_split or ChannelSplit.from_alpha(out_channels, alpha_out, multiple, design.low_multiple)
        self.split_rule = split_rule or SplitRule(self.alpha_out, design.low_multiple, {out_channels: multiple})
        dims = self.spatial_dims
        kept_stride, octave_stride = self._split_stride(_ntuple(stride, dims))
        self.geometry = ConvGeometry(_ntuple(kernel_size, dims), octave_stride, _ntuple(padding, dims),
                                     _ntuple(dilation, dims), groups, kept_stride,
                                     _ntuple(output_padding, dims) if self.transposed else ())
        self.design = design
        self._validate(in_channels, out_channels)
        factory = {"device": device, "dtype": dtype}
        i, o = self.in_split, self.out_split
        path_groups = {"h": i.high, "l": i.low} if self.depthwise else {"h": groups, "l": groups}
        active = self.active_paths()
        # one bias per output branch: on H->H for high, on L->L (else H->L) for low
        bias_on = {"hh", "ll" if "ll" in active else "hl"} if bias else set()
        for name in PATHS:
            source = i.high if name[0] == "h" else i.low
            target = o.high if name[1] == "h" else o.low
            path = (self._path(source, target, path_groups[name[0]], name in bias_on, self.route(name).stride,
                               factory) if name in active else None)
            setattr(self, name, path)

    @property
    def octave_dims(self) -> int:
        """How many trailing dims the low grid halves (see ``pair.octave_dims``)."""
        return octave_dims(self.spatial_dims + 2)

    @property
    def kind(self) -> str:
        return type(self).__name__

    def _split_stride(self, stride: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
        """(strides of the kept dims, the one stride of the octave dims: 1 or 2)."""
        kept, octave = stride[: self.spatial_dims - self.octave_dims], stride[self.spatial_dims - self.octave_dims:]
        if len(set(octave)) != 1 or octave[0] not in (1, 2):
            raise ValueError(f"{self.kind} supports stride 1 or 2, the same over "
                             f"{'H and W' if self.octave_dims == 2 else 'the length'}, got {stride}")
        return kept, octave[0]

    def active_paths(self) -> tuple[str, ...]:
        """The paths this configuration has: a depthwise conv keeps only H->H and L->L, an empty
        branch has no paths, and the design can drop H->L / L->H."""
        kept = {"hl": self.design.hl, "lh": self.design.lh}
        return tuple(name for name in self._possible_paths() if kept.get(name, True))

    def _possible_paths(self) -> tuple[str, ...]:
        """The paths of the full design at these splits."""
        i, o = self.in_split, self.out_split
        exists = {"hh": True, "hl": bool(o.low) and not self.depthwise, "lh": bool(i.low) and not self.depthwise,
                  "ll": bool(i.low) and bool(o.low)}
        return tuple(name for name in PATHS if exists[name])

    def dropped_paths(self) -> tuple[str, ...]:
        """Paths the full design has here and this one drops (their weights do not exist)."""
        return tuple(name for name in self._possible_paths() if name not in self.active_paths())

    def dropped_params(self) -> int:
        """Weights the dropped paths would hold: what this layer has fewer than the vanilla conv."""
        i, o, g = self.in_split, self.out_split, self.geometry
        channels = {"h": (i.high, o.high), "l": (i.low, o.low)}
        return sum(channels[name[1]][1] * channels[name[0]][0] // g.groups * math.prod(g.kernel_size)
                   for name in self.dropped_paths())

    def route(self, name: str) -> Route:
        """How path ``name`` down- or up-samples (see ``Route``). With pooling every 2x step before the
        conv is a pool; with strided down-sampling the last of them is the conv's stride."""
        source = _INPUT_OCTAVE[name[0]]
        target = _INPUT_OCTAVE[name[1]] + (self.geometry.stride == 2)
        steps = max(target - source, 0)
        strided = self.design.downsample == "strided" and steps > 0
        return Route(steps - strided, 2 if strided else 1, target < source)

    def _validate(self, in_channels: int, out_channels: int) -> None:
        if self.depthwise and (out_channels != in_channels or self.in_split != self.out_split):
            raise ValueError(f"a depthwise {self.kind} needs out_channels == in_channels and alpha_in == alpha_out")
        if self.in_split.channels != in_channels or self.out_split.channels != out_channels:
            raise ValueError("channel splits do not match in_channels / out_channels")
        octave = self.in_split.low or self.out_split.low
        if octave and not self._keeps_grids_aligned():
            raise ValueError(self._alignment_rule())
        active = self.active_paths()
        if self.out_split.low and not {"hl", "ll"} & set(active):
            raise ValueError("no path produces the low-frequency output: keep H->L where alpha_in is 0")
        if self.in_split.low and not {"lh", "ll"} & set(active):
            raise ValueError("no path reads the low-frequency input: keep L->H where alpha_out is 0")

    def _octave_geometry(self) -> list[tuple[int, int, int]]:
        """(kernel, padding, dilation) of each octave dim (the kept dims may pad as they like: both grids
        share them)."""
        g, first = self.geometry, self.spatial_dims - self.octave_dims
        return list(zip(g.kernel_size[first:], g.padding[first:], g.dilation[first:]))

    def _keeps_grids_aligned(self) -> bool:
        return all(k % 2 == 1 and p == d * (k - 1) // 2 for k, p, d in self._octave_geometry())

    def _alignment_rule(self) -> str:
        g = self.geometry
        return (f"{self.kind} needs 'same' padding (dilation*(kernel-1)/2, odd kernel) so the two grids stay "
                f"aligned; got kernel {g.kernel_size}, padding {g.padding}, dilation {g.dilation}")

    def _path_stride(self, octave_stride: int) -> tuple[int, ...]:
        return (*self.geometry.kept_stride, *(octave_stride,) * self.octave_dims)

    def _path(self, cin: int, cout: int, groups: int, bias: bool, stride: int, factory) -> nn.Module:
        g = self.geometry
        return self.path_class(cin, cout, g.kernel_size, self._path_stride(stride), g.padding, g.dilation, groups,
                               bias, **factory)

    def extra_repr(self) -> str:
        g = self.geometry
        return (f"in={self.in_split.high}+{self.in_split.low}, out={self.out_split.high}+{self.out_split.low}, "
                f"kernel={g.kernel_size}, stride={g.stride}, groups={g.groups}, "
                f"alpha_in={self.alpha_in}, alpha_out={self.alpha_out}"
                + (f", kept_stride={g.kept_stride}" if any(s != 1 for s in g.kept_stride) else "")
                + ("" if self.design.is_full else f", design={self.design.name}"))

    def paths(self) -> dict[str, nn.Module]:
        """The path convs that exist, by name (hh, hl, lh, ll)."""
        return {name: getattr(self, name) for name in self.active_paths()}

    def _unpack(self, x) -> tuple[torch.Tensor, torch.Tensor | None]:
        if isinstance(x, OctPair):
            if not self.in_split.low:
                raise OctInputError(f"{self.kind} with alpha_in=0 got an octave pair {x!r}", wants_pair=False)
            if x.branch_channels != (self.in_split.high, self.in_split.low):
                # a range of another map's channels (``OctPair.channel_range``) that no map of its size splits into
                raise OctPairError(f"it reads {x!r}, split otherwise than the {self.in_split.high} high + "
                                   f"{self.in_split.low} low channels its maps of {self.in_split.channels} have")
            return x.high, x.low
        if self.in_split.low:
            raise OctInputError(f"{self.kind} expects an octave pair ({self.in_split}), got a tensor", wants_pair=True)
        return x, None

    def forward(self, x):
        return self._forward_paths(x, {})

    def _forward_paths(self, x, weights: dict[str, torch.Tensor]):
        """The four-path algorithm; ``weights``: per path, a weight its conv is called with instead of its own (a
        weight-standardised octave conv's, whose path convs take one: see ``std_conv``)."""
        read = PooledInputs(*self._unpack(x))
        outputs: dict[str, torch.Tensor] = {}
        for name in self.active_paths():  # H->H first: L->H upsamples to its size
            route, path = self.route(name), getattr(self, name)
            inputs = read(name[0], route.pools)
            y = path(inputs) if name not in weights else path(inputs, weights[name])
            if route.upsample:
                y = upsample2x(y, outputs["h"].shape[-self.octave_dims:])
            outputs[name[1]] = y if name[1] not in outputs else outputs[name[1]] + y
        return OctPair(outputs["h"], outputs["l"], self.split_rule) if self.out_split.low else outputs["h"]

    @classmethod
    def from_conv(cls, conv: nn.Module, alpha_in: float, alpha_out: float, *,
                  in_split: ChannelSplit | None = None, out_split: ChannelSplit | None = None,
                  design: OctDesign = FULL, padding: tuple[int, ...] | None = None,
                  split_rule: SplitRule | None = None) -> OctConvNd:
        """An octave conv configured like ``conv``; where the paths partition its weight (dense or
        depthwise convs), they start from the matching slices of it. ``padding`` replaces ``conv``'s
        where the caller knows the numeric padding it amounts to (e.g. for a 'same'-padded conv)."""
        padding = conv.padding if padding is None else padding
        if conv.padding_mode != "zeros" or isinstance(padding, str):
            raise ValueError(f"{cls.__name__} supports numeric zero padding only, got {padding!r}/{conv.padding_mode}")
        extra = {"output_padding": conv.output_padding} if cls.transposed else {}
        oct_conv = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, padding,
                       conv.dilation, conv.groups, conv.bias is not None, alpha_in, alpha_out,
                       design=design, in_split=in_split, out_split=out_split, **extra, split_rule=split_rule,
                       device=conv.weight.device, dtype=conv.weight.dtype)
        oct_conv.load_vanilla_weights(conv)
        return oct_conv

    def _weight_slice(self, weight: torch.Tensor, rows: slice, cols: slice) -> torch.Tensor:
        """The block of a vanilla weight (out, in / groups, *kernel) that maps ``cols`` inputs to ``rows``
        outputs."""
        return weight[rows] if self.depthwise else weight[rows, cols]

    @torch.no_grad()
    def load_vanilla_weights(self, conv: nn.Module) -> None:
        """Copy ``conv``'s weight slices into the paths (no-op for grouped, non-depthwise convs with a low
        branch, whose four grouped paths do not partition a block-diagonal weight)."""
        i, o = self.in_split, self.out_split
        if self.geometry.groups > 1 and not self.depthwise and (i.low or o.low):
            return
        rows = {"h": slice(0, o.high), "l": slice(o.high, None)}
        cols = {"h": slice(0, i.high), "l": slice(i.high, None)}
        for name, path in self.paths().items():
            source, target = name[0], name[1]
            path.weight.copy_(self._weight_slice(conv.weight, rows[target], cols[source]))
            if path.bias is not None:
                path.bias.copy_(conv.bias[rows[target]])


class OctConv1d(OctConvNd):
    """Octave convolution of sequences (audio, time series): the low branch has half the length."""

    spatial_dims = 1
    path_class = nn.Conv1d


class OctConv2d(OctConvNd):
    """Octave convolution of images: the low branch has half the height and width."""

    spatial_dims = 2
    path_class = nn.Conv2d


class OctConv3d(OctConvNd):
    """Octave convolution of videos (N, C, T, H, W): the low branch has half the height and width and **all
    the frames**; time is never pooled.

    Why space only: the paper's OctConv factorises feature maps by *spatial* frequency (its title: "reducing
    spatial redundancy"), and its video experiments (sec. 4.3, C2D and I3D on Kinetics) insert that same
    spatial OctConv into the 3-D networks; the public reference code is 2-D only. Pooling time too would be a
    different operator (a temporal octave) whose saving the paper never reports. So a 3-D layer costs what
    a 2-D one does at the same alpha (the low grid has 1/4 of the positions, as in 2-D), and the theory ratio
    is the 2-D formula. A temporal stride is kept on every path (``ConvGeometry.kept_stride``): both grids
    share the time axis, so striding it samples them at the same frames, while H and W stride by pooling as
    in 2-D."""

    spatial_dims = 3
    path_class = nn.Conv3d


class OctConvTranspose2d(OctConvNd):
    """Transposed octave convolution, for decoders: the inverse route of ``OctConv2d``.

    Every path is the vanilla transposed conv (its stride, padding and output padding), so each grid is
    up-sampled by the learned kernel exactly as the vanilla layer up-samples its input, and the four paths
    partition the vanilla weight. Between the grids it goes as OctConv2d's stride-1 paths do: H->L pools
    X_H first (the low output is half the high output), L->H up-samples its result 2x (nearest). So where
    the forward OctConv2d pools to go down one octave, this one up-samples to come back up, and it never
    runs the expensive kernel on the finer grid of a cross path.

    The grids stay aligned only when the layer multiplies the size exactly, out = stride x in, i.e.
    dilation*(kernel-1) + output_padding + 1 - 2*padding == stride (a 4x4, stride-2, padding-1 up-sampler;
    a 3x3, stride-1, padding-1 layer); an odd low output is cropped to half the high output.
    """

    spatial_dims = 2
    path_class = nn.ConvTranspose2d
    transposed = True

    def _split_stride(self, stride: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
        if len(set(stride)) != 1:
            raise ValueError(f"{self.kind} needs the same stride over H and W, got {stride}")
        return (), stride[0]

    def route(self, name: str) -> Route:
        """Every path runs at the vanilla stride (it up-samples); H->L pools first, L->H up-samples after."""
        return Route(int(name == "hl"), self.geometry.stride, name == "lh")

    def _keeps_grids_aligned(self) -> bool:
        g = self.geometry
        return all(d * (k - 1) + op + 1 - 2 * p == g.stride
                   for (k, p, d), op in zip(self._octave_geometry(), g.output_padding))

    def _alignment_rule(self) -> str:
        g = self.geometry
        return (f"{self.kind} needs out = stride x in (dilation*(kernel-1) + output_padding + 1 - 2*padding "
                f"== stride) so the two grids stay aligned; got kernel {g.kernel_size}, stride {g.stride}, "
                f"padding {g.padding}, output padding {g.output_padding}, dilation {g.dilation}")

    def _path(self, cin: int, cout: int, groups: int, bias: bool, stride: int, factory) -> nn.Module:
        g = self.geometry
        return nn.ConvTranspose2d(cin, cout, g.kernel_size, stride, g.padding, g.output_padding, groups, bias,
                                  g.dilation, **factory)

    def _weight_slice(self, weight: torch.Tensor, rows: slice, cols: slice) -> torch.Tensor:
        # a transposed conv's weight is (in, out / groups, *kernel): inputs first
        return weight[rows] if self.depthwise else weight[cols, rows]

    def forward(self, x):
        y = super().forward(x)
        if not isinstance(y, OctPair):
            return y
        # an odd low input up-samples one pixel past half the high output: crop it, as pooling would have
        size = [pooled_size(s) for s in y.high.shape[-2:]]
        return OctPair(y.high, crop_to(y.low, size), y.rule)


OCTAVE_CONVS: dict[type[nn.Module], type[OctConvNd]] = {
    nn.Conv1d: OctConv1d, nn.Conv2d: OctConv2d, nn.Conv3d: OctConv3d, nn.ConvTranspose2d: OctConvTranspose2d,
}


# Convs of optional libraries, by (library, class name) of the exact class (a subclass may compute otherwise):
# filled by the modules that define their octave versions (``std_conv``)
NAMED_OCTAVE_CONVS: dict[tuple[str, str], type[OctConvNd]] = {}


def octave_class(conv: nn.Module) -> type[OctConvNd] | None:
    """The octave conv that replaces ``conv`` (a named library conv's own, else by its torch base class), or None
    for a kind without one."""
    kind = type(conv)
    named = NAMED_OCTAVE_CONVS.get((kind.__module__.partition(".")[0], kind.__name__))
    if named is not None:
        return named
    return next((OCTAVE_CONVS[kind] for kind in type(conv).__mro__ if kind in OCTAVE_CONVS), None)
