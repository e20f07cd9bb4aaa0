"""What each kind of work costs on paper: MACs and bytes moved, from one meta pass over the built model.

Every conv and linear module that computes (a vanilla conv, or one path conv ``hh``/``hl``/``lh``/``ll`` of an
``OctConv2d``) is one ``ConvWork``, keyed by its module path; its MACs use the same formula as the counting
rules (``rules.conv_macs``), so they add up to ``count_model``'s total exactly. Bytes are the analytic traffic
of a call: its input read once, its output written once, its weights (and bias) read once, at the dtype's
element size. A backend that runs several paths as one conv (the eager backend's ``hl+ll``) reads each
distinct input once and writes each branch's output once: ``group_bytes``.

Parameter-free work (pooling, upsampling, additions, concatenations, batch norms, activations) is
counted by kind in the same pass, as the model is written: input elements read (both operands of an
addition) plus output elements written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from octprofile.analysis.census import CENSUS_OPS
from octprofile.analysis.rules import conv_macs, numel
from octprofile.nn import OctConv2d
from octprofile.nn.meta import run_on_meta

PATH_ARROWS = {"hh": "H→H", "hl": "H→L", "lh": "L→H", "ll": "L→L"}
# the kinds of parameter-free work, by the census's op name (conv2d and linear are modules, counted apart;
# dropout is the identity at inference)
OP_KINDS = {"max_pool2d": "pooling", "avg_pool2d": "pooling", "adaptive_avg_pool2d": "pooling",
            "interpolate": "upsampling", "add": "addition", "cat": "concatenation", "batch_norm": "batch norm"}
NOT_WORK = ("conv2d", "linear", "dropout")


@dataclass(frozen=True)
class ConvWork:
    """One conv or linear call of the built model."""

    name: str  # module path: "layer1.0.conv1" (a vanilla conv) or "layer1.0.conv1.hh" (an octave path)
    layer: str  # the layer it belongs to: the conv itself, or the OctConv2d of a path
    path: str  # "hh", "hl", "lh", "ll", or "" outside octave layers
    kernel: str  # "1×1", "3×3", "dw 3×3", "grouped 3×3", "linear"
    input_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    macs: int
    input_bytes: int
    output_bytes: int
    weight_bytes: int  # weight and bias
    input_id: int  # which tensor it read: paths reading one pooled map share it

    @property
    def bytes(self) -> int:
        return self.input_bytes + self.output_bytes + self.weight_bytes


@dataclass
class ModelWork:
    """The conv/linear calls of one model at one input shape, and its parameter-free work by kind."""

    convs: list[ConvWork]
    op_bytes: Counter = field(default_factory=Counter)  # kind -> bytes moved
    op_calls: Counter = field(default_factory=Counter)  # kind -> calls

    @property
    def macs(self) -> int:
        return sum(conv.macs for conv in self.convs)

    def by_name(self) -> dict[str, ConvWork]:
        return {conv.name: conv for conv in self.convs}


def kernel_class(module: nn.Module) -> str:
    if isinstance(module, nn.Linear):
        return "linear"
    kh, kw = module.kernel_size
    size = f"{kh}×{kw}"
    if module.groups > 1:
        return f"dw {size}" if module.groups == module.in_channels else f"grouped {size}"
    return size


def conv_kind(works: list[ConvWork]) -> str:
    """The kind of a call that does ``works`` (one, or several paths run as one conv): 'conv 3×3',
    'conv H→L 1×1', 'conv H→L+L→L 3×3', 'linear'."""
    first = works[0]
    if first.kernel == "linear":
        return "linear"
    paths = "+".join(PATH_ARROWS[w.path] for w in works if w.path)
    return f"conv {paths} {first.kernel}" if paths else f"conv {first.kernel}"


def group_bytes(works: list[ConvWork]) -> int:
    """Bytes of one call doing ``works``: each distinct input read once, each branch's output written once."""
    inputs = {w.input_id: w.input_bytes for w in works}
    outputs: dict[tuple[str, str], int] = {}
    for w in works:
        key = (w.layer, w.path[1:] if w.path else "")
        outputs[key] = max(outputs.get(key, 0), w.output_bytes)
    return sum(inputs.values()) + sum(outputs.values()) + sum(w.weight_bytes for w in works)


def concat_bytes(works: list[ConvWork]) -> int:
    """What concatenating the distinct inputs of a merged call moves (each read and written once); 0 for one input."""
    inputs = {w.input_id: w.input_bytes for w in works}
    return 2 * sum(inputs.values()) if len(inputs) > 1 else 0


class _OpBytes(TorchFunctionMode):
    """Bytes and calls of parameter-free work, by kind, outside conv and linear modules."""

    def __init__(self, element: int) -> None:
        super().__init__()
        self.element = element
        self.depth = 0  # > 0 inside a conv or linear module (its own work is counted by the module)
        self.bytes: Counter = Counter()
        self.calls: Counter = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        output = func(*args, **kwargs)
        op = "cat" if func is torch.cat else CENSUS_OPS.get(func)
        if op is None or op in NOT_WORK or self.depth:
            return output
        read = sum(numel(t) for t in args[0]) if op == "cat" else numel(args[0])
        if op == "add" and len(args) > 1:
            read += numel(args[1])
        kind = OP_KINDS.get(op, "rest")
        self.bytes[kind] += (read + numel(output)) * self.element
        self.calls[kind] += 1
        return output


def model_work(model: nn.Module, input_shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> ModelWork:
    """Every conv/linear call of ``model`` on ``input_shape`` and its parameter-free work (a meta pass)."""
    element = torch.empty((), dtype=dtype).element_size()
    octave_layers = {name for name, m in model.named_modules() if isinstance(m, OctConv2d)}
    convs: list[ConvWork] = []
    ops = _OpBytes(element)
    kept: list[torch.Tensor] = []  # inputs stay referenced for the pass, so their ids stay unique

    def leave(name: str):
        layer, _, path = name.rpartition(".")
        if layer not in octave_layers:
            layer, path = name, ""

        def hook(module, inputs, output) -> None:
            ops.depth -= 1
            x = inputs[0]
            kept.append(x)
            convs.append(ConvWork(name, layer, path, kernel_class(module), tuple(x.shape),
                                  tuple(module.weight.shape), tuple(output.shape), _macs(module, x, output),
                                  x.numel() * element, output.numel() * element,
                                  sum(p.numel() for p in module.parameters(recurse=False)) * element, id(x)))
        return hook

    def enter(_module, _inputs) -> None:
        ops.depth += 1

    handles = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            handles += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave(name))]
    try:
        run_on_meta(model, tuple(input_shape), dtype, modes=(ops,))
    finally:
        for handle in handles:
            handle.remove()
    return ModelWork(convs, ops.bytes, ops.calls)


def _macs(module: nn.Module, x: torch.Tensor, output: torch.Tensor) -> int:
    if isinstance(module, nn.Linear):
        return x.numel() // module.in_features * module.in_features * module.out_features
    n, cout, h, w = output.shape
    return conv_macs(n, cout, (h, w), module.in_channels // module.groups, module.kernel_size)
