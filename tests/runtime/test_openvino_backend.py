"""The ``openvino`` backend: the eager model's outputs (vanilla and octave) at any batch size, float32 kept
float32 (OpenVINO would pick bfloat16 on CPUs that have it), the thread count honoured, the caller's model
untouched, and one-line errors for what it cannot do or when the optional engine is missing."""

import copy
import sys

import pytest
import torch
from random_norms import randomise_norms
from torch import nn

from octprofile import build_model, prepare
from octprofile.errors import ConversionError, MissingEngineError
from octprofile.runtime.openvino_backend import openvino_available, openvino_backend, openvino_onnx_backend
from octprofile.runtime.prepare import BACKENDS, Backend

TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}  # float32; OpenVINO fuses batch norms and reorders sums
MNIST = "examples.mnist_net:mnist_net"


@pytest.fixture
def backend():
    pytest.importorskip("openvino", reason="optional openvino not installed: pip install 'octprofile[openvino]'")
    return "openvino"


@pytest.mark.parametrize(("name", "alpha", "shape"), [
    ("resnet20_cifar", 0.0, (2, 3, 32, 32)),
    ("resnet20_cifar", 0.5, (2, 3, 32, 32)),
    (MNIST, 0.5, (2, 1, 28, 28)),
])
def test_outputs_match_the_eager_model_at_any_batch(backend, name, alpha, shape):
    model = randomise_norms(build_model(name, alpha, seed=0)).eval()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    prepared = prepare(model, x, backend)
    assert not prepared.channels_last and any("openvino" in note for note in prepared.notes)
    assert any(note.startswith("converted by torch.export") for note in prepared.notes)  # no fallback
    for batch in (shape[0], 1, 3):  # another shape is compiled on first use
        xb = torch.randn((batch, *shape[1:]), generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            want = model(xb)
        got = prepared(prepared.adapt(xb))
        assert isinstance(got, torch.Tensor) and got.dtype == want.dtype
        torch.testing.assert_close(got, want, **TOLERANCE)


def test_the_onnx_route_gives_the_same_outputs(backend):
    model = randomise_norms(build_model("resnet20_cifar", 0.5, seed=0)).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    runner, notes, _ = openvino_onnx_backend(copy.deepcopy(model), x)
    with torch.no_grad():
        torch.testing.assert_close(runner(x), model(x), **TOLERANCE)
    assert "ONNX export" in notes[0]


def test_float32_stays_float32_and_the_threads_are_the_callers(backend):
    model = build_model(MNIST, 0.5, seed=0)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        prepared = prepare(model, torch.randn(1, 1, 28, 28), backend)
    finally:
        torch.set_num_threads(previous)
    compiled = prepared.runner.compiled
    assert compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() == "f32"
    assert compiled.get_property("INFERENCE_NUM_THREADS") == 1
    assert str(compiled.get_property("PERFORMANCE_HINT")) == "LATENCY"


def test_bfloat16_is_computed_in_bfloat16_when_the_cpu_has_it(backend):
    import openvino as ov

    if "BF16" not in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        pytest.skip("this CPU has no bfloat16 compute for openvino")
    model = build_model(MNIST, 0.5, seed=0).eval()
    x = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    prepared = prepare(model, x.bfloat16(), backend)
    assert prepared.runner.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() == "bf16"
    got = prepared(prepared.adapt(x))
    assert got.dtype == torch.bfloat16
    with torch.no_grad():
        torch.testing.assert_close(got.float(), model(x), rtol=5e-2, atol=5e-2)


def test_the_callers_model_is_untouched(backend):
    model = build_model(MNIST, 0.5, seed=0).train()
    before = copy.deepcopy(model.state_dict())
    prepare(model, torch.randn(2, 1, 28, 28), backend)
    assert model.training and all(p.requires_grad for p in model.parameters())
    for key, value in before.items():
        assert torch.equal(value, model.state_dict()[key]), key


@pytest.mark.parametrize(("dtype", "message"), [(torch.float64, "openvino cannot compute in torch.float64")])
def test_a_dtype_openvino_cannot_run_is_a_clear_error(backend, dtype, message):
    with pytest.raises(ConversionError, match=message):
        prepare(build_model(MNIST, 0.0, seed=0), torch.randn(1, 1, 28, 28, dtype=dtype), backend)


def test_a_missing_engine_is_a_one_line_error_naming_the_extra(monkeypatch):
    from octprofile.runtime.timing import TimingOptions, installed_backends

    monkeypatch.setitem(sys.modules, "openvino", None)  # makes `import openvino` raise ImportError
    assert not openvino_available()
    with pytest.raises(MissingEngineError) as caught:
        openvino_backend(nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8))
    assert "\n" not in str(caught.value) and "pip install 'octprofile[openvino]'" in str(caught.value)
    with pytest.raises(MissingEngineError, match=r"octprofile\[openvino\]"):
        TimingOptions(backends=("eager", "openvino"))
    assert "openvino" not in installed_backends() and "openvino" not in TimingOptions(backends="all").backends


def test_all_backends_include_openvino_when_installed(backend):
    from octprofile.runtime.timing import TimingOptions

    assert "openvino" in TimingOptions(backends="all").backends
    assert isinstance(BACKENDS["openvino"], Backend) and not BACKENDS["openvino"].torch_memory
