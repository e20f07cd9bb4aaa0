"""The ``onnxruntime`` backend: the model exported to ONNX and run by an ONNX Runtime session.

It is a third party's optimiser applied alike to both variants (constant folding, batch norms fused
into convs, its own kernels), so a vanilla-vs-octave latency ratio on it does not depend on
octprofile's own kernels. The export uses the TorchScript tracer (``dynamo=False``): it follows
``OctPair`` through ``__torch_function__`` as eager PyTorch does, needs no ``onnxscript`` and exported
faster here than the ``torch.export`` route (``dynamo=True``), which also works on these models and is
the way to go if torch drops the tracer (deprecated since 2.9).

``onnx`` and ``onnxruntime`` are optional (``pip install 'octprofile[onnx]'``).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from torch import nn

from octprofile.errors import ConversionError
from octprofile.runtime.engines import engine_available, import_engine

OPSET = 17
MISSING = ("the onnxruntime backend needs the optional packages onnx and onnxruntime: "
           "pip install 'octprofile[onnx]'")


ENGINE = ("onnx", "onnxruntime")


def onnxruntime_available() -> bool:
    """Whether ``onnx`` and ``onnxruntime`` can be imported (the exporter needs the first)."""
    return engine_available(ENGINE)


def _engine():
    return import_engine(ENGINE, MISSING)


class OnnxRuntimeRunner:
    """Calls the session on a torch tensor; input and output go through NumPy on the host.

    The model is exported at the example's shape, every dimension static: with a symbolic batch dimension ONNX
    Runtime cannot prove that an octave layer's H→H output and its up-sampled L→H output have one shape, so it
    leaves each of their sums (and the ReLU after it) as separate nodes between reshapes instead of fusing them into
    the conv (``compare resnet50 --alpha 0.5 --backend onnxruntime --threads 2``, quiet Xeon: 0.853 and 0.843 with
    a dynamic batch, 0.797 and 0.801 static). An input of another shape is exported again, once per shape, with
    the same session options and providers."""

    def __init__(self, session, device: torch.device, model_bytes: bytes, model: nn.Module,
                 example_shape: tuple[int, ...]) -> None:
        self.session = session  # kept for inspection (``get_providers()``, ``get_inputs()``...)
        self.device = device
        self.input_name = session.get_inputs()[0].name
        self.model_bytes = model_bytes  # the exported ONNX model, to open a profiling session on
        self._model = model  # what to export again at another input shape
        self._sessions = {tuple(example_shape): session}

    def profiling_session(self, prefix: str):
        """A second session on the same model and options, with ONNX Runtime's profiler on: its JSON goes to
        a file named from ``prefix`` when ``end_profiling()`` is called."""
        ort = _engine()
        options = _session_options(ort)
        options.enable_profiling = True
        options.profile_file_prefix = prefix
        return ort.InferenceSession(self.model_bytes, options, providers=self.session.get_providers())

    def _session_for(self, x: torch.Tensor):
        shape = tuple(x.shape)
        if shape not in self._sessions:
            ort = _engine()
            self._sessions[shape] = ort.InferenceSession(export_onnx(self._model, x), _session_options(ort),
                                                         providers=self.session.get_providers())
        return self._sessions[shape]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(x.detach().cpu().numpy())
        output = self._session_for(x).run(None, {self.input_name: array})[0]
        return torch.from_numpy(output).to(self.device)


def export_onnx(model: nn.Module, example: torch.Tensor) -> bytes:
    """``model`` exported to ONNX at ``example``'s shape (every dimension static), as bytes."""
    _engine()
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # the tracer's warnings: shape tests in OctPair become constants (the shape is fixed anyway),
            # and the TorchScript exporter's deprecation notice
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(model, (example,), buffer, dynamo=False, opset_version=OPSET,
                              input_names=["input"], output_names=["output"])
    except Exception as error:  # an op or output type the exporter does not know
        raise ConversionError(f"torch.onnx export failed: {one_line(error)}") from error
    return buffer.getvalue()


def onnxruntime_backend(model: nn.Module, example: torch.Tensor):
    """Export ``model`` (the eval-mode copy ``prepare`` made) on ``example`` and open a session on it."""
    ort = _engine()
    exported = export_onnx(model, example)
    options = _session_options(ort)
    providers = ["CPUExecutionProvider"]
    if example.is_cuda and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": example.device.index or 0}))
    try:
        session = ort.InferenceSession(exported, options, providers=providers)
    except Exception as error:  # e.g. no CPU kernel for float64 or bfloat16 convs
        raise ConversionError(f"onnxruntime cannot run the model in {example.dtype}: {one_line(error)}") from error
    notes = [f"exported to ONNX (opset {OPSET}, TorchScript tracer), run by onnxruntime {ort.__version__} "
             f"on {session.get_providers()[0]}, graph optimisations ORT_ENABLE_ALL, "
             f"{options.intra_op_num_threads} intra-op threads (spinning stopped after each run)",
             "exported at the example's shape, every dimension static (so that ONNX Runtime fuses the octave "
             "sums into its convs); an input of another shape is exported again",
             "input and output copied through NumPy on the host at every call",
             "onnxruntime's own memory is outside PyTorch's allocator: peak-memory figures do not see it"]
    return OnnxRuntimeRunner(session, example.device, exported, model, tuple(example.shape)), notes, False


def _session_options(ort):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = torch.get_num_threads()  # the thread count the caller set for timing
    # Workers spin between ops within a run, but stop when it ends: a session left spinning steals the
    # cores of the next one timed (interleaved vanilla and octave runs took ~1.8x as long on 2 cores).
    options.add_session_config_entry("session.force_spinning_stop", "1")
    return options


def one_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
