"""Turn a vanilla model into its octave version by swapping layers in its own module tree.

The architecture is never written twice: the vanilla model's forward code runs unchanged, with
OctConv2d / OctBatchNorm2d in place of the planned convs and their norms, and ``OctPair`` carrying
the (high, low) map through the parameter-free modules, residual additions and concatenations in between.
"""

from __future__ import annotations

import math

from torch import nn

from octprofile.convert.fidelity import NOT_CONVERTED_ATTR, ConvLike, hook_kinds, unconvertible_reason
from octprofile.convert.placement import RULES, PlacementError, Plan, is_depthwise, pooled_strides
from octprofile.errors import ConversionError
from octprofile.nn import FULL, ChannelSplit, OctBatchNorm2d, OctConv2d, OctDesign, OctPair, check_alpha
from octprofile.nn.meta import ModuleScope, run_on_meta


def execution_order(model: nn.Module, input_shape: tuple[int, ...]) -> list[str]:
    """Names of the leaf modules (and of conv layers, leaves or not: a parametrized conv holds its
    parametrizations) in the order one forward pass calls them (repeats kept)."""
    order: list[str] = []
    handles = [module.register_forward_pre_hook(lambda _m, _i, name=name: order.append(name))
               for name, module in model.named_modules()
               if not list(module.children()) or isinstance(module, ConvLike)]
    try:
        run_on_meta(model, input_shape)
    except Exception as error:
        raise ConversionError(f"the vanilla model fails on input {tuple(input_shape)}: {error}") from error
    finally:
        for handle in handles:
            handle.remove()
    return order


def group_multiples(model: nn.Module) -> dict[int, int]:
    """For each channel count read or written by a grouped (not depthwise) conv, the multiple its
    low part must be: every path of an octave grouped conv keeps the vanilla group count."""
    multiples: dict[int, int] = {}
    for module in model.modules():
        if isinstance(module, nn.Conv2d) and module.groups > 1 and not is_depthwise(module):
            for channels in (module.in_channels, module.out_channels):
                multiples[channels] = math.lcm(multiples.get(channels, 1), module.groups)
    return multiples


def convert(model: nn.Module, alpha: float, family: str, input_shape: tuple[int, ...], *,
            everywhere: bool = False, design: OctDesign = FULL) -> nn.Module:
    """Convert ``model`` in place by the ``family`` placement rule and return it.

    ``input_shape`` (N, C, H, W) is only used to trace the model on the meta device. ``design`` applies
    to every converted layer as ``OctDesign.for_layer`` adapts it (entering and leaving layers keep
    the one exchange they need). With pooled down-sampling (the reference), the strided vanilla convs of
    the body pool too (``pooled_strides``); the strided ablation leaves them strided.
    """
    alpha = check_alpha(alpha)
    order = execution_order(model, input_shape)
    if alpha == 0.0:
        return model
    modules = dict(model.named_modules())
    conv_order = list(dict.fromkeys(n for n in order if isinstance(modules[n], ConvLike)))
    try:
        plan = RULES[family](model, alpha, everywhere, conv_order)
    except PlacementError as error:
        raise ConversionError(str(error)) from error
    if design.downsample == "pool":
        plan |= pooled_strides(plan, conv_order, modules)
    skipped = {name: reason for name in conv_order if (reason := unconvertible_reason(modules[name])) is not None}
    for name, (alpha_in, alpha_out) in plan.items():
        if (alpha_in, alpha_out) != (0.0, 0.0) and name in skipped:
            raise ConversionError(f"cannot convert layer '{name}' without changing what the model computes: "
                                  f"{skipped[name]}")
    # hooks on other layers are kept, but a hooked layer inside the octave region would hand them the pair
    hooked = {name: hooks for name, module in modules.items() if name and (hooks := hook_kinds(module))}
    apply_plan(model, plan, order, input_shape, design=design)
    setattr(model, NOT_CONVERTED_ATTR, skipped)
    validate(model, input_shape, hooked)
    return model


def apply_plan(model: nn.Module, plan: Plan, order: list[str], input_shape: tuple[int, ...], *,
               design: OctDesign = FULL) -> None:
    """Swap each planned conv (a (0, 0) entry too: see ``pooled_strides``) for an OctConv2d, then each batch
    norm that reads an octave pair for an OctBatchNorm2d of that pair's split."""
    modules = dict(model.named_modules())
    multiples = group_multiples(model)
    for name in dict.fromkeys(order):
        module = modules[name]
        if not isinstance(module, ConvLike) or name not in plan:
            continue
        alpha_in, alpha_out = plan[name]
        in_split = ChannelSplit.from_alpha(module.in_channels, alpha_in, multiples.get(module.in_channels, 1))
        out_split = ChannelSplit.from_alpha(module.out_channels, alpha_out, multiples.get(module.out_channels, 1))
        try:
            octave = OctConv2d.from_conv(module, alpha_in, alpha_out, in_split=in_split, out_split=out_split,
                                         design=design.for_layer(alpha_in, alpha_out))
        except ValueError as error:
            raise ConversionError(f"cannot convert layer '{name}' ({module}): {error}") from error
        model.set_submodule(name, octave)
    for name, split in norm_splits(model, input_shape).items():
        model.set_submodule(name, OctBatchNorm2d.from_bn(modules[name], split))


class _SplitProbe(nn.Module):
    """Stands in for a batch norm in ``norm_splits``' pass: notes the split of an octave pair it reads."""

    def __init__(self, name: str, seen: dict[str, ChannelSplit]) -> None:
        super().__init__()
        self.name, self.seen = name, seen

    def forward(self, x):
        if isinstance(x, OctPair):
            self.seen[self.name] = ChannelSplit(x.channels, x.low.shape[1])
        return x


def norm_splits(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, ChannelSplit]:
    """{name: split} of the batch norms that read an octave pair, found by a meta pass in which each norm passes
    its input on unchanged. A norm may follow its conv (post-activation) or precede the next one, reading a
    concatenation or a sum (pre-activation, DenseNet): either way it normalises the map it reads."""
    norms = {name: module for name, module in model.named_modules() if isinstance(module, nn.BatchNorm2d)}
    seen: dict[str, ChannelSplit] = {}
    for name in norms:
        model.set_submodule(name, _SplitProbe(name, seen))
    try:
        run_on_meta(model, input_shape)
    except Exception:  # noqa: BLE001 - the converted model is run again by ``validate``, which names the layer
        pass
    finally:
        for name, module in norms.items():
            model.set_submodule(name, module)
    return seen


def validate(model: nn.Module, input_shape: tuple[int, ...], hooked: dict[str, str] | None = None) -> None:
    """Run the converted model on meta tensors; a layer that cannot take the octave pair is named, and so is
    a layer of ``hooked`` ({name: its hooks}, taken before conversion) that would be called with the pair."""
    scope = ModuleScope()
    try:
        with scope.watch(model):
            output = run_on_meta(model, input_shape)
    except Exception as error:
        raise ConversionError(
            f"layer {scope.current()} cannot run on the octave model: {error}") from error
    for name in dict.fromkeys(scope.called_with_pair):
        if name in (hooked or {}):
            raise ConversionError(
                f"layer '{name}' ({type(model.get_submodule(name)).__name__}) lies inside the octave region and "
                f"has {hooked[name]}: they would be called with the (high, low) pair instead of a tensor; "
                "remove them to convert this model")
    if isinstance(output, OctPair):
        raise ConversionError("the model still returns an octave pair: no conv leaves the octave before the output")
