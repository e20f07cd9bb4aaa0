"""Checking a placement plan by dry runs before the model is converted, and mending what fails.

A rule plans from the module tree; the forward code decides where each map goes, and a branch can bypass
the layer that was meant to enter or leave the octave (RegNet's projection shortcut reads the block input
before its first conv does). So the plan is applied to a meta copy of the model (no weights are copied) and
run; a conv that got the wrong kind of input is re-planned (it enters where it reads a tensor, it reads
the low map where it gets a pair), and, for the chain rule, a layer that cannot take the pair at all
cuts the chain there (see ``chain_region``), until a plan runs. A family rule whose plan still fails is
refused with the layer named. What was cut is reported per layer in ``coverage``.

Refusals stay quick: when a layer class fails the same way a second time (GhostNet's ghost modules, HRNet's
upsampling fuse layers), every layer of that class is cut at once instead of one dry run each, and the loop gives
up after ``MAX_DRY_RUNS`` dry runs that end in a cut, naming the last failure.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from octprofile.convert.coverage import Reason
from octprofile.convert.placement import MERGED, PlacementError, Plan, is_depthwise, octave_obstacle
from octprofile.errors import ConversionError
from octprofile.nn.meta import ModuleScope, run_on_meta
from octprofile.nn.octconv import OctConv2d
from octprofile.nn.pair import OctInputError, OctPair, OctPairError

Cut = tuple[int, int]  # see ``chain_region``
# dry runs that fail with no conv to mend (each ends in a cut) before the model is refused; mends, each fixing one
# conv's input, are bounded by the convs alone (inception_v3 needs 30 of them)
MAX_DRY_RUNS = 24


@dataclass(frozen=True)
class Failure:
    """Where and why a dry run failed: the innermost module it came from, and how many of the convs had
    started by then."""

    name: str
    module: nn.Module | None
    error: Exception
    convs_started: int

    def describe(self) -> str:
        return f"'{self.name or '<model>'}' ({layer_class(self.module)})"

    def sentence(self) -> str:
        return f"layer {self.describe()} cannot run on the octave model: {in_words(self.error)}"


def layer_class(module: nn.Module | None) -> str:
    """A layer's class as its user knows it: ``timm MixedConv2d``, ``torchvision Bottleneck``, ``Conv2d``."""
    kind = type(module)
    library = kind.__module__.partition(".")[0]
    return f"{library} {kind.__name__}" if library in ("timm", "torchvision") else kind.__name__


_NO_ATTRIBUTE = re.compile(r"'OctPair(?:Stack)?' object has no attribute '(\w+)'")
_TOO_SMALL = re.compile(r"Given input size: \((\S+)\)\. Calculated output size: \((\S+)\)")


def in_words(error: Exception) -> str:
    """What went wrong, in the user's terms: a layer that reads an attribute the (high, low) pair has not uses
    the map as one tensor."""
    found = _NO_ATTRIBUTE.search(str(error)) if isinstance(error, AttributeError) else None
    if found:
        return (f"it uses the map as one tensor (its .{found.group(1)}), which the octave region's (high, low) pair "
                "is not")
    small = _TOO_SMALL.search(str(error))
    if small:  # torch's pooling, on a map narrower than its window
        return (f"a pool in it gets a map of {small.group(1)} it cannot pool (it would output {small.group(2)}): "
                "the octave low-frequency map has half the vanilla side; a larger --input-size may run")
    return str(error)


def meta_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose parameters and buffers are meta tensors: free, whatever the model's size."""
    memo: dict[int, torch.Tensor] = {}
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        meta = torch.empty_like(tensor, device="meta")
        memo[id(tensor)] = nn.Parameter(meta, tensor.requires_grad) if isinstance(tensor, nn.Parameter) else meta
    return copy.deepcopy(model, memo)


def dry_run(model: nn.Module, input_shape: tuple[int, ...], conv_order: list[str],
            scope: ModuleScope | None = None) -> tuple[Failure | None, object]:
    """Run ``model`` on meta tensors: (None, output) or (the failure, None). ``scope`` watches the pass (which
    modules were called with an octave pair)."""
    scope = scope or ModuleScope()
    convs = set(conv_order)
    started: list[str] = []
    handles = [module.register_forward_pre_hook(lambda _m, _i, name=name: started.append(name))
               for name, module in model.named_modules() if name in convs]
    try:
        with scope.watch(model):
            return None, run_on_meta(model, input_shape)
    except Exception as error:  # noqa: BLE001 - any failure is described and mended or reported
        name, module = scope.failed or ("", model)
        return Failure(name, module, error, len(set(started))), None
    finally:
        for handle in handles:
            handle.remove()


def mend(failure: Failure, plan: Plan, alpha: float) -> tuple[str, tuple[float, float]] | None:
    """The one conv change that answers ``failure``, or None when it needs a cut: a dense conv that reads a
    tensor where it wants a pair enters the octave there; a conv that gets a pair reads its low map (a
    vanilla one leaves the octave; a depthwise one stays at alpha on both sides), or, where no octave conv
    reproduces it, the map the pair stands for (``MERGED``: a residual stage's shortcut carries the pair past the
    conv that left the octave into FasterNet's 2x2 patch merging)."""
    module, name = failure.module, failure.name
    if isinstance(module, OctConv2d) and isinstance(failure.error, OctInputError):
        _, alpha_out = plan.get(name, (0.0, 0.0))
        if failure.error.wants_pair:
            return None if module.depthwise else (name, (0.0, alpha_out))
        return name, (alpha, alpha) if module.depthwise else (alpha, alpha_out)
    if isinstance(module, nn.Conv2d) and name not in plan:
        if octave_obstacle(module) is None:
            return name, (alpha, alpha) if is_depthwise(module) else (alpha, 0.0)
        if isinstance(failure.error, OctPairError):
            return name, MERGED
    return None


def cut_at(failure: Failure, conv_order: list[str]) -> Cut:
    """Where the chain must be cut so the region no longer reaches the failing layer: before it (a conv may
    start a new run), around the convs inside it (a block whose own code failed), or before the next conv."""
    index = {name: i for i, name in enumerate(conv_order)}
    if failure.name in index:
        return index[failure.name], index[failure.name]
    inside = [i for name, i in index.items() if failure.name and name.startswith(failure.name + ".")]
    if inside:
        return min(inside), max(inside) + 1
    return failure.convs_started, failure.convs_started


def class_cuts(failure: Failure, model: nn.Module, conv_order: list[str], call_order: list[str]) -> list[Cut]:
    """The cuts for every layer of ``model`` of the failing layer's class (a conv's class excepted: convs are mended or
    cut one by one), each as ``cut_at`` would cut it when it fails; ``call_order`` (leaf modules in call order) places
    a layer that holds no conv before the conv that follows it."""
    kind = type(failure.module)
    if failure.module is None or isinstance(failure.module, nn.Conv2d | OctConv2d) or not failure.name:
        return []
    convs = set(conv_order)
    cuts = []
    for name, module in model.named_modules():
        if not name or type(module) is not kind:
            continue
        first = next((i for i, called in enumerate(call_order) if called == name or called.startswith(name + ".")),
                     None)
        started = len({called for called in call_order[:first] if called in convs}) if first is not None else 0
        cuts.append(cut_at(Failure(name, module, failure.error, started), conv_order))
    return cuts


def failure_key(failure: Failure) -> tuple[type, str]:
    return type(failure.module), in_words(failure.error)


@dataclass(frozen=True)
class Settled:
    """A plan that runs, as its dry run found it: the same plan applied to the model runs the same way, so
    neither the norm splits nor the run need finding again."""

    plan: Plan  # ``complete``d, e.g. with the pooled strides
    cut_reasons: dict[str, Reason]  # the convs a cut took out of the octave region, and why
    applied: object  # what ``apply`` returned for this plan (the norm splits)
    called_with_pair: list[str]  # modules the dry run called with an octave pair


def settle(model: nn.Module, plan: Plan, conv_order: list[str], input_shape: tuple[int, ...], alpha: float,
           apply: Callable[[nn.Module, Plan], object], complete: Callable[[Plan], Plan],
           replan: Callable[[list[Cut]], Plan] | None, call_order: list[str] | None = None) -> Settled:
    """The plan that runs, tried on meta copies of ``model`` and mended until it does. ``apply`` converts a model
    by a plan; ``replan`` gives the rule's plan with the chain cut (None: a family rule, whose failures other
    than a conv's input are refused). ``call_order``: leaf modules in call order (see ``class_cuts``)."""
    cuts: list[Cut] = []
    cut_reasons: dict[str, Reason] = {}
    fixes: Plan = {}
    seen: set[tuple[type, str]] = set()
    failure = None
    runs = cut_runs = 0
    while runs < 2 * len(conv_order) + 8:
        runs += 1
        candidate = complete(plan | fixes)
        trial = meta_copy(model)  # each dry run converts a copy: ``model`` stays as it is
        scope = ModuleScope()
        try:
            applied = apply(trial, candidate)
            failure, output = dry_run(trial, input_shape, conv_order, scope)
        except ConversionError as error:  # a planned conv has no octave version (e.g. its padding)
            name = getattr(error, "layer", "")
            failure, output = Failure(name, trial.get_submodule(name), error, 0), None
        if failure is None and isinstance(output, OctPair):
            failure = Failure("", trial, ConversionError("the model returns an octave pair"), len(conv_order))
        if failure is None:
            return Settled(candidate, cut_reasons, applied, scope.called_with_pair)
        fix = mend(failure, candidate, alpha)
        if fix is not None and candidate.get(fix[0]) != fix[1]:
            fixes[fix[0]] = fix[1]
            continue
        if replan is None:
            raise ConversionError(failure.sentence())
        cut_runs += 1
        if cut_runs >= MAX_DRY_RUNS:
            break
        cuts.append(cut_at(failure, conv_order))
        if failure_key(failure) in seen:  # the second time a layer class fails alike: cut all of its layers
            cuts += class_cuts(failure, model, conv_order, call_order or conv_order)
        seen.add(failure_key(failure))
        new_plan = _replanned(replan, cuts, failure)
        if new_plan == plan:  # the cut missed the region: shrink it from its end
            last = max(conv_order.index(name) for name in plan)
            cuts.append((last, last + 1))
            new_plan = _replanned(replan, cuts, failure)
        reason = Reason("cut", f"the octave region is cut at {failure.describe()}: {in_words(failure.error)}")
        cut_reasons.update({name: reason for name in plan if name not in new_plan})
        plan, fixes = new_plan, {}
    raise ConversionError(f"no octave region of this model runs after {runs} dry runs (the last: "
                          f"{failure.sentence() if failure else 'none'})")


def _replanned(replan: Callable[[list[Cut]], Plan], cuts: list[Cut], failure: Failure) -> Plan:
    try:
        return replan(cuts)
    except PlacementError as error:
        raise ConversionError(f"{error}; the octave region was cut at {failure.describe()}: "
                              f"{in_words(failure.error)}") from error
