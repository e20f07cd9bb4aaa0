"""The ``openvino`` backend: the model converted by OpenVINO and run by its CPU plugin.

Like ``onnxruntime`` it is a third party's optimiser applied alike to both variants (batch norms fused,
its own layouts and kernels). What this module pins, so that a vanilla-vs-octave ratio compares like
with like and means what the caller asked for:

* the route: ``torch.export`` (the supported exporter path) of the torch module, read by
  ``openvino.convert_model``; a model ``torch.export`` cannot capture falls back to OpenVINO's TorchScript
  frontend (``torch.jit.trace``, deprecated since torch 2.9), and the notes say so. Measured on the deploy
  form of resnet50 (1 thread, batch 1, interleaved): the same latency from either capture (vanilla 163.6
  / 162.9 ms, Oct α=0.5 99.7 / 97.3 ms on a loaded machine), conversion ~25 % slower through
  ``torch.export``; through octprofile's ONNX export (``openvino_onnx_backend``, kept for measuring routes
  in ``benchmarks/bench_deploy.py``) the same again;
* the threads: ``INFERENCE_NUM_THREADS`` is the thread count the caller set for timing, with the
  ``LATENCY`` hint (one stream: one synchronous request uses every thread);
* the precision: OpenVINO computes in bfloat16 by default on CPUs with AMX or AVX512-BF16, so
  ``INFERENCE_PRECISION_HINT`` is set to the timing dtype (float32 stays float32; bfloat16 only when
  asked) and checked on the compiled model;
* the shape: compiled for the example's shape (static shapes are OpenVINO's fast case); another input
  shape is compiled on first use and kept.

Conversion and compilation happen inside ``prepare`` and count as preparation time. ``openvino`` is
optional (``pip install 'octprofile[openvino]'``).
"""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
import torch
from torch import nn

from octprofile.errors import ConversionError
from octprofile.runtime.engines import engine_available, import_engine
from octprofile.runtime.onnx_backend import export_onnx, one_line

MISSING = "the openvino backend needs the optional package openvino: pip install 'octprofile[openvino]'"
# OpenVINO's element types for the timing dtypes it can compute in on a CPU
PRECISIONS = {torch.float32: "f32", torch.bfloat16: "bf16"}
MAX_COMPILED_SHAPES = 4  # input shapes per prepared model whose compiled models are kept


ENGINE = ("openvino",)


def openvino_available() -> bool:
    """Whether ``openvino`` can be imported."""
    return engine_available(ENGINE)


def _engine():
    return import_engine(ENGINE, MISSING)


class OpenVINORunner:
    """Runs one synchronous infer request per call; input and output go through NumPy on the host.
    Weights and compute follow ``precision``; the model's inputs and outputs stay float32."""

    def __init__(self, ov, model, config: dict, example: torch.Tensor, convert_at=None) -> None:
        self._ov, self._model, self._config = ov, model, config
        self._convert_at = convert_at  # shape -> the model converted anew at that input shape
        self.dtype = example.dtype
        self._requests: dict[tuple[int, ...], object] = {}
        self.compiled = self._request(tuple(example.shape)).get_compiled_model()  # for inspection

    def _request(self, shape: tuple[int, ...]):
        request = self._requests.get(shape)
        if request is None:
            if len(self._requests) >= MAX_COMPILED_SHAPES:
                self._requests.clear()
            request = self._requests[shape] = self._compile(shape, self._config).create_infer_request()
        return request

    def _compile(self, shape: tuple[int, ...], config: dict):
        model = self._model.clone()
        try:
            model.reshape({model.inputs[0]: self._ov.PartialShape(list(shape))})
            return self._ov.Core().compile_model(model, "CPU", config)
        except Exception as error:
            if self._convert_at is None:
                raise
            # A conversion holds shapes it was traced at as constants (InstanceNorm's reshapes, padding modes'
            # broadcasts), so reshaping its model fails at another batch size: convert again at this shape.
            try:
                return self._ov.Core().compile_model(self._convert_at(shape), "CPU", config)
            except Exception as again:
                raise ConversionError(f"openvino cannot run the model at input shape {shape}: reshaping its "
                                      f"conversion failed ({one_line(error)}), and so did converting it at that "
                                      f"shape ({one_line(again)})") from again

    def profiling_request(self, shape: tuple[int, ...]):
        """An infer request on the same model and settings with OpenVINO's per-layer performance counters on
        (``request.profiling_info`` after each infer), and the compiled model's layers' input shapes by name."""
        compiled = self._compile(shape, {**self._config, "PERF_COUNT": True})
        shapes = {op.get_friendly_name(): tuple(tuple(i.get_partial_shape().to_shape()) for i in op.inputs())
                  for op in compiled.get_runtime_model().get_ordered_ops()}
        return compiled.create_infer_request(), shapes

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(x.detach().cpu().float().numpy())
        request = self._request(tuple(array.shape))
        request.infer([array], share_inputs=True)
        output = np.array(request.get_output_tensor(0).data)  # a copy: the request reuses its buffer
        return torch.from_numpy(output).to(x.device, self.dtype)


def openvino_backend(model: nn.Module, example: torch.Tensor):
    """Convert ``model`` (the eval-mode copy ``prepare`` made) from torch and compile it for the CPU."""
    return _prepare(model, example, via_onnx=False)


def openvino_onnx_backend(model: nn.Module, example: torch.Tensor):
    """The same through octprofile's ONNX export, for measuring the conversion route."""
    return _prepare(model, example, via_onnx=True)


def _convert(ov, model: nn.Module, example: torch.Tensor, via_onnx: bool):
    """The OpenVINO model and the route, in words."""
    if via_onnx:
        return (ov.convert_model(io.BytesIO(export_onnx(model, example))),
                "octprofile's ONNX export (TorchScript tracer) read by openvino.convert_model")
    try:
        with torch.no_grad():
            exported = torch.export.export(model, (example,))
    except Exception as error:  # noqa: BLE001 - any capture failure falls back to the tracer, said in the notes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # OctPair's shape tests become constants
            warnings.filterwarnings("ignore", r"`torch\.jit\.trace", FutureWarning)  # deprecated: the fallback
            converted = ov.convert_model(model, example_input=example)
        return converted, (f"openvino.convert_model of the torch module through its TorchScript frontend "
                           f"(torch.export failed: {one_line(error)})")
    try:
        return ov.convert_model(exported), "torch.export, read by openvino.convert_model"
    except Exception as error:  # noqa: BLE001 - said in one line, naming the layers whose ops failed
        located = _failed_layers(exported, str(error))
        if not located:
            raise
        raise ConversionError(f"openvino cannot convert {located}") from error


def _frontend_summary(error: Exception) -> str:
    """What OpenVINO's frontend says it could not convert (its ``-- ...`` summary lines), else the first line."""
    lines = [line.strip()[3:] for line in str(error).splitlines() if line.strip().startswith("-- ")]
    return "; ".join(lines) if lines else one_line(error)


def _failed_layers(exported, message: str) -> str:
    """The layers (module path and class) that call the aten ops OpenVINO's frontend reports it could not
    convert, with why, in words; empty when the message names no op found in the exported graph."""
    ops = set(re.findall(r"\baten\.[\w.]+", message))
    found: dict[str, list[str]] = {}
    for node in exported.graph_module.graph.nodes:
        op = str(node.target)
        if node.op == "call_function" and op in ops:
            stack = list((node.meta.get("nn_module_stack") or {"": ("", "")}).values())
            path, kind = stack[-1]
            kind = (kind if isinstance(kind, str) else kind.__qualname__).rsplit(".", 1)[-1]
            layer = f"layer '{path}' ({kind})" if path else f"the model's own forward ({kind})"
            found.setdefault(layer, []).append(op) if op not in found.get(layer, []) else None
    if not found:
        return ""
    reason = ("has no conversion rule in OpenVINO's PyTorch frontend" if "No conversion rule" in message
              else "failed to convert in OpenVINO's PyTorch frontend")
    return "; ".join(f"{layer}: {', '.join(sorted(ops))} {reason}" for layer, ops in found.items()) + \
        " (eager, compile and onnxruntime may run it)"


def _prepare(model: nn.Module, example: torch.Tensor, via_onnx: bool):
    ov = _engine()
    if example.device.type != "cpu":
        raise ConversionError(f"the openvino backend runs on the CPU, not on {example.device.type}")
    if example.dtype not in PRECISIONS:
        raise ConversionError(f"openvino cannot compute in {example.dtype} on this CPU: use float32 or bfloat16")
    precision = PRECISIONS[example.dtype]
    # converted in float32 (NumPy has no bfloat16 to feed it); the precision hint sets the compute type
    model, example32 = model.float(), example.float()
    try:
        converted, route = _convert(ov, model, example32, via_onnx)
    except ConversionError:
        raise
    except Exception as error:  # an op the frontend does not know
        raise ConversionError(f"openvino cannot convert the model: {_frontend_summary(error)} (eager, compile and "
                              "onnxruntime may run it)") from error
    threads = torch.get_num_threads()  # the thread count the caller set for timing
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}
    def convert_at(shape: tuple[int, ...]):
        return _convert(ov, model, torch.zeros(shape, dtype=torch.float32, device=example.device), via_onnx)[0]

    try:
        runner = OpenVINORunner(ov, converted, config, example32, convert_at)
    except Exception as error:
        raise ConversionError(f"openvino cannot compile the model in {precision}: {one_line(error)}") from error
    runner.dtype = example.dtype
    got = runner.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    if got != precision:
        raise ConversionError(f"openvino compiled the model in {got} although {precision} was asked; this CPU "
                              f"cannot compute in {precision}")
    notes = [f"converted by {route}, compiled by openvino {ov.__version__.split('-')[0]} for the CPU: {precision}, "
             f"{threads} inference threads, LATENCY hint (one stream)",
             "compiled for the example's shape; another shape is compiled on first use (converted again at that "
             "shape where the conversion holds the example's as constants)",
             "input and output copied through NumPy on the host at every call",
             "openvino's own memory is outside PyTorch's allocator: peak-memory figures do not see it"]
    return runner, notes, False
