"""The ``onnxruntime`` backend: same outputs as the eager model (vanilla and octave), any batch size, the
caller's model untouched, and a one-line error when the optional engine is missing."""

import copy
import sys
import tempfile

import pytest
import torch
from random_norms import randomise_norms
from torch import nn

from octprofile import build_model, prepare
from octprofile.convert import convert
from octprofile.errors import ConversionError, MissingEngineError
from octprofile.runtime.onnx_backend import onnxruntime_available, onnxruntime_backend
from octprofile.runtime.prepare import BACKENDS, Backend

# float32; ONNX Runtime fuses batch norms into convs and picks its own kernels, so sums are reordered
TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}
MNIST = "examples.mnist_net:mnist_net"  # importable: conftest puts the repository root on sys.path


@pytest.fixture
def backend(monkeypatch):
    """Registers the backend for ``prepare`` (whether or not prepare.py already does) and skips when the
    optional engine is absent."""
    for package in ("onnx", "onnxruntime"):
        pytest.importorskip(package, reason=f"optional {package} not installed: pip install 'octprofile[onnx]'")
    monkeypatch.setitem(BACKENDS, "onnxruntime", Backend("onnxruntime", "ONNX Runtime", onnxruntime_backend))
    return "onnxruntime"


@pytest.mark.parametrize(("name", "alpha", "shape"), [
    ("resnet20_cifar", 0.0, (2, 3, 32, 32)),
    ("resnet20_cifar", 0.5, (2, 3, 32, 32)),
    (MNIST, 0.5, (2, 1, 28, 28)),
])
def test_outputs_match_the_eager_model_at_any_batch(backend, name, alpha, shape):
    model = randomise_norms(build_model(name, alpha, seed=0)).eval()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    prepared = prepare(model, x, backend)
    assert not prepared.channels_last and any("onnxruntime" in note for note in prepared.notes)
    for batch in (shape[0], 1, 3):  # exported at the example's shape; another batch is exported again
        xb = torch.randn((batch, *shape[1:]), generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            want = model(xb)
        got = prepared(prepared.adapt(xb))
        assert isinstance(got, torch.Tensor) and got.dtype == want.dtype
        torch.testing.assert_close(got, want, **TOLERANCE)


def test_the_export_is_static_so_onnxruntime_fuses_the_octave_sums_into_its_convs(backend):
    import onnx
    import onnxruntime as ort

    class Wide(nn.Module):  # channels in whole blocks of 16, as ONNX Runtime's blocked convs need
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(),
                                      *(m for _ in range(3) for m in (nn.Conv2d(64, 64, 3, padding=1), nn.ReLU())),
                                      nn.Conv2d(64, 16, 3, padding=1))

        def forward(self, x):
            return self.body(x)

    x = torch.randn(2, 3, 32, 32)
    prepared = prepare(convert(Wide().eval(), 0.5, "chain", tuple(x.shape)), x, backend)
    exported = onnx.load_from_string(prepared.runner.model_bytes)
    assert [d.dim_value for d in exported.graph.input[0].type.tensor_type.shape.dim] == [2, 3, 32, 32]
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    with tempfile.TemporaryDirectory() as directory:
        options.optimized_model_filepath = f"{directory}/optimised.onnx"
        ort.InferenceSession(prepared.runner.model_bytes, options, providers=["CPUExecutionProvider"])
        kinds = [node.op_type for node in onnx.load(options.optimized_model_filepath).graph.node]
    # every H→H + up(L→H) sum rides on a blocked conv: no Add left, nor the reshapes a symbolic batch brings
    # (exported with a dynamic batch, the same model keeps its Adds: checked when this test was written)
    assert "Upsample" in kinds and "Add" not in kinds and "Reshape" not in kinds, kinds


def test_the_callers_model_is_untouched(backend):
    model = build_model(MNIST, 0.5, seed=0).train()
    before = copy.deepcopy(model.state_dict())
    prepare(model, torch.randn(2, 1, 28, 28), backend)
    assert model.training and all(m.training for m in model.modules())
    assert all(p.requires_grad for p in model.parameters())
    after = model.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert torch.equal(value, after[key]), key


def test_a_dtype_onnxruntime_cannot_run_is_a_clear_error(backend):
    model = build_model(MNIST, 0.0, seed=0)
    with pytest.raises(ConversionError, match="onnxruntime cannot run the model in torch.float64"):
        prepare(model, torch.randn(1, 1, 28, 28, dtype=torch.float64), backend)


@pytest.mark.parametrize("package", ["onnx", "onnxruntime"])
def test_a_missing_engine_is_a_one_line_error(monkeypatch, package):
    monkeypatch.setitem(sys.modules, package, None)  # makes `import package` raise ImportError
    assert not onnxruntime_available()
    with pytest.raises(MissingEngineError) as caught:
        onnxruntime_backend(nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8))
    message = str(caught.value)
    assert "\n" not in message and "onnx and onnxruntime" in message and "pip install 'octprofile[onnx]'" in message
    assert isinstance(caught.value, ImportError)


def test_a_missing_engine_is_refused_before_any_work_and_left_out_of_all(monkeypatch):
    from octprofile.runtime.timing import TimingOptions, installed_backends

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingEngineError, match=r"pip install 'octprofile\[onnx\]'"):
        TimingOptions(backends=("eager", "onnxruntime"))
    assert "onnxruntime" not in installed_backends()
    assert "onnxruntime" not in TimingOptions(backends="all").backends


def test_timing_on_onnxruntime_reports_no_peak_memory_it_cannot_see():
    pytest.importorskip("onnxruntime")
    from octprofile.runtime.timing import TimingOptions, time_variants

    options = TimingOptions(device="cpu", threads=1, rounds=1, min_run_time=0.01, warmup=1,
                            backends=("onnxruntime",))
    timing = time_variants({"a": build_model("resnet20_cifar", 0.5, seed=0)}, (1, 3, 32, 32), options).timing("a")
    assert timing.latency_ms > 0 and timing.peak_memory_bytes is None
