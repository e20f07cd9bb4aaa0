"""Which conv layers the converter can replace without changing what the model computes.

An OctConv2d reproduces a plain ``nn.Conv2d`` (its weight, bias, stride, padding...) and nothing
else: not a subclass's own ``forward``, not the hooks registered on the layer, not a
parametrization of its weight, and not another kind of conv (1-d, 3-d, transposed). Such a layer
stays vanilla and is reported with the reason, or, where the octave region would have to run
through it, the conversion is refused.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrize

ConvLike = nn.modules.conv._ConvNd

#: attribute a converted model carries: {module path: reason} of the conv layers left vanilla
NOT_CONVERTED_ATTR = "octprofile_not_converted"


def unconvertible_reason(module: nn.Module) -> str | None:
    """Why ``module`` (a conv-like layer) cannot become an OctConv2d faithfully; None when it can."""
    kind = type(module).__name__
    if not isinstance(module, nn.Conv2d):
        return f"{kind} is not a Conv2d; only Conv2d layers are converted"
    if parametrize.is_parametrized(module):
        names = ", ".join(module.parametrizations.keys())
        return f"{kind} has a parametrized {names} (torch.nn.utils.parametrize)"
    if "forward" in vars(module) or type(module).forward is not nn.Conv2d.forward \
            or type(module)._conv_forward is not nn.Conv2d._conv_forward:
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
    from octprofile.nn import OctConv2d

    inside_octave = {f"{name}.{sub}" for name, module in model.named_modules() if isinstance(module, OctConv2d)
                     for sub, _ in module.named_modules() if sub}
    return {name: reason for name, module in model.named_modules()
            if isinstance(module, ConvLike) and name not in inside_octave
            and (reason := unconvertible_reason(module)) is not None}


def not_converted(model: nn.Module) -> dict[str, str]:
    """{module path: reason} of the conv layers a ``convert``ed model left vanilla because converting them
    would have changed what it computes (empty for a vanilla model or one where every layer converted)."""
    return dict(getattr(model, NOT_CONVERTED_ATTR, {}))
