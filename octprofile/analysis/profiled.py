"""What a profiled pass hands over, whichever engine measured it: the calls (nodes) and the pass times.

The profilers live in ``runtime/profiling.py``; the analysis of their nodes (``op_kinds``, ``breakdown``) reads
only these types, so analysis never imports the runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

# inductor's generated kernels, by the marks in their names
GENERATED_KERNEL_MARKS = ("cpp_fused", "triton_")


@dataclass(frozen=True)
class ProfiledNode:
    """One kernel call or graph node of one profiled pass."""

    name: str  # the engine's name: an ATen op, an inductor kernel, an ONNX Runtime node
    op: str  # what it computes, in the engine's words: aten::add_, cpp_fused_add_relu_3, Conv, ReorderInput
    label: str  # the module path octprofile labelled it with ("layer1.0.conv2.hl+ll"), else ""
    scope: str  # the module path the engine's name carries (onnxruntime), else ""
    input_shapes: tuple[tuple[int, ...], ...]
    ms: float
    pass_index: int
    call: int = 0  # which labelled call it belongs to (the ops of one conv call share it); 0: a call of its own


@dataclass
class PassProfile:
    nodes: list[ProfiledNode]
    wall_ms: list[float]  # each profiled pass, as the profiler saw it (profiler overhead included)
