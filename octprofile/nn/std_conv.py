"""Weight-standardised convs on an octave pair: timm's ``StdConv2d`` (BiT's ResNet-V2) and ``ScaledStdConv2d``
(NF-Nets, NF-ResNets), and their TensorFlow-'same' versions.

The vanilla layer convolves with its weight standardised per output channel, over that channel's (in, kh, kw)
weights: ``(W[o] - mean) / sqrt(var + eps)`` (biased variance), times ``gain[o] * gamma / sqrt(fan-in)`` for the
scaled version. An output channel's weights span both input branches (its H->H and L->H path weights, or its
H->L and L->L ones), so the octave version standardises each output row over the paths that feed it, joined as
the vanilla weight holds them (high inputs first), then runs each path with its part of the result. Where the
paths partition the vanilla weight (dense and depthwise convs) that is the vanilla standardised weight, split:
the octave conv of the weight the vanilla layer convolves with, and at α = 0 the vanilla layer itself. The gain
stays one parameter of ``out`` values, so the params equal the vanilla ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from octprofile.nn.octconv import NAMED_OCTAVE_CONVS, OctConv2d

# the ...Same versions pad as TensorFlow's 'same' at run time where their stride needs it (``same_pad``): the
# converter gives the octave paths, all at stride 1, the symmetric padding that amounts to (``fidelity``)
STD_CONVS = ("StdConv2d", "ScaledStdConv2d", "StdConv2dSame", "ScaledStdConv2dSame")


def is_std_conv(module: nn.Module) -> bool:
    """timm's StdConv2d or ScaledStdConv2d (the exact class, recognised by name so that timm stays optional), running
    its class's forward."""
    kind = type(module)
    return kind.__name__ in STD_CONVS and kind.__module__.startswith("timm.") and "forward" not in vars(module)


class StandardisedPath(nn.Conv2d):
    """A path conv of ``OctStdConv2d``: runs with the weight its parent standardised across the paths, given per
    call (a module call, so the hooks of counters that hook layers see it; being no plain Conv2d, they count it as
    the unhooked subclass it is)."""

    def forward(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, weight, self.bias)


class OctStdConv2d(OctConv2d):
    """An octave conv whose paths run with the weight standardised per output channel across the paths (see the
    module's docstring). ``gain``: the scaled version's per-output gain (None for StdConv2d), ``scale`` its
    gamma / sqrt(fan-in) of the vanilla weight."""

    path_class = StandardisedPath

    def __init__(self, *args, eps: float = 1e-6, gain: bool = False, scale: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.eps, self.scale = eps, scale
        out = self.out_split.channels
        self.gain = nn.Parameter(torch.ones(out, 1, 1, 1, device=self.hh.weight.device)) if gain else None

    def standardised_weights(self) -> dict[str, torch.Tensor]:
        """Each path's weight after standardising every output row over the paths into its branch."""
        weights = {}
        cut = {"h": slice(0, self.out_split.high), "l": slice(self.out_split.high, None)}
        for target in "hl":
            names = [name for name in self.active_paths() if name[1] == target]
            if not names:
                continue
            joined = torch.cat([getattr(self, name).weight for name in names], dim=1)
            rows = joined.shape[0]
            affine = None if self.gain is None else (self.gain[cut[target]] * self.scale).view(-1)
            standard = F.batch_norm(joined.reshape(1, rows, -1), None, None, weight=affine, training=True,
                                    momentum=0.0, eps=self.eps).reshape_as(joined)
            widths = [getattr(self, name).weight.shape[1] for name in names]
            weights.update(zip(names, torch.split(standard, widths, dim=1)))
        return weights

    def forward(self, x):
        return self._forward_paths(x, self.standardised_weights())

    @classmethod
    def from_conv(cls, conv: nn.Module, alpha_in: float, alpha_out: float, **options) -> OctStdConv2d:
        scaled = getattr(conv, "gain", None) is not None
        octave = super().from_conv(conv, alpha_in, alpha_out, **options)
        octave.eps, octave.scale = conv.eps, getattr(conv, "scale", 1.0)
        if scaled:
            octave.gain = nn.Parameter(conv.gain.detach().clone())
        return octave

    def extra_repr(self) -> str:
        return super().extra_repr() + f", eps={self.eps}" + (", scaled" if self.gain is not None else "")


NAMED_OCTAVE_CONVS.update({("timm", name): OctStdConv2d for name in STD_CONVS})
