"""Which layers a rewrite may carry: the ones that compute exactly what their stock torch (or octprofile) class does.

``prepare``'s eager rewrite and the deploy form replace convs and fold batch norms into them from the layer's
weights alone. That is the layer's function only when the layer runs its class's stock ``forward``: a subclass
with a forward of its own (timm's ``BatchNormAct2d`` activates after normalising, ``StdConv2d`` standardises
its weight), a forward set on the instance, or a hook (which may change the input or the output) computes
something else. Such a layer is left as the user's module, and the rewrite does not touch it.
"""

from __future__ import annotations

from torch import nn

from octprofile.nn import OctBatchNorm2d, OctConv2d

# the stock class a rewrite knows, and the methods of it that its forward runs
_KNOWN: tuple[tuple[type[nn.Module], tuple[str, ...]], ...] = (
    (nn.Conv1d, ("forward", "_conv_forward")),
    (nn.Conv2d, ("forward", "_conv_forward")),
    (nn.Conv3d, ("forward", "_conv_forward")),
    (nn.BatchNorm2d, ("forward",)),
    (OctConv2d, ("forward",)),
    (OctBatchNorm2d, ("forward",)),
)


def _has_hooks(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks)


def why_not_carriable(module: nn.Module) -> str | None:
    """Why a rewrite that knows ``module``'s stock class cannot carry it (one phrase), or None when it can:
    the class (and every layer inside it) runs the stock forward and no hook is registered on any of them."""
    for inner in module.modules():
        if _has_hooks(inner):
            return "it has forward hooks" if inner is module else "a layer inside it has forward hooks"
        if "forward" in vars(inner):
            return "its forward is set on the instance"
        for stock, methods in _KNOWN:
            if isinstance(inner, stock) and any(getattr(type(inner), m) is not getattr(stock, m) for m in methods):
                overridden = next(m for m in methods if getattr(type(inner), m) is not getattr(stock, m))
                return f"its class overrides {stock.__name__}.{overridden}"
    return None


def carriable(module: nn.Module) -> bool:
    """Whether a rewrite may replace ``module`` by what its stock class computes (see ``why_not_carriable``)."""
    return why_not_carriable(module) is None


def left_alone_note(names: list[tuple[str, nn.Module]]) -> list[str]:
    """A note naming the layers a rewrite left as built, with why; none when it left none."""
    if not names:
        return []
    shown = ", ".join(f"'{name}' ({type(module).__name__}: {why_not_carriable(module)})"
                      for name, module in names[:4])
    more = f" and {len(names) - 4} more" if len(names) > 4 else ""
    return [f"{len(names)} layers run as built, not rewritten (own forward or hooks): {shown}{more}"]
