"""The ``openvino`` backend: the model converted by OpenVINO and run by its CPU plugin.

Like ``onnxruntime`` it is a third party's optimiser applied alike to both variants (batch norms fused,
its own layouts and kernels). What this module pins, so that a vanilla-vs-octave ratio compares like
with like and means what the caller asked for:

* the route: ``openvino.convert_model`` straight from the torch module (its TorchScript frontend traces
  ``OctPair`` as eager PyTorch runs it). The other route, through octprofile's ONNX export, gave the
  same vanilla latency and a slower octave model when measured (resnet50, α=0.5, 2 threads, batch 1:
  28.4 ms direct against 35.5 ms through ONNX; ``benchmarks/bench_backends.py --openvino-routes``
  repeats the measurement), so it is kept only as ``openvino_onnx`` for that comparison;
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

import importlib
import io
import warnings

import numpy as np
import torch
from torch import nn

from octprofile.errors import ConversionError, MissingEngineError
from octprofile.runtime.onnx_backend import export_onnx, one_line

MISSING = "the openvino backend needs the optional package openvino: pip install 'octprofile[openvino]'"
# OpenVINO's element types for the timing dtypes it can compute in on a CPU
PRECISIONS = {torch.float32: "f32", torch.bfloat16: "bf16"}
MAX_COMPILED_SHAPES = 4  # input shapes per prepared model whose compiled models are kept


def openvino_available() -> bool:
    """Whether ``openvino`` can be imported."""
    try:
        _engine()
    except MissingEngineError:
        return False
    return True


def _engine():
    try:
        return importlib.import_module("openvino")
    except ImportError:
        raise MissingEngineError(MISSING) from None


class OpenVINORunner:
    """Runs one synchronous infer request per call; input and output go through NumPy on the host.
    Weights and compute follow ``precision``; the model's inputs and outputs stay float32."""

    def __init__(self, ov, model, config: dict, example: torch.Tensor) -> None:
        self._ov, self._model, self._config = ov, model, config
        self.dtype = example.dtype
        self._requests: dict[tuple[int, ...], object] = {}
        self.compiled = self._request(tuple(example.shape)).get_compiled_model()  # for inspection

    def _request(self, shape: tuple[int, ...]):
        request = self._requests.get(shape)
        if request is None:
            if len(self._requests) >= MAX_COMPILED_SHAPES:
                self._requests.clear()
            model = self._model.clone()
            model.reshape({model.inputs[0]: self._ov.PartialShape(list(shape))})
            compiled = self._ov.Core().compile_model(model, "CPU", self._config)
            request = self._requests[shape] = compiled.create_infer_request()
        return request

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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # OctPair's shape tests become constants
            # the frontend traces with torch.jit.trace, deprecated since torch 2.9 (measured against
            # torch.export in benchmarks/bench_backends.py --openvino-routes)
            warnings.filterwarnings("ignore", r"`torch\.jit\.trace", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            if via_onnx:
                converted = ov.convert_model(io.BytesIO(export_onnx(model, example32)))
            else:
                converted = ov.convert_model(model, example_input=example32)
    except ConversionError:
        raise
    except Exception as error:  # an op the frontend does not know
        raise ConversionError(f"openvino.convert_model failed: {one_line(error)}") from error
    threads = torch.get_num_threads()  # the thread count the caller set for timing
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}
    try:
        runner = OpenVINORunner(ov, converted, config, example32)
    except Exception as error:
        raise ConversionError(f"openvino cannot compile the model in {precision}: {one_line(error)}") from error
    runner.dtype = example.dtype
    got = runner.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    if got != precision:
        raise ConversionError(f"openvino compiled the model in {got} although {precision} was asked; this CPU "
                              f"cannot compute in {precision}")
    route = ("octprofile's ONNX export (TorchScript tracer) read by openvino.convert_model" if via_onnx
             else "openvino.convert_model of the torch module (TorchScript frontend)")
    notes = [f"converted by {route}, compiled by openvino {ov.__version__.split('-')[0]} for the CPU: {precision}, "
             f"{threads} inference threads, LATENCY hint (one stream)",
             "compiled for the example's shape; another shape is compiled on first use",
             "input and output copied through NumPy on the host at every call",
             "openvino's own memory is outside PyTorch's allocator: peak-memory figures do not see it"]
    return runner, notes, False
