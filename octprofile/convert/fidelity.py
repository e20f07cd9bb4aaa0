"""Which conv layers the converter can replace without changing what the model computes.

An octave conv reproduces a plain ``nn.Conv1d`` / ``Conv2d`` / ``Conv3d`` / ``ConvTranspose2d`` (its
weight, bias, stride, padding...) and nothing else: not a subclass's own ``forward``, not the hooks
registered on the layer, not a parametrization of its weight, and not another kind of conv
(transposed 1-d or 3-d). Such a layer
stays vanilla and is reported with the reason, or, where the octave region would have to run
through it, the conversion is refused.

Weight-standardised convs (timm's ``StdConv2d``, ``ScaledStdConv2d``) convert to ``OctStdConv2d``, which
standardises each output row across its paths as the vanilla layer does (``nn.std_conv``).

One subclass is known: timm's ``Conv2dSame``, whose forward pads as TensorFlow's 'same' (from the input
size, the odd pixel after) before a plain convolution. At stride 1 with an odd kernel that padding is the
symmetric d(k-1)/2 on every side, and an octave conv runs every path at stride 1 (it pools first), so the
layer converts with that padding; PyTorch's own ``padding="same"`` likewise.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrize

ConvLike = nn.modules.conv._ConvNd

#: attribute a converted model carries: {module path: reason} of the conv layers left vanilla
NOT_CONVERTED_ATTR = "octprofile_not_converted"


def is_tf_same(module: nn.Module) -> bool:
    """timm's ``Conv2dSame``, or its weight-standardised ``StdConv2dSame`` / ``ScaledStdConv2dSame`` where they pad
    at run time (recognised by name, so that timm stays optional)."""
    kind = type(module)
    if not kind.__module__.startswith("timm."):
        return False
    return kind.__name__ == "Conv2dSame" or (kind.__name__ in ("StdConv2dSame", "ScaledStdConv2dSame")
                                             and bool(getattr(module, "same_pad", False)))


def _odd_kernel(conv: nn.Conv2d) -> bool:
    return all(k % 2 == 1 for k in conv.kernel_size)


def equivalent_padding(conv: nn.Conv2d, downsample: str = "pool") -> tuple[int, int]:
    """The numeric padding that an octave conv's stride-1 paths need to compute what ``conv`` pads to: its
    own, or for 'same' padding (timm's Conv2dSame, PyTorch's ``padding="same"``) the symmetric d(k-1)/2.
    Strided down-sampling keeps the stride-2 conv, whose TF 'same' padding depends on the input size."""
    if not (is_tf_same(conv) or conv.padding == "same"):
        return (0, 0) if conv.padding == "valid" else conv.padding
    if downsample == "strided" and max(conv.stride) > 1:
        raise ValueError("its 'same' padding at stride 2 depends on the input size (the odd pixel goes after), "
                         "which a strided octave path cannot reproduce; use pooled down-sampling")
    return tuple(d * (k - 1) // 2 for k, d in zip(conv.kernel_size, conv.dilation))


def unconvertible_reason(module: nn.Module) -> str | None:
    """Why ``module`` (a conv-like layer) cannot become an OctConv2d faithfully; None when it can."""
    from octprofile.nn import OCTAVE_CONVS, is_std_conv, octave_class

    kind = type(module).__name__
    octave = octave_class(module)
    if octave is None:
        kinds = ", ".join(k.__name__ for k in OCTAVE_CONVS)
        return f"{kind} has no octave version; only {kinds} layers are converted"
    base = next(k for k in type(module).__mro__ if k in OCTAVE_CONVS)
    if parametrize.is_parametrized(module):
        names = ", ".join(module.parametrizations.keys())
        return f"{kind} has a parametrized {names} (torch.nn.utils.parametrize)"
    if is_tf_same(module) and "forward" not in vars(module):
        if not _odd_kernel(module) or module.padding != (0, 0):
            return f"{kind} with an even kernel pads one side more at every stride"
    elif is_std_conv(module):
        if isinstance(module.padding, str):
            return f"{kind} pads by {module.padding!r}"
    elif "forward" in vars(module) or type(module).forward is not base.forward \
            or getattr(type(module), "_conv_forward", None) is not getattr(base, "_conv_forward", None):
        return f"{kind} has its own forward"
    hooks = hook_kinds(module)
    if hooks:
        return f"{kind} has {hooks}"
    return None


def hook_kinds(module: nn.Module) -> str:
    """The kinds of hooks registered on ``module`` ("forward and backward hooks"), or "" when none."""
    kinds = [what for what, table in (("forward", module._forward_hooks), ("forward pre", module._forward_pre_hooks),
                                      ("backward", module._backward_hooks),
                                      ("backward pre", getattr(module, "_backward_pre_hooks", {})))
             if table]
    return f"{' and '.join(kinds)} hooks" if kinds else ""


def unconvertible(model: nn.Module) -> dict[str, str]:
    """{module path: reason} for every conv layer of ``model`` that the converter would leave vanilla
    rather than change its meaning (the layers of a converted model's octave convs are not listed)."""
    from octprofile.nn import OctConvNd

    inside_octave = {f"{name}.{sub}" for name, module in model.named_modules() if isinstance(module, OctConvNd)
                     for sub, _ in module.named_modules() if sub}
    return {name: reason for name, module in model.named_modules()
            if isinstance(module, ConvLike) and name not in inside_octave
            and (reason := unconvertible_reason(module)) is not None}


def not_converted(model: nn.Module) -> dict[str, str]:
    """{module path: reason} of the conv layers a ``convert``ed model left vanilla because converting them
    would have changed what it computes (empty for a vanilla model or one where every layer converted)."""
    return dict(getattr(model, NOT_CONVERTED_ATTR, {}))
