"""Turn a vanilla model into its octave version by swapping layers in its own module tree.

The architecture is never written twice: the vanilla model's forward code runs unchanged, with
octave convs (OctConv1d/2d/3d, OctConvTranspose2d) and octave batch norms in place of the planned convs
and their norms, and ``OctPair`` carrying
the (high, low) map through the parameter-free modules, residual additions and concatenations in between.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from octprofile.convert.coverage import BETWEEN, VANILLA_REASONS_ATTR, Reason, vanilla_reasons
from octprofile.convert.fidelity import (
    NOT_CONVERTED_ATTR,
    ConvLike,
    equivalent_padding,
    hook_kinds,
    unconvertible_reason,
)
from octprofile.convert.placement import (
    MERGED,
    RULES,
    PlacementError,
    Plan,
    chain_region,
    is_depthwise,
    octave_obstacle,
    pooled_strides,
)
from octprofile.convert.settle import settle
from octprofile.errors import ConversionError
from octprofile.nn import FULL, ChannelSplit, OctDesign, OctPair, check_alpha, octave_class, octave_norm_rule
from octprofile.nn.merge import MergingConv
from octprofile.nn.meta import ModuleScope, run_on_meta
from octprofile.nn.norm import grouped_channels
from octprofile.nn.split import SplitRule


@dataclass(frozen=True)
class Trace:
    """One meta forward pass of a vanilla model: which modules run, in order, and what each conv reads."""

    order: list[str]  # leaf modules and conv layers, in call order (repeats kept)
    conv_input_sizes: dict[str, tuple[int, ...]]  # spatial size of each conv's input (at its first call)
    parent_input_sizes: dict[str, tuple[int, ...]]  # the same for each module that holds a conv


def trace(model: nn.Module, input_shape: tuple[int, ...]) -> Trace:
    """Names of the leaf modules (and of conv layers, leaves or not: a parametrized conv holds its
    parametrizations) in the order one forward pass calls them, and the map sizes the convs and their
    parents read."""
    order: list[str] = []
    sizes: dict[str, tuple[int, ...]] = {}
    modules = dict(model.named_modules())
    convs = {name for name, module in modules.items() if isinstance(module, ConvLike)}
    parents = {name.rpartition(".")[0] for name in convs}

    def record(name: str, inputs) -> None:
        if name in convs or not list(modules[name].children()):
            order.append(name)
        if name not in sizes and inputs and isinstance(inputs[0], torch.Tensor):
            sizes[name] = tuple(inputs[0].shape[2:])

    handles = [module.register_forward_pre_hook(lambda _m, inputs, name=name: record(name, inputs))
               for name, module in modules.items()
               if not list(module.children()) or name in convs or name in parents]
    scope = ModuleScope()
    try:
        with scope.watch(model):
            run_on_meta(model, input_shape)
    except Exception as error:
        if reads_values(error):
            raise ConversionError(
                f"layer {scope.current()} depends on the values of its input (data-dependent control flow, "
                "or .item()/.tolist()/nonzero on a tensor), which octprofile's shape-only pass on the meta device "
                f"cannot follow: {error}".split("\n")[0]) from error
        raise ConversionError(f"the vanilla model fails on input {tuple(input_shape)}: {error}") from error
    finally:
        for handle in handles:
            handle.remove()
    return Trace(order, {n: sizes[n] for n in convs if n in sizes}, {n: sizes[n] for n in parents if n in sizes})


# what torch says when code asks a meta tensor for its values
_VALUE_READS = ("cannot be called on meta tensors", "Cannot copy out of meta tensor", "_local_scalar_dense",
                "data-dependent", "meta tensors do not support")


def reads_values(error: Exception) -> bool:
    """Whether ``error`` is a meta pass meeting code that reads a tensor's values (``if x.mean() > 0``)."""
    return isinstance(error, RuntimeError | NotImplementedError) and any(s in str(error) for s in _VALUE_READS)


def execution_order(model: nn.Module, input_shape: tuple[int, ...]) -> list[str]:
    """Names of the leaf modules (and of conv layers) in the order one forward pass calls them (repeats kept)."""
    return trace(model, input_shape).order


def reads_pooled_map(name: str, found: Trace) -> bool:
    """A conv that reads a 1x1 map its parent module did not receive as 1x1: the map was pooled to one value
    per channel inside the parent (the gate of squeeze-excitation). Such a map has no spatial frequencies to
    split; the reference SE-ResNet keeps these layers dense over the channels of both branches. A conv of fewer
    dims than its parent's map (ECA's 1-d conv across the pooled channels) reads no spatial map either."""
    size = found.conv_input_sizes.get(name)
    parent = found.parent_input_sizes.get(name.rpartition(".")[0])
    if size is None or parent is None or len(parent) < 2:
        return False
    # or fewer dims than the map its parent reads: ECA's 1-d conv runs across the channels of the pooled map
    return (len(size) == 2 and all(s == 1 for s in size) and any(s > 1 for s in parent)) or len(size) < len(parent)


def group_multiples(model: nn.Module) -> dict[int, int]:
    """For each channel count read or written by a grouped (not depthwise) conv, the multiple its
    low part must be: every path of an octave grouped conv keeps the vanilla group count; and for each normalised
    by a group norm, its group size (a split between groups keeps every group in one branch)."""
    multiples: dict[int, int] = {}
    for module in model.modules():
        if isinstance(module, ConvLike) and module.groups > 1 and not is_depthwise(module):
            for channels in (module.in_channels, module.out_channels):
                multiples[channels] = math.lcm(multiples.get(channels, 1), module.groups)
        elif (grouped := grouped_channels(module)) is not None:
            channels, size = grouped
            multiples[channels] = math.lcm(multiples.get(channels, 1), size)
    return multiples


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while inside (as it was after): a conversion makes and drops many
    thousand module objects, which set off full collections that cost a fifth of a meta build; what it drops is
    freed by reference counting, and any cycles wait for the next collection."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@collector_paused()
def convert(model: nn.Module, alpha: float, family: str, input_shape: tuple[int, ...], *,
            everywhere: bool = False, design: OctDesign = FULL) -> nn.Module:
    """Convert ``model`` in place by the ``family`` placement rule and return it.

    ``input_shape`` (N, C, H, W) is only used to trace the model on the meta device. ``design`` applies
    to every converted layer as ``OctDesign.for_layer`` adapts it (entering and leaving layers keep
    the one exchange they need). With pooled down-sampling (the reference), the strided vanilla convs of
    the body pool too (``pooled_strides``); the strided ablation leaves them strided.
    """
    alpha = check_alpha(alpha)
    found = trace(model, input_shape)
    if alpha == 0.0:
        return model
    modules = dict(model.named_modules())
    conv_order = list(dict.fromkeys(n for n in found.order if isinstance(modules[n], ConvLike)))
    # gates on pooled maps neither join nor cut the octave region: they read and write plain tensors
    gates = {name for name in conv_order if reads_pooled_map(name, found)}
    rule_order = [n for n in conv_order if n not in gates]
    try:
        plan = RULES[family](model, alpha, everywhere, rule_order, found.conv_input_sizes)
    except PlacementError as error:
        raise ConversionError(str(error)) from error
    plan = {name: alphas for name, alphas in plan.items() if name not in gates}

    skipped = {name: reason for name in conv_order if (reason := unconvertible_reason(modules[name])) is not None}
    for name, (alpha_in, alpha_out) in plan.items():
        if (alpha_in, alpha_out) != (0.0, 0.0) and name in skipped:
            raise ConversionError(f"cannot convert layer '{name}' without changing what the model computes: "
                                  f"{skipped[name]}")

    def complete(plan: Plan) -> Plan:
        return plan | pooled_strides(plan, conv_order, modules) if design.downsample == "pool" else plan

    replan = (lambda cuts: chain_region(model, alpha, rule_order, cuts)) if family == "chain" else None
    settled = settle(model, plan, rule_order, input_shape, alpha,
                     lambda copy, plan: apply_plan(copy, plan, found.order, input_shape, design=design),
                     complete, replan, found.order)
    plan, cut_reasons = settled.plan, settled.cut_reasons
    merged = {name for name, alphas in plan.items() if alphas == MERGED}
    octave_plan = {name: alphas for name, alphas in plan.items() if name not in merged}
    reasons = vanilla_reasons(conv_order, modules, octave_plan, skipped, gates, family, everywhere)
    reasons |= {name: reason for name, reason in cut_reasons.items() if name not in plan}
    # a conv whose geometry no octave conv reproduces ends the chain's region: that, not its place, is why
    reasons |= {name: Reason("geometry", obstacle) for name, reason in reasons.items()
                if (family == "chain" or reason == BETWEEN) and reason.kind != "unsupported"
                and (obstacle := octave_obstacle(modules[name])) is not None}
    reasons |= {name: Reason("geometry", f"{octave_obstacle(modules[name])}; it reads the (high, low) pair merged, the "
                                         "low map upsampled, so the octave region leaves there") for name in merged}
    # hooks on other layers are kept, but a hooked layer inside the octave region would hand them the pair
    hooked = {name: hooks for name, module in modules.items() if name and (hooks := hook_kinds(module))}
    refuse_tied(model, set(plan) | set(settled.applied))
    # the settled plan ran on a meta copy of this very model: its splits and its run hold here too
    apply_plan(model, plan, found.order, input_shape, design=design, splits=settled.applied)
    setattr(model, NOT_CONVERTED_ATTR, skipped)
    setattr(model, VANILLA_REASONS_ATTR, reasons)
    refuse_hooked_in_region(model, hooked, settled.called_with_pair)
    return model


def apply_plan(model: nn.Module, plan: Plan, order: list[str], input_shape: tuple[int, ...], *,
               design: OctDesign = FULL, splits: dict[str, ChannelSplit] | None = None) -> dict[str, ChannelSplit]:
    """Swap each planned conv (a (0, 0) entry too: see ``pooled_strides``) for its octave version (``octave_class``),
    then each batch norm that reads an octave pair for an octave norm of that pair's split (``splits``: as found
    before for the same plan; default: found by a meta pass). Returns the splits."""
    modules = dict(model.named_modules())
    multiples = group_multiples(model)
    for name in dict.fromkeys(order):
        module = modules[name]
        if not isinstance(module, ConvLike) or name not in plan:
            continue
        if plan[name] == MERGED:
            model.set_submodule(name, MergingConv(module))
            continue
        alpha_in, alpha_out = plan[name]
        # every map of the region splits by one rule, which the pairs carry to the slices taken of them
        in_rule, out_rule = (SplitRule(a, design.low_multiple, multiples) for a in (alpha_in, alpha_out))
        try:
            octave = octave_class(module).from_conv(module, alpha_in, alpha_out, in_split=in_rule(module.in_channels),
                                         out_split=out_rule(module.out_channels), split_rule=out_rule,
                                         design=design.for_layer(alpha_in, alpha_out),
                                         padding=equivalent_padding(module, design.downsample))
        except ValueError as error:
            refusal = ConversionError(f"cannot convert layer '{name}' ({module}): {error}")
            refusal.layer = name
            raise refusal from error
        model.set_submodule(name, octave)
    splits = norm_splits(model, input_shape) if splits is None else splits
    for name, split in splits.items():
        norm = modules[name]
        try:
            model.set_submodule(name, octave_norm_rule(norm)(norm, split))
        except ValueError as error:
            refusal = ConversionError(f"layer '{name}' ({type(norm).__name__}) has no octave version here: {error}")
            refusal.layer = name
            raise refusal from error
    return splits


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
    """{name: split} of the norms that read an octave pair, found by a meta pass in which each norm passes
    its input on unchanged. A norm may follow its conv (post-activation) or precede the next one, reading a
    concatenation or a sum (pre-activation, DenseNet): either way it normalises the map it reads. Which norms
    have an octave version is ``nn.norm.NORM_RULES``' to say (timm's norm + activation layers too); any other
    stays in place, so the pair reaching it fails validation by name instead of losing a step."""
    norms = {name: module for name, module in model.named_modules() if octave_norm_rule(module) is not None}
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


def refuse_tied(model: nn.Module, replaced: set[str]) -> None:
    """Refuse to replace a layer that shares a parameter with another (tied weights): its octave version holds its
    own copy of the weights, so the Oct model would have more parameters than the vanilla one, and the two layers
    would no longer share them."""
    owners: dict[int, list[tuple[str, str]]] = {}
    for module_name, module in model.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            owners.setdefault(id(param), []).append((module_name, param_name))
    for shared in owners.values():
        for name, param_name in shared:
            if name in replaced and len(shared) > 1:
                other = next(f"'{n}'" for n, _ in shared if n != name) if any(n != name for n, _ in shared) \
                    else "itself"
                raise ConversionError(
                    f"layer '{name}' ({type(model.get_submodule(name)).__name__}) shares its {param_name} with "
                    f"{other} (tied weights): its octave version would hold its own copy, so the Oct model would "
                    "have more parameters than the vanilla one; untie them to convert this model")


def refuse_hooked_in_region(model: nn.Module, hooked: dict[str, str], called_with_pair: list[str]) -> None:
    """Name the first layer of ``hooked`` ({name: its hooks}, taken before conversion) that the octave model calls
    with the (high, low) pair: its hooks would get the pair instead of a tensor."""
    for name in dict.fromkeys(called_with_pair):
        if name in hooked:
            raise ConversionError(
                f"layer '{name}' ({type(model.get_submodule(name)).__name__}) lies inside the octave region and "
                f"has {hooked[name]}: they would be called with the (high, low) pair instead of a tensor; "
                "remove them to convert this model")
