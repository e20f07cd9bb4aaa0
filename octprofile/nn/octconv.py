"""OctConv2d: the octave convolution of Chen et al. (ICCV 2019), four paths on a (high, low) pair.

    Y_H = f(X_H; W_HH) + upsample2x(f(X_L; W_LH))
    Y_L = f(X_L; W_LL) + f(pool2x(X_H); W_HL)

At stride 2 the inputs are average-pooled first and every conv runs at stride 1 (a strided conv
would sample the two grids at misaligned points); the L->H path then reads the un-pooled X_L,
which already has the output size. Weights of the four paths partition the vanilla weight, so
the parameter count equals the vanilla one for every alpha. An ``OctDesign`` can drop the H->L or
L->H path (their weights are then absent) or down-sample by strided convs instead (see ``routes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from octprofile.nn.design import FULL, OctDesign
from octprofile.nn.pair import OctInputError, OctPair, PooledInputs, upsample2x
from octprofile.nn.split import ChannelSplit, check_alpha

PATHS = ("hh", "hl", "lh", "ll")
# grid of each branch in octaves below the high input grid: X_H 0, X_L 1; outputs one lower at stride 2
_INPUT_OCTAVE = {"h": 0, "l": 1}


class Route(NamedTuple):
    """How one path reaches its output grid: ``pools`` 2x2 average pools of its input, then its conv at
    ``stride``, then (L->H at stride 1) a nearest 2x upsampling."""

    pools: int
    stride: int
    upsample: bool


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


@dataclass(frozen=True)
class ConvGeometry:
    """The part of a conv's configuration every path shares."""

    kernel_size: tuple[int, int]
    stride: int
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int


class OctConv2d(nn.Module):
    """Octave convolution; input and output are a tensor (alpha = 0 side) or an ``OctPair``.

    ``in_split`` / ``out_split`` override the splits derived from ``alpha_in`` / ``alpha_out``
    (a converter passes the splits it shares with the neighbouring layers).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = False,
        alpha_in: float = 0.0,
        alpha_out: float = 0.0,
        *,
        design: OctDesign = FULL,
        in_split: ChannelSplit | None = None,
        out_split: ChannelSplit | None = None,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.alpha_in = check_alpha(alpha_in, "alpha_in")
        self.alpha_out = check_alpha(alpha_out, "alpha_out")
        self.depthwise = groups > 1 and groups == in_channels
        multiple = groups if groups > 1 and not self.depthwise else 1
        self.in_split = in_split or ChannelSplit.from_alpha(in_channels, alpha_in, multiple)
        self.out_split = out_split or ChannelSplit.from_alpha(out_channels, alpha_out, multiple)
        self.geometry = ConvGeometry(_pair(kernel_size), _validate_stride(stride), _pair(padding),
                                     _pair(dilation), groups)
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
        return sum(channels[name[1]][1] * channels[name[0]][0] // g.groups * g.kernel_size[0] * g.kernel_size[1]
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
        g = self.geometry
        if self.depthwise and (out_channels != in_channels or self.in_split != self.out_split):
            raise ValueError("a depthwise OctConv2d needs out_channels == in_channels and alpha_in == alpha_out")
        if self.in_split.channels != in_channels or self.out_split.channels != out_channels:
            raise ValueError("channel splits do not match in_channels / out_channels")
        octave = self.in_split.low or self.out_split.low
        same = all(k % 2 == 1 and p == d * (k - 1) // 2
                   for k, p, d in zip(g.kernel_size, g.padding, g.dilation))
        if octave and not same:
            raise ValueError(
                f"OctConv2d needs 'same' padding (dilation*(kernel-1)/2, odd kernel) so the two grids stay "
                f"aligned; got kernel {g.kernel_size}, padding {g.padding}, dilation {g.dilation}")
        active = self.active_paths()
        if self.out_split.low and not {"hl", "ll"} & set(active):
            raise ValueError("no path produces the low-frequency output: keep H->L where alpha_in is 0")
        if self.in_split.low and not {"lh", "ll"} & set(active):
            raise ValueError("no path reads the low-frequency input: keep L->H where alpha_out is 0")

    def _path(self, cin: int, cout: int, groups: int, bias: bool, stride: int, factory) -> nn.Conv2d:
        g = self.geometry
        return nn.Conv2d(cin, cout, g.kernel_size, stride, g.padding, g.dilation, groups, bias, **factory)

    def extra_repr(self) -> str:
        g = self.geometry
        return (f"in={self.in_split.high}+{self.in_split.low}, out={self.out_split.high}+{self.out_split.low}, "
                f"kernel={g.kernel_size}, stride={g.stride}, groups={g.groups}, "
                f"alpha_in={self.alpha_in}, alpha_out={self.alpha_out}"
                + ("" if self.design.is_full else f", design={self.design.name}"))

    def paths(self) -> dict[str, nn.Conv2d]:
        """The path convs that exist, by name (hh, hl, lh, ll)."""
        return {name: getattr(self, name) for name in self.active_paths()}

    def _unpack(self, x) -> tuple[torch.Tensor, torch.Tensor | None]:
        if isinstance(x, OctPair):
            if not self.in_split.low:
                raise OctInputError(f"OctConv2d with alpha_in=0 got an octave pair {x!r}", wants_pair=False)
            return x.high, x.low
        if self.in_split.low:
            raise OctInputError(f"OctConv2d expects an octave pair ({self.in_split}), got a tensor", wants_pair=True)
        return x, None

    def forward(self, x):
        read = PooledInputs(*self._unpack(x))
        outputs: dict[str, torch.Tensor] = {}
        for name in self.active_paths():  # H->H first: L->H upsamples to its size
            route = self.route(name)
            y = getattr(self, name)(read(name[0], route.pools))
            if route.upsample:
                y = upsample2x(y, outputs["h"].shape[-2:])
            outputs[name[1]] = y if name[1] not in outputs else outputs[name[1]] + y
        return OctPair(outputs["h"], outputs["l"]) if self.out_split.low else outputs["h"]

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, alpha_in: float, alpha_out: float, *,
                  in_split: ChannelSplit | None = None, out_split: ChannelSplit | None = None,
                  design: OctDesign = FULL, padding: tuple[int, int] | None = None) -> OctConv2d:
        """An OctConv2d configured like ``conv``; where the paths partition its weight (dense or
        depthwise convs), they start from the matching slices of it. ``padding`` replaces ``conv``'s
        where the caller knows the numeric padding it amounts to (e.g. for a 'same'-padded conv)."""
        padding = conv.padding if padding is None else padding
        if conv.padding_mode != "zeros" or isinstance(padding, str):
            raise ValueError(f"OctConv2d supports numeric zero padding only, got {padding!r}/{conv.padding_mode}")
        stride = _pair(conv.stride)
        if stride[0] != stride[1]:
            raise ValueError(f"OctConv2d needs a square stride, got {stride}")
        oct_conv = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride[0], padding,
                       conv.dilation, conv.groups, conv.bias is not None, alpha_in, alpha_out,
                       design=design, in_split=in_split,
                       out_split=out_split, device=conv.weight.device, dtype=conv.weight.dtype)
        oct_conv.load_vanilla_weights(conv)
        return oct_conv

    @torch.no_grad()
    def load_vanilla_weights(self, conv: nn.Conv2d) -> None:
        """Copy ``conv``'s weight slices into the paths (no-op for grouped, non-depthwise convs with a low
        branch, whose four grouped paths do not partition a block-diagonal weight)."""
        i, o = self.in_split, self.out_split
        if self.geometry.groups > 1 and not self.depthwise and (i.low or o.low):
            return
        rows = {"h": slice(0, o.high), "l": slice(o.high, None)}
        cols = {"h": slice(0, i.high), "l": slice(i.high, None)}
        for name, path in self.paths().items():
            source, target = name[0], name[1]
            weight = conv.weight[rows[target]] if self.depthwise else conv.weight[rows[target], cols[source]]
            path.weight.copy_(weight)
            if path.bias is not None:
                path.bias.copy_(conv.bias[rows[target]])


def _validate_stride(stride) -> int:
    stride = _pair(stride)
    if stride[0] != stride[1] or stride[0] not in (1, 2):
        raise ValueError(f"OctConv2d supports stride 1 or 2, got {stride}")
    return stride[0]
