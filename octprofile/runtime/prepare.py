"""``prepare(model, example_input, backend)``: an inference-only copy of a model, made fast on one backend.

The model ``build_model`` returns is left untouched: every backend works on a deep copy, in eval mode,
moved to the example input's device and dtype. What a backend does is generic (the same for a vanilla
and an octave model, so that a latency ratio compares like with like) except where it says otherwise:

* ``plain``: the copy as built (NCHW, batch norms separate), what most ports time;
* ``eager``: generic treatment: batch norms folded into the conv that feeds them, channels_last,
  conv kernels prepared once per input shape (1x1 as one GEMM, oneDNN with weights reordered once);
  octave-specific: OctConv2d paths accumulate in place, the two paths into the low branch run as
  one conv (stride 1) and stride-2 paths run merged;
* ``compile``: ``torch.compile`` (inductor, with freezing, which folds batch norms and constants) of the
  channels_last copy; its compile time is ``prepare_seconds``, never latency;
* ``onnxruntime``: the copy exported to ONNX and run by an ONNX Runtime session (optional extra ``onnx``);
* ``openvino``: the copy converted by OpenVINO and compiled for its CPU plugin in the timing dtype, on
  the timing threads (optional extra ``openvino``).

Layers a rewrite does not know (an own ``forward``, hooks; ``runtime/carriable.py``) run as built, and every
backend but ``plain`` is checked once on the example: its output must equal the built model's
(``runtime/output_check.py``), or ``prepare`` raises ``OutputMismatchError``.

A prepared model is a snapshot: weights are copied (and folded) when it is made, so later changes to
the source model are not seen; prepare again after changing weights.
"""

from __future__ import annotations

import copy
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from octprofile.backend_names import BACKEND_NAMES
from octprofile.errors import BadValueError, ConversionError, MissingEngineError, OctprofileError
from octprofile.nn import OctConv2d
from octprofile.runtime.carriable import carriable, left_alone_note
from octprofile.runtime.deploy import deploy_form
from octprofile.runtime.folding import foldable_pairs
from octprofile.runtime.onnx_backend import MISSING as ONNX_MISSING
from octprofile.runtime.onnx_backend import one_line, onnxruntime_available, onnxruntime_backend
from octprofile.runtime.openvino_backend import MISSING as OPENVINO_MISSING
from octprofile.runtime.openvino_backend import openvino_available, openvino_backend
from octprofile.runtime.output_check import Reference, check_output, reference_output, tolerance
from octprofile.runtime.prepared_layers import PreparedConv2d, PreparedOctConv2d

COMPILE_CACHE_LIMIT = 4096  # compiled models per model class in one process
SNAPSHOT_NOTE = "weights copied at preparation: later changes to the source model are not seen"


class PreparedModel:
    """An inference-only callable made by ``prepare``; ``notes`` say what was done and copied."""

    def __init__(self, runner: Callable, backend: str, example_input: torch.Tensor, prepare_seconds: float,
                 notes: list[str], module: nn.Module | None, channels_last: bool) -> None:
        self.runner = runner
        self.backend = backend
        self.device = example_input.device
        self.dtype = example_input.dtype
        self.prepare_seconds = prepare_seconds
        self.notes = notes
        self.module = module  # the rewritten copy, where the backend has one (for inspection)
        self.channels_last = channels_last

    def adapt(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` on this model's device, dtype and memory format: convert once, outside timed calls."""
        x = x.to(self.device, self.dtype)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def __call__(self, x: torch.Tensor):
        with torch.inference_mode():
            return self.runner(x)

    def __repr__(self) -> str:
        return f"PreparedModel(backend={self.backend!r}, device={self.device}, dtype={self.dtype})"


@dataclass(frozen=True)
class Backend:
    name: str
    description: str  # what was compared, in words, for tables and reports
    make: Callable[[nn.Module, torch.Tensor], tuple[Callable, list[str], bool]]  # -> runner, notes, channels_last
    torch_memory: bool = True  # allocates through PyTorch, so its peak memory can be measured
    available: Callable[[], bool] = lambda: True  # whether its engine can run here
    missing: str = ""  # what to install when it cannot


def _to_channels_last(model: nn.Module, example: torch.Tensor) -> bool:
    """channels_last where it applies: on an image model (a 4-d input) only. A video model's 5-d weights have no
    such layout (channels_last_3d would be another kernel choice), so it stays contiguous, as its 5-d input does;
    a 1-d model's 3-d input and weights have none either (``adapt`` converts 4-d inputs only)."""
    if example.dim() != 4 or any(t.dim() == 5 for t in (*model.parameters(), *model.buffers())):
        return False
    model.to(memory_format=torch.channels_last)
    return True


def _plain(model: nn.Module, example: torch.Tensor):
    return model, ["eval-mode copy as built (NCHW, batch norms unfolded)"], False


def _eager(model: nn.Module, example: torch.Tensor):
    if isinstance(model, OctConv2d | nn.Conv2d):  # a lone layer: nothing to fold, no tree to rewrite
        model = nn.Sequential(model)
    pairs = dict(foldable_pairs(model))
    norms = set(pairs.values())
    counts = {"folded": 0, "conv": 0, "octconv": 0}
    replaced: list[str] = []
    left_alone: list[tuple[str, nn.Module]] = []
    for name, module in list(model.named_modules()):
        if any(name.startswith(prefix + ".") for prefix in replaced):
            continue  # inside a layer already replaced (an OctConv2d's path convs) or left as built
        if name in norms:
            model.set_submodule(name, nn.Identity())
        elif isinstance(module, OctConv2d | nn.Conv2d) and not carriable(module):
            left_alone.append((name, module))  # its own forward or hooks: runs as the user's module
            replaced.append(name)
        elif isinstance(module, OctConv2d | nn.Conv2d):
            norm = model.get_submodule(pairs[name]) if name in pairs else None
            octave = isinstance(module, OctConv2d)
            model.set_submodule(name, (PreparedOctConv2d if octave else PreparedConv2d)(module, norm))
            counts["octconv" if octave else "conv"] += 1
            counts["folded"] += norm is not None
            replaced.append(name)
    notes = [f"{counts['folded']} batch norms folded into their convs",
             f"{counts['conv'] + counts['octconv']} convs on kernels prepared once per input shape, channels_last"]
    if counts["octconv"]:
        notes.append(f"{counts['octconv']} OctConv2d: paths accumulated in place, H→L and L→L as one conv, "
                     "stride-2 paths merged where the layer pools (octave-specific)")
    return model, notes + left_alone_note(left_alone), _to_channels_last(model, example)


def _compile(model: nn.Module, example: torch.Tensor):
    from torch._dynamo import config as dynamo_config
    from torch._dynamo.utils import counters
    from torch._inductor import config

    layout = _to_channels_last(model, example)
    # static shapes: compiled for the example's shape, as every model is (a second model of the same class at
    # another shape would otherwise be compiled with dynamic shapes: another function, other kernels)
    compiled = torch.compile(model, dynamic=False)
    # made outside inference mode, like the inputs callers pass (``adapt``): dynamo guards on the
    # difference, and an inference tensor here would make the first real call compile again
    example = example.contiguous(memory_format=torch.channels_last) if layout else example
    graphs_before = counters["stats"]["unique_graphs"]
    # Dynamo caches compiled graphs per forward *code*, shared by every model of a class: each model
    # prepared in this process adds an entry, and past its recompile limit (8) dynamo would silently
    # run the next one eagerly. The limits only matter while compiling, here.
    limits = dict(recompile_limit=COMPILE_CACHE_LIMIT, accumulated_recompile_limit=COMPILE_CACHE_LIMIT)
    with config.patch(freezing=True), dynamo_config.patch(**limits), torch.inference_mode():
        try:
            compiled(example)  # compiles here, inside prepare
        except (OSError, MemoryError, OctprofileError):
            raise  # the environment's (a full disk under the kernel cache) or already one line
        except Exception as error:  # an op or layer dynamo or inductor cannot compile: one line, not a traceback
            raise ConversionError(f"torch.compile (inductor, freezing) cannot compile this model: "
                                  f"{one_line(error)}") from error
    if counters["stats"]["unique_graphs"] == graphs_before:
        raise ConversionError("torch.compile produced no graph for this model (dynamo fell back to eager), so "
                              "its latency would not be a compiled one")
    return compiled, ["torch.compile (inductor, freezing: batch norms and weights folded)"
                      + (", channels_last" if layout else "")], layout


def on_deploy_form(make: Callable) -> Callable:
    """A backend's ``make`` run on the deploy form of the model (``runtime/deploy.py``): norms folded for
    every variant, octave layers merged as the eager plans merge them."""
    def make_deployed(model: nn.Module, example: torch.Tensor):
        model, deploy_notes = deploy_form(model)
        runner, notes, channels_last = make(model, example)
        if not isinstance(runner, nn.Module) and not hasattr(runner, "_orig_mod"):
            runner.deployed = model  # what an engine's runner was made from, for inspection (explain)
        return runner, [*deploy_notes, *notes], channels_last

    make_deployed.__doc__ = make.__doc__
    return make_deployed


def _cpp_compiler_found() -> bool:
    # inductor generates C++ for CPU kernels and needs a compiler (it honours $CXX)
    return any(shutil.which(name) for name in (os.environ.get("CXX", ""), "g++", "c++", "clang++") if name)


BACKENDS: dict[str, Backend] = {
    "plain": Backend("plain", "eager PyTorch, models as built (NCHW, batch norm unfolded)", _plain),
    "eager": Backend("eager", "eager PyTorch with the same generic treatment for both (BN folded, channels_last, "
                     "cached kernels); OctConv path fusion on the Oct side", _eager),
    "compile": Backend("compile", "torch.compile (inductor, freezing) of both, channels_last, on the deploy form "
                       "(BN folded; octave paths merged on the Oct side)", on_deploy_form(_compile),
                       available=_cpp_compiler_found, missing="the compile backend needs a C++ compiler for "
                       "inductor's CPU kernels (g++, clang++ or $CXX); install one, e.g. apt install g++"),
    "onnxruntime": Backend("onnxruntime", "ONNX Runtime (ORT_ENABLE_ALL, its own kernels) on the ONNX export of "
                           "the deploy form of both (BN folded; octave paths merged on the Oct side), NCHW",
                           on_deploy_form(onnxruntime_backend), torch_memory=False,
                           available=onnxruntime_available, missing=ONNX_MISSING),
    "openvino": Backend("openvino", "OpenVINO's CPU plugin (its own fusions and layouts) on the deploy form of both "
                        "(BN folded; octave paths merged on the Oct side), precision "
                        "pinned to the timing dtype", on_deploy_form(openvino_backend),
                        torch_memory=False, available=openvino_available, missing=OPENVINO_MISSING),
}
assert tuple(BACKENDS) == BACKEND_NAMES, "octprofile/backend_names.py names every backend, in this order"


def check_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise BadValueError(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}") from None


def require_backend(name: str) -> Backend:
    """The backend, refused up front (with what to install) when its engine cannot run here."""
    backend = check_backend(name)
    if not backend.available():
        raise MissingEngineError(backend.missing)
    return backend


def prepare(model: nn.Module, example_input: torch.Tensor, backend: str = "eager") -> PreparedModel:
    """An inference-only copy of ``model`` on ``example_input``'s device and dtype, prepared by ``backend``.

    ``model`` itself is not changed. The example fixes device, dtype and (for some kernels) the first
    input shape; other shapes work too. The prepared form is run once on the example and its output compared
    with the built model's (eval mode, same input; ``runtime/output_check.py``): past the tolerance
    (1e-4 of the output's largest magnitude in float32) it raises ``OutputMismatchError``.
    """
    return prepare_checked(model, example_input, backend)[0]


def prepare_checked(model: nn.Module, example_input: torch.Tensor, backend: str,
                    reference: Reference | None = None) -> tuple[PreparedModel, Reference | None]:
    """``prepare``, and the built model's output it checked against (to pass back in as ``reference`` when the
    same model on the same example is prepared by another backend, sparing its forward; None for ``plain``,
    which checks nothing: it is the built model)."""
    chosen = require_backend(backend)
    if any(t.is_meta for t in [*model.parameters(), *model.buffers()]):
        raise BadValueError("the model holds meta tensors (no data): build it on a real device to run it")
    start = time.perf_counter()
    with torch.no_grad():
        working = copy.deepcopy(model).eval().to(example_input.device, example_input.dtype)
        copied = time.perf_counter() - start
        if reference is None and backend != "plain":  # before the rewrite, which changes the copy in place
            reference = reference_output(working, example_input)
        start = time.perf_counter()
        runner, notes, channels_last = chosen.make(working, example_input)
    seconds = copied + time.perf_counter() - start  # the reference forward is not preparation
    # what torch.compile wraps, what an engine's runner was made from, or the rewritten copy itself
    module = getattr(runner, "_orig_mod", getattr(runner, "deployed", runner))
    prepared = PreparedModel(runner, backend, example_input, seconds, notes, module, channels_last)
    if backend == "plain":
        prepared.notes.append("the built model itself: its output is the reference")
    else:
        prepared.notes.append(check_output(backend, runner, prepared.adapt(example_input), reference,
                                           tolerance(example_input)))
    prepared.notes.append(SNAPSHOT_NOTE)
    return prepared, reference
