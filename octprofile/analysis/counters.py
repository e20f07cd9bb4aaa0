"""Other counters beside the analytic count, and why each differs from it.

fvcore, PyTorch's FlopCounterMode, ptflops, thop and torchinfo each count a model their own way; torchvision
publishes params and GFLOPS for its weights. Each tool's total is explained as the analytic conv + linear MACs
plus the tool's own rules (transcribed from its source, the versions pinned in constraints.txt) applied to the
op census of the same model (census.py), term by op kind; the residual is what that does not explain. The
tools' conv and linear MACs are their own (ptflops and thop hook every path conv of an OctConv2d), so a zero
residual also confirms the analytic per-path count.

ptflops, thop and torchinfo are optional (the ``counters`` extra): a missing one raises ``MissingEngineError``,
one line naming the extra to install.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import math
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from octprofile.analysis.census import OpCall
from octprofile.errors import MissingEngineError
from octprofile.nn import OctConvNd, OctPair

COUNTERS_EXTRA = "pip install 'octprofile[counters]'"
OPTIONAL_TOOLS = ("ptflops", "thop", "torchinfo")
# what a tool adds to the analytic conv + linear MACs, by op kind (CounterRow has a column for each)
KINDS = ("as_flops", "bn", "activation", "pool", "upsample", "add", "bias", "rounding", "unhooked", "transposed")
# torchvision publishes "GFLOPS" (multiply-accumulates, in G) to 3 decimals: half the last digit either way
TORCHVISION_OPS_TOLERANCE = 500_000
TORCHVISION_ROUNDING = "published GFLOPS (GMACs) to 3 decimals: ±0.0005 G"
TORCHINFO_ON_PAIRS = ("not run: torchinfo takes only tensors, lists, tuples and dicts as module outputs (no "
                      "custom-module hook), so octave pairs leave it params only")

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveMaxPool1d,
          nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
_OP_LABELS = {"relu": "ReLU", "hardtanh": "ReLU6", "silu": "SiLU", "gelu": "GELU", "leaky_relu": "leaky ReLU",
              "elu": "ELU", "hardswish": "hard swish", "hardsigmoid": "hard sigmoid", "sigmoid": "sigmoid",
              "batch_norm": "batch norm", "interpolate": "upsample", "interpolate_bilinear": "bilinear upsample",
              "add": "add",
              **{f"{pool}_pool{d}d": label + ("" if d == 2 else f" {d}-d") for d in (1, 2, 3)
                 for pool, label in (("max", "max pool"), ("avg", "avg pool"), ("adaptive_avg", "global pool"))}}


def _affine(call: OpCall) -> int:
    return 2 if call.weighted else 1


# the conv and linear layers ptflops and thop hook, looked up by exact type
_HOOKED_MAC_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
                      nn.Linear)


def _unhooked(call: OpCall) -> dict[str, int]:
    """A conv or linear the analytic count includes that a tool looking its hooks up by exact type counts as zero:
    its MACs, taken away. A subclass of a torch conv or nn.Linear (e.g. with its own forward, or torchvision's video
    Conv3DSimple), or a functional conv in another layer (timm's BlurPool2d and CondConv2d, which their own rules
    count)."""
    kind = call.module
    if call.weight and kind not in _HOOKED_MAC_LAYERS:
        return {"unhooked": -call.macs}
    return {}


def _ptflops_rule(call: OpCall) -> dict[str, int]:
    """ptflops' module hooks (pytorch_ops.py): ReLU-type 1 per output element, pooling 1 per input element,
    batch norm 1 per element (2 when affine), conv/linear bias 1 per output element."""
    kind = call.module
    if _unhooked(call):
        return _unhooked(call)
    if kind in (nn.ReLU, nn.PReLU, nn.ELU, nn.LeakyReLU, nn.ReLU6, nn.GELU):
        return {"activation": call.out_elements}
    if kind in _POOLS:
        return {"pool": call.in_elements}
    if kind in _BATCH_NORMS:
        return {"bn": call.in_elements * _affine(call)}
    if kind in _HOOKED_MAC_LAYERS and call.weighted:
        return {"bias": call.out_elements}
    if kind is nn.Upsample:
        return {"upsample": call.out_elements}
    return {}


def _thop_adaptive_pool(call: OpCall) -> int:
    """thop's count_adap_avgpool per map: (window + 1) per output element, window = input ÷ output side."""
    out_hw = call.outputs[0][2:]
    total = 0
    for shape in call.inputs:
        window = math.prod(size / out for size, out in zip(shape[2:], out_hw))
        total += int((window + 1) * math.prod(shape[:2]) * math.prod(out_hw))
    return total


def _thop_rule(call: OpCall) -> dict[str, int]:
    """thop's register_hooks (vision/basic_hooks.py): batch norm 2 per element, twice that when affine; ReLU,
    max pooling and dropout zero; avg pool 1 per output; adaptive avg pool (window + 1) per output; no bias.
    A transposed conv by the forward conv's formula (count_convNd: output elements x in / groups x kernel),
    which charges the zeros a strided transposed conv inserts: the difference from our input-based count."""
    kind = call.module
    if _unhooked(call):
        return _unhooked(call)
    if kind in (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d):
        groups = call.outputs[0][1] // call.weight[1]
        thop = call.out_elements * (call.inputs[0][1] // groups) * math.prod(call.weight[2:])
        return {"transposed": thop - call.macs}
    if kind in _BATCH_NORMS:
        return {"bn": 2 * call.in_elements * _affine(call)}
    if kind in (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d):
        return {"pool": call.out_elements}
    if kind in (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d):
        return {"pool": _thop_adaptive_pool(call)}
    if kind is nn.Upsample:
        return {"upsample": call.out_elements}
    return {}


def _fvcore_rule(call: OpCall) -> dict[str, int]:
    """fvcore's default handles (flop_count.py) on the traced aten ops, wherever they are called: batch norm in
    inference 1 per element (2 when affine), 2-d nearest upsampling 1 per output, bilinear 4, 2-d adaptive avg
    pool 1 per input; relu, max/avg pooling, additions and the 1-d and 3-d upsampling and adaptive pooling
    (no handle: skipped as unsupported) are ignored."""
    if call.op == "batch_norm":
        return {"bn": call.in_elements * _affine(call)}
    images = len(call.outputs[0]) == 4 if call.outputs else False
    if call.op == "interpolate" and images:
        return {"upsample": call.out_elements}
    if call.op == "interpolate_bilinear" and images:
        return {"upsample": 4 * call.out_elements}
    if call.op == "adaptive_avg_pool2d":
        return {"pool": call.in_elements}
    return {}


def _torchinfo_rule(call: OpCall) -> dict[str, int]:
    """torchinfo's LayerInfo.calculate_macs on leaf modules: a conv's parameters × output positions (its bias:
    1 per output element), any other module's parameters × batch (linear bias: 1 per output; batch norm:
    batch × scale and shift)."""
    kind = call.module
    if kind is None or not call.weighted:
        return {}
    if "Conv" in kind.__name__ or kind is nn.Linear:
        return {"bias": call.out_elements}
    if kind in _BATCH_NORMS:
        batch, channels = call.inputs[0][:2]
        return {"bn": batch * 2 * channels}
    return {}


@dataclass(frozen=True)
class CounterRules:
    """How one counter counts beyond conv + linear MACs: its rule per op call and, per op kind, in words."""

    name: str
    rule: Callable[[OpCall], dict[str, int]]
    reasons: dict[str, str]
    how: str  # how octprofile runs it

    def terms(self, calls: list[OpCall]) -> dict[str, int]:
        """What the rule adds to the analytic MACs over ``calls``, by op kind."""
        total: Counter = Counter()
        for call in calls:
            total.update(self.rule(call))
        return dict(total)

    def missed(self, calls: list[OpCall]) -> list[str]:
        """The parameter-free ops it counts as zero, e.g. 'max pool', 'avg pool in OctConv2d' (functional calls
        inside a module it does not hook)."""
        found = [_OP_LABELS[call.op] + ("" if call.module else f" in {call.caller}")
                 for call in calls if call.op in _OP_LABELS and not self.rule(call)]
        found += [call.caller for call in calls if "unhooked" in self.rule(call)]
        return list(dict.fromkeys(found))


_UNHOOKED = ("a conv/linear subclass (its own forward), or a functional conv in another layer, has no hook of its "
             "exact type: counted as zero")
RULES = {rules.name: rules for rules in (
    CounterRules("FlopCounterMode", lambda call: {}, {"as_flops": "FLOPs: 2 per multiply-accumulate"},
                 "torch.utils.flop_counter on the meta pass"),
    CounterRules("fvcore", _fvcore_rule, {
        "bn": "batch norm: 2 per element (affine, inference)",
        "upsample": "2-d upsampling: 1 per output (nearest), 4 (bilinear)",
        "pool": "adaptive avg pool: 1 per input element"}, "FlopCountAnalysis(...).total() on a real model"),
    CounterRules("ptflops", _ptflops_rule, {
        "bn": "batch norm: 2 per element (affine)", "activation": "ReLU module: 1 per output element",
        "pool": "pooling module: 1 per input element", "upsample": "nn.Upsample: 1 per output element",
        "bias": "conv/linear bias: 1 per output element", "unhooked": _UNHOOKED},
        "get_model_complexity_info, pytorch backend, module hooks (count_functional=False)"),
    CounterRules("thop", _thop_rule, {
        "bn": "batch norm: 4 per element (2, ×2 affine)", "pool": "adaptive avg pool: window + 1 per output",
        "upsample": "nn.Upsample: 1 per output element", "unhooked": _UNHOOKED,
        "transposed": "transposed conv by output elements (counts inserted zeros)"}, "thop.profile, module hooks"),
    CounterRules("torchinfo", _torchinfo_rule, {
        "bias": "conv/linear bias: 1 per output element", "bn": "batch norm: batch × its 2C parameters"},
        "summary(...).total_mult_adds"),
)}


# ---- running the optional tools ----

def optional_tool(name: str):
    """Import an optional counter, or raise a one-line MissingEngineError naming the extra."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # thop imports distutils, deprecated
            return importlib.import_module(name)
    except ImportError:
        raise MissingEngineError(f"{name} is not installed: {COUNTERS_EXTRA}") from None


def missing_tools() -> dict[str, str]:
    """The optional counters that cannot be imported here, each with its one-line message."""
    found = {}
    for name in OPTIONAL_TOOLS:
        try:
            optional_tool(name)
        except MissingEngineError as error:
            found[name] = str(error)
    return found


class CounterFailed(RuntimeError):
    """A tool ran and gave no count; the message is its own reason, in one line."""


def _branches(value, like=None) -> tuple:
    """The maps a tool's hook should see one at a time: a pair's two branches; a tensor merged from a pair (global
    pooling) cut back along the channels; a tensor feeding a pair, once per output branch."""
    if isinstance(value, OctPair):
        return value.high, value.low
    if isinstance(like, OctPair):
        cut = like.high.shape[1]
        return value[:, :cut], value[:, cut:]
    return value, value


def per_branch(hook: Callable) -> Callable:
    """A tool's own module hook, run once per branch where the module reads or returns an octave pair: the
    tools measure one tensor (``.numel()``, ``.shape``), and this way their rule applies to each map."""
    def run(module, inputs, output):
        first = inputs[0] if inputs else None
        if not isinstance(first, OctPair) and not isinstance(output, OctPair):
            return hook(module, inputs, output)
        for x, y in zip(_branches(first), _branches(output, first)):
            hook(module, (x, *inputs[1:]), y)
        return None
    return run


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def run_ptflops(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(MACs, params) by ptflops at batch 1. Module hooks only: its default patch of torch.nn.functional
    replaces F.relu itself, which an octave pair cannot dispatch (and it counts ReLU and pooling modules twice,
    by hook and by patch); its hooks see each branch of a pair (per_branch, through custom_modules_hooks)."""
    optional_tool("ptflops")
    from ptflops import get_model_complexity_info
    from ptflops.pytorch_ops import MODULES_MAPPING

    hooks = {kind: per_branch(hook) for kind, hook in MODULES_MAPPING.items()}
    said = io.StringIO()
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):  # it prints failures, never raises
        # on a copy: ptflops leaves its counting methods on the model it measured
        macs, params = get_model_complexity_info(
            copy.deepcopy(model), tuple(input_shape[1:]), print_per_layer_stat=False, as_strings=False,
            custom_modules_hooks=hooks, backend="pytorch", backend_specific_config={"count_functional": False})
    if macs is None:
        reason = next((line for line in said.getvalue().splitlines() if line.startswith("<class")), "failed")
        raise CounterFailed(f"ptflops: {reason}")
    return int(macs), int(params)


def run_thop(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(MACs, params) by thop.profile at batch 1; its hooks see each branch of a pair (per_branch, custom_ops)."""
    thop = optional_tool("thop")
    from thop.profile import register_hooks

    ops = {kind: per_branch(hook) for kind, hook in register_hooks.items()}
    x = torch.empty((1, *input_shape[1:]), device=_device(model))
    # on a copy: thop leaves total_ops/total_params buffers on every module it does not hook
    macs, params = thop.profile(copy.deepcopy(model), (x,), custom_ops=ops, verbose=False)
    return int(macs), int(params)


def thop_unhooked_params(model: nn.Module) -> int:
    """The parameters thop leaves out: it counts those of the modules it hooks (by exact type) only."""
    from thop.profile import register_hooks

    return sum(p.numel() for m in model.modules() if type(m) not in register_hooks
               for p in m.parameters(recurse=False))


def produces_pairs(model: nn.Module) -> bool:
    return any(isinstance(m, OctConvNd) and m.out_split.low for m in model.modules())


def run_torchinfo(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int | None, int]:
    """(mult-adds at batch 1, params). On a model that passes octave pairs it runs without an input: params only,
    mult-adds None (TORCHINFO_ON_PAIRS says why)."""
    torchinfo = optional_tool("torchinfo")
    if produces_pairs(model):
        return None, int(torchinfo.summary(model, verbose=0).total_params)
    x = torch.empty((1, *input_shape[1:]), device=_device(model))
    stats = torchinfo.summary(model, input_data=x, verbose=0)
    return int(stats.total_mult_adds), int(stats.total_params)


@dataclass(frozen=True)
class PublishedCounts:
    """What torchvision publishes for a model's default weights: params and GFLOPS (in fact GMACs)."""

    weights: str
    params: int
    gmacs: float
    input_size: int  # the crop size the figure is for

    @property
    def macs(self) -> int:
        return round(self.gmacs * 1e9)


def torchvision_published(name: str) -> PublishedCounts | None:
    """torchvision's ``get_model_weights(name).DEFAULT.meta`` (no download), or None for a model it does not
    publish."""
    import torchvision

    try:
        weights = torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, KeyError):
        return None
    meta = weights.meta
    if "num_params" not in meta or "_ops" not in meta:
        return None
    # Classifiers' figures are for a crop. Segmentation weights have none (they resize), and their figures count
    # the auxiliary head the weights carry, which a weights=None build leaves out: they describe another model.
    crop = getattr(weights.transforms(), "crop_size", None)
    if not crop:
        return None
    return PublishedCounts(f"{name}.{weights.name}", int(meta["num_params"]), float(meta["_ops"]), int(crop[0]))
