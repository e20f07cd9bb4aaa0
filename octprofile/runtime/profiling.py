"""Per-call profiles of a prepared model, each backend through its own engine's profiler.

A profiler turns ``passes`` forward passes of a prepared model into ``ProfiledNode``s (one per kernel
call or graph node, with the engine's name and the input shapes it saw) and each pass's wall time.
``PROFILERS`` holds one per backend; a new backend (openvino's per-layer counters) is one ``Profiler``
entry. A backend without one is refused by ``profiler_for`` in one line.

* ``plain`` and ``eager``: ``torch.profiler`` over the pass. Calls that compute a conv or linear layer are
  labelled with the module path they come from: forward hooks on conv/linear modules, and, inside the
  eager backend's octave layers, each plan kernel wrapped for the pass in ``record_function`` with its
  layer and the paths it computes (``layer1.0.conv2.hl+ll``). The nodes are the outermost ATen ops: time
  nested in them is theirs.
* ``compile``: ``torch.profiler`` over the compiled graph, with inductor's kernel profile switched on
  when the model is compiled (``cpp.enable_kernel_profile``), so each generated kernel is one node
  (``cpp_fused_add_relu_3``) beside the extern calls (oneDNN convs, GEMMs).
* ``onnxruntime``: a second session on the same exported model with ONNX Runtime's profiler on; its
  JSON has one event per node run, named after the exporter's scope (``/layer1/layer1.0/conv1/hh/Conv``).

Times are host-side (CPU) times; what no node covers (Python between ops, the engine's own scheduling)
stays unattributed and is reported as such, never spread over the kinds.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function

from octprofile.analysis.profiled import GENERATED_KERNEL_MARKS, PassProfile, ProfiledNode
from octprofile.errors import MissingEngineError
from octprofile.runtime.deploy import DEPLOYED_LAYERS
from octprofile.runtime.prepare import PreparedModel
from octprofile.runtime.prepared_layers import PreparedConv2d, PreparedOctConv2d

LABEL = "octprofile:"  # record_function names octprofile adds: a module path, or a pass
PASS_LABEL = LABEL + "pass "
# Names of profiler events that are work (an op or a generated kernel), as opposed to annotations around it
WORK_PREFIXES = ("aten::", "mkldnn::", "mkl::", "prim::", "quantized::", "torchvision::")


@dataclass(frozen=True)
class Profiler:
    engine: str  # in words, for footers and reports
    run: Callable[[PreparedModel, torch.Tensor, int], PassProfile]
    preparing: Callable[[], AbstractContextManager] = nullcontext  # settings the preparation needs


def profiler_for(backend: str) -> Profiler:
    """The backend's profiler, or one line saying it has none."""
    if backend not in PROFILERS:
        raise MissingEngineError(f"backend {backend!r} has no per-op profiler in octprofile yet; explain runs on "
                                 f"{', '.join(PROFILERS)}")
    return PROFILERS[backend]


# ---- torch.profiler (plain, eager, compile) ----

class _Labelled:
    """A plan kernel whose calls are wrapped in ``record_function(label)`` (profiling only)."""

    def __init__(self, kernel, label: str) -> None:
        self.kernel, self.label = kernel, label

    def __call__(self, x):
        with record_function(self.label):
            return self.kernel(x)

    def accumulate_(self, out, x):
        with record_function(self.label):
            return self.kernel.accumulate_(out, x)


@contextmanager
def _labels(module: nn.Module) -> Iterator[None]:
    """Label every conv/linear call of ``module`` with its module path (and an octave plan's kernels with
    the paths they compute) for as long as the context lasts."""
    open_ranges: list[record_function] = []

    def enter(name: str):
        def hook(_module, _inputs) -> None:
            open_ranges.append(record_function(LABEL + name).__enter__())
        return hook

    def leave(_module, _inputs, _output) -> None:
        open_ranges.pop().__exit__(None, None, None)

    handles, swapped = [], []
    for name, layer in module.named_modules():
        if isinstance(layer, nn.Conv2d | nn.Linear | PreparedConv2d):
            handles += [layer.register_forward_pre_hook(enter(name)), layer.register_forward_hook(leave)]
        elif isinstance(layer, PreparedOctConv2d):
            swapped += [_label_plan(plan, name) for plan in layer.plans()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        for restore in swapped:
            restore()


def _label_plan(plan, layer: str) -> Callable[[], None]:
    """Wrap the plan's kernels (wherever it holds them: attributes or its ``kernels`` dict) in labels;
    returns what puts the originals back."""
    labels = {id(kernel): f"{LABEL}{layer}.{paths}" for paths, kernel in plan.kernels.items()}
    originals = dict(vars(plan))
    for attribute, value in originals.items():
        if id(value) in labels:
            setattr(plan, attribute, _Labelled(value, labels[id(value)]))
        elif isinstance(value, dict) and any(id(v) in labels for v in value.values()):
            setattr(plan, attribute, {k: _Labelled(v, labels[id(v)]) if id(v) in labels else v
                                      for k, v in value.items()})
    return lambda: vars(plan).update(originals)


def _is_work(name: str) -> bool:
    return name.startswith(WORK_PREFIXES) or any(mark in name for mark in GENERATED_KERNEL_MARKS)


def _torch_nodes(events) -> list[ProfiledNode]:
    """The outermost work events of each pass, with the label and pass they ran under."""
    nodes = []
    for event in events:
        if not _is_work(event.name):
            continue
        label, pass_index, outer, call = "", None, event.cpu_parent, 0
        nested = False
        while outer is not None:
            if _is_work(outer.name):
                nested = True
                break
            if outer.name.startswith(PASS_LABEL):
                pass_index = int(outer.name[len(PASS_LABEL):])
            elif outer.name.startswith(LABEL) and not label:
                label, call = outer.name[len(LABEL):], outer.id
            outer = outer.cpu_parent
        if nested or pass_index is None:
            continue
        shapes = tuple(tuple(s) for s in (event.input_shapes or ()) if isinstance(s, list))
        nodes.append(ProfiledNode(event.name, event.name, label, "", shapes, event.cpu_time_total / 1e3,
                                  pass_index, call))
    return nodes


def _torch_profile(labelled: bool) -> Callable[[PreparedModel, torch.Tensor, int], PassProfile]:
    def run(prepared: PreparedModel, x: torch.Tensor, passes: int) -> PassProfile:
        walls = []
        with _labels(prepared.module) if labelled else nullcontext(), \
                profile(activities=[ProfilerActivity.CPU], record_shapes=True) as recorded:
            for index in range(passes):
                with record_function(f"{PASS_LABEL}{index}"):
                    start = time.perf_counter_ns()
                    prepared(x)
                    walls.append((time.perf_counter_ns() - start) / 1e6)
        return PassProfile(_torch_nodes(recorded.events()), walls)
    return run


@contextmanager
def _inductor_kernel_profile() -> Iterator[None]:
    from torch._inductor import config

    with config.patch({"cpp.enable_kernel_profile": True}):
        yield


# ---- onnxruntime ----

def onnx_scope(node_name: str) -> str:
    """The module path an exported node's name carries: '/layer1/layer1.0/conv1/hh/Conv' -> 'layer1.0.conv1.hh'
    (the tracer writes a container's child by its full path, other modules by their attribute name)."""
    if not node_name.startswith("/"):
        return ""
    path = ""
    for part in node_name.strip("/").split("/")[:-1]:
        path = part if not path or part.startswith(path + ".") else f"{path}.{part}"
    return path


def _onnxruntime_profile(prepared: PreparedModel, x: torch.Tensor, passes: int) -> PassProfile:
    runner = prepared.runner
    with tempfile.TemporaryDirectory(prefix="octprofile-ort-") as folder:
        session = runner.profiling_session(os.path.join(folder, "profile"))
        feed = {runner.input_name: np.ascontiguousarray(x.detach().cpu().numpy())}
        session.run(None, feed)  # the first run allocates: not one of the passes
        for _ in range(passes):
            session.run(None, feed)
        with open(session.end_profiling()) as file:
            events = json.load(file)
    runs = sorted((e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"),
                  key=lambda e: e["ts"])[-passes:]
    nodes = []
    for event in events:
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time"):
            continue
        index = next((i for i, run in enumerate(runs) if run["ts"] <= event["ts"] <= run["ts"] + run["dur"]), None)
        if index is None:
            continue
        name = event["name"].removesuffix("_kernel_time")
        shapes = tuple(tuple(next(iter(s.values()))) for s in event["args"].get("input_type_shape", []))
        nodes.append(ProfiledNode(name, event["args"].get("op_name", ""), "", onnx_scope(name), shapes,
                                  event["dur"] / 1e3, index))
    return PassProfile(nodes, [run["dur"] / 1e3 for run in runs])


# ---- openvino ----

def _openvino_profile(prepared: PreparedModel, x: torch.Tensor, passes: int) -> PassProfile:
    request, shapes = prepared.runner.profiling_request(tuple(x.shape))
    array = np.ascontiguousarray(x.detach().cpu().float().numpy())
    request.infer([array])  # the first run allocates: not one of the passes
    nodes, pass_ms = [], []
    for index in range(passes):
        start = time.perf_counter()
        request.infer([array], share_inputs=True)
        pass_ms.append((time.perf_counter() - start) * 1e3)
        nodes += [ProfiledNode(info.node_name, info.node_type, "", "", shapes.get(info.node_name, ()),
                               info.real_time.total_seconds() * 1e3, index)
                  for info in request.profiling_info if info.status == info.Status.EXECUTED]
    return PassProfile(nodes, pass_ms)


PROFILERS: dict[str, Profiler] = {
    "plain": Profiler("torch.profiler, conv calls labelled by module hooks", _torch_profile(labelled=True)),
    "eager": Profiler("torch.profiler, conv calls labelled by module hooks and plan kernels",
                      _torch_profile(labelled=True)),
    "compile": Profiler("torch.profiler with inductor's kernel profile", _torch_profile(labelled=False),
                        _inductor_kernel_profile),
    "onnxruntime": Profiler("onnxruntime's session profiler (JSON)", _onnxruntime_profile),
    "openvino": Profiler("openvino's per-layer performance counters (PERF_COUNT)", _openvino_profile),
}


def merged_paths(module: nn.Module | None) -> dict[str, list[str]]:
    """Per octave layer, the path groups its kernels compute ("hh", "hl+ll"...): of an eager-prepared model,
    from the plan made for the input shape it has run on; of a deploy form (compile, onnxruntime, openvino),
    from its merged layers."""
    found = {}
    for name, layer in (module.named_modules() if isinstance(module, nn.Module) else ()):
        if isinstance(layer, PreparedOctConv2d) and layer.plans():
            found[name] = list(layer.plans()[0].kernels)
        elif isinstance(layer, DEPLOYED_LAYERS):
            found[name] = list(layer.path_groups)
    return found
