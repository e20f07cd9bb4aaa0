"""Which kind of work each profiled call is, and what each kind costs on paper on a given backend.

A conv or linear call is mapped to the analytic work it does (``op_work.ConvWork``): by the label
octprofile gave it (plain, eager: a module path, plus the paths a merged plan kernel computes), else by
its input and weight shapes (compile, onnxruntime), preferring the work the node's scope names. Calls
with identical shapes do identical work, so which of them a call is matched to cannot change a kind's
time. Every other call is a kind by its op name: pooling, upsampling, addition, concatenation, batch
norm, layout (copies, reorders), a generated kernel fusing several kinds ("fused"), the rest.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from octprofile.analysis.op_work import ConvWork, ModelWork, concat_bytes, conv_kind, group_bytes
from octprofile.analysis.profiled import GENERATED_KERNEL_MARKS, ProfiledNode

UNATTRIBUTED = "(unattributed)"
UNMATCHED_CONV = "conv unmatched"
FUSED = "fused"
MAC_FREE_KINDS = ("pooling", "upsampling", "addition", "concatenation", "batch norm", "layout", FUSED, "rest")

CONV_OPS = ("aten::conv2d", "aten::convolution", "aten::_convolution", "aten::mkldnn_convolution",
            "mkldnn::_convolution_pointwise", "mkldnn::_convolution_pointwise_", "Conv", "FusedConv", "NchwcConv",
            "Convolution")
LINEAR_OPS = ("aten::linear", "aten::addmm", "aten::mm", "aten::matmul", "mkl::_mkl_linear", "Gemm", "MatMul",
              "FusedGemm", "FullyConnected")
# by op name (ATen, ONNX / ONNX Runtime, OpenVINO): the first kind whose pattern is found in it
OP_PATTERNS = (
    ("pooling", r"pool|^aten::mean$|^ReduceMean$"),
    ("upsampling", r"upsample|_unsafe_index|interpolate|^Resize$"),
    ("addition", r"^aten::add_?$|^Add$|^Sum$|^Eltwise$"),
    ("concatenation", r"^aten::cat$|^Concat$"),
    ("batch norm", r"batch_norm|^BatchNormalization$"),
    ("layout", r"^aten::(contiguous|clone|copy_|to|_to_copy)$|^Reorder|^(Transpose|Reshape|Expand|Split|Slice|"
               r"Squeeze|Unsqueeze|Flatten)$"),
)
# families of ops inside an inductor kernel's name (cpp_fused_add_relu_3): one family is its kind, several "fused"
KERNEL_FAMILIES = (
    ("pooling", r"avg_pool|max_pool|_mean_|mean$"),
    ("upsampling", r"_unsafe_index|upsample"),
    ("addition", r"(^|_)add(_|$)"),
    ("concatenation", r"(^|_)cat(_|$)"),
    ("batch norm", r"batch_norm"),
    ("layout", r"clone|_to_copy|(^|_)copy(_|$)"),
    ("rest", r"relu|hardtanh|clamp|sigmoid|silu|gelu|hardswish|tanh"),
)


def generated_kernel_kind(name: str) -> str:
    body = name.split("cpp_fused", 1)[-1] if "cpp_fused" in name else name
    families = {kind for kind, pattern in KERNEL_FAMILIES if re.search(pattern, body)}
    return families.pop() if len(families) == 1 else FUSED


def op_kind(op: str) -> str:
    """The kind of a call that is not a conv or linear, by its op name."""
    if any(mark in op for mark in GENERATED_KERNEL_MARKS):
        return generated_kernel_kind(op)
    return next((kind for kind, pattern in OP_PATTERNS if re.search(pattern, op, re.IGNORECASE)), "rest")


@dataclass
class KindCost:
    """What one kind does on paper on one backend."""

    macs: int = 0
    bytes: int = 0


class KindMap:
    """Kinds of one model's calls on one backend, and each kind's analytic MACs and bytes.

    ``merged``: layer -> the path groups its kernels compute ("hh", "hl+ll"...), for a backend that runs
    several paths as one conv; every other conv is its own call.
    """

    def __init__(self, work: ModelWork, merged: dict[str, list[str]] | None = None) -> None:
        self.work = work
        self.by_name = work.by_name()
        merged = merged or {}
        self.groups: list[list[ConvWork]] = []
        covered = set()
        for layer, groups in merged.items():
            for paths in groups:
                group = [self.by_name[f"{layer}.{p}"] for p in paths.split("+") if f"{layer}.{p}" in self.by_name]
                if group:
                    self.groups.append(group)
                    covered.update(w.name for w in group)
        self.groups += [[w] for w in work.convs if w.name not in covered]
        self._taken: dict[tuple, int] = defaultdict(int)
        self._pass = None

    def costs(self) -> dict[str, KindCost]:
        """Analytic MACs and bytes per kind; the MACs add up to the model's total exactly."""
        found: dict[str, KindCost] = defaultdict(KindCost)
        for group in self.groups:
            cost = found[conv_kind(group)]
            cost.macs += sum(w.macs for w in group)
            cost.bytes += group_bytes(group)
            found["concatenation"].bytes += concat_bytes(group)
        for kind, amount in self.work.op_bytes.items():
            found[kind].bytes += amount
        return dict(found)

    def kind(self, node: ProfiledNode) -> str:
        if node.label:
            return self._labelled(node.label)
        if node.op in CONV_OPS:
            if "BatchNormalization" in node.name:  # ONNX Runtime runs an unfolded batch norm as a 1x1 conv
                return "batch norm"
            works = self._match(node)
            return conv_kind(works) if works else UNMATCHED_CONV
        if node.op in LINEAR_OPS:
            return "linear"
        return op_kind(node.op)

    def _labelled(self, label: str) -> str:
        if label in self.by_name:
            return conv_kind([self.by_name[label]])
        layer, _, paths = label.rpartition(".")
        group = [self.by_name[f"{layer}.{p}"] for p in paths.split("+") if f"{layer}.{p}" in self.by_name]
        return conv_kind(group) if group else UNMATCHED_CONV

    def _match(self, node: ProfiledNode) -> list[ConvWork] | None:
        """The conv work a call does, by its input and weight shapes: the one its scope names, else the next
        of those shapes in call order (per pass). A merged group (the deploy form's conv over concatenated
        inputs) is matched by the shapes of that one conv."""
        if len(node.input_shapes) < 2:
            return None
        if node.pass_index != self._pass:
            self._pass, self._taken = node.pass_index, defaultdict(int)
        # (input, weight) first; an in-place conv that adds into its output (oneDNN's sum) has (output, input, weight)
        pairs = list(zip(node.input_shapes, node.input_shapes[1:3], strict=False))[:2]
        shaped = [(group_shapes(group), group) for group in self.groups]
        exact = [group for pair in pairs for shapes, group in shaped if shapes == pair]
        candidates = exact or [group for pair in pairs for shapes, group in shaped if _same_work(*pair, *shapes)]
        named = [g for g in candidates if node.scope and any(
            node.scope == w.name or node.scope.startswith(w.name + ".") or node.scope.startswith(w.layer + ".")
            for w in g)]
        if named or not candidates:
            return named[0] if named else None
        key = tuple(g[0].name for g in candidates)
        index = self._taken[key] % len(candidates)
        self._taken[key] += 1
        return candidates[index]


def group_shapes(group: list[ConvWork]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The (input, weight) shapes of one conv doing ``group``: its paths' distinct inputs concatenated along
    channels (all on one grid), their weights side by side."""
    first = group[0]
    if len(group) == 1:
        return first.input_shape, first.weight_shape
    in_channels = sum({w.input_id: w.input_shape[1] for w in group}.values())
    return ((first.input_shape[0], in_channels, *first.input_shape[2:]),
            (first.weight_shape[0], in_channels // (first.input_shape[1] // first.weight_shape[1]),
             *first.weight_shape[2:]))


CHANNEL_BLOCKS = (8, 16)  # ONNX Runtime's NCHWc convs pad channels up to a multiple of its SIMD block


def _channels_fit(seen: int, counted: int) -> bool:
    return seen == counted or any(seen == -(-counted // block) * block for block in CHANNEL_BLOCKS)


def _same_work(input_shape: tuple, weight_shape: tuple, work_input: tuple, work_weight: tuple) -> bool:
    """Whether a conv call on these shapes does the work of ``work_input`` / ``work_weight`` (channels as the
    engine may pad them)."""
    if len(input_shape) != len(work_input) or len(weight_shape) != len(work_weight):
        return False
    return (input_shape[0] == work_input[0] and input_shape[2:] == work_input[2:]
            and weight_shape[2:] == work_weight[2:] and _channels_fit(input_shape[1], work_input[1])
            and _channels_fit(weight_shape[0], work_weight[0]) and _channels_fit(weight_shape[1], work_weight[1]))
