"""A prepared model computes what the built model computes, on every backend and at every shape it promises:
layers a rewrite does not know (own forward, hooks) run as built, ``prepare`` checks the output against the
built model's and refuses in one line when they differ, and what an engine cannot run is refused in one line
naming the backend, the layer and the reason."""

import importlib

import pytest
import torch
from odd_layers import BatchNormAct2d, StdConv2d
from random_norms import randomise_norms
from torch import nn

from octprofile import prepare
from octprofile.errors import ConversionError, OutputMismatchError

TORCH_BACKENDS = ("eager", "compile", "onnxruntime", "openvino")
preparing = importlib.import_module("octprofile.runtime.prepare")  # the module, not the function


def _with_statistics(model: nn.Module) -> nn.Module:
    return randomise_norms(model).eval()


def bn_act_net():
    torch.manual_seed(0)
    return _with_statistics(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), BatchNormAct2d(8), nn.Conv2d(8, 4, 3)))


def std_conv_net():
    torch.manual_seed(0)
    return _with_statistics(nn.Sequential(StdConv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                          nn.Conv2d(8, 4, 3)))


def hooked_net():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3))
    model[0].register_forward_hook(lambda module, args, output: output * 2)
    return model.eval()


def _available(backend: str) -> None:
    if not preparing.BACKENDS[backend].available():
        pytest.skip(preparing.BACKENDS[backend].missing)


def assert_prepared_matches(model: nn.Module, x: torch.Tensor, backend: str, *others: torch.Tensor):
    prepared = prepare(model, x, backend)
    for y in (x, *others):
        with torch.no_grad():
            want = model(y)
        torch.testing.assert_close(prepared(prepared.adapt(y)), want, rtol=1e-4, atol=1e-4)
    return prepared


@pytest.mark.parametrize("make", [bn_act_net, std_conv_net, hooked_net], ids=["bn-act", "std-conv", "hook"])
@pytest.mark.parametrize("backend", ["eager", "onnxruntime", "openvino"])
def test_layers_with_their_own_forward_or_hooks_keep_their_behaviour(make, backend):
    _available(backend)
    prepared = assert_prepared_matches(make(), torch.randn(2, 3, 16, 16), backend)
    assert any("output checked against the built model" in note for note in prepared.notes)


def test_eager_leaves_unknown_layers_as_built_and_says_so():
    prepared = prepare(std_conv_net(), torch.randn(1, 3, 16, 16), "eager")
    assert isinstance(prepared.module[0], StdConv2d) and isinstance(prepared.module[1], nn.BatchNorm2d)
    assert any("'0' (StdConv2d: its class overrides Conv2d.forward)" in note for note in prepared.notes)
    hooked = prepare(hooked_net(), torch.randn(1, 3, 16, 16), "eager")
    assert any("'0' (Conv2d: it has forward hooks)" in note for note in hooked.notes)


def test_compile_keeps_a_norm_that_activates_and_a_standardised_weight():
    _available("compile")
    torch.manual_seed(0)
    model = _with_statistics(nn.Sequential(StdConv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                           nn.Conv2d(8, 8, 3, padding=1), BatchNormAct2d(8), nn.Conv2d(8, 4, 3)))
    assert_prepared_matches(model, torch.randn(1, 3, 16, 16), "compile")


def test_a_prepared_output_that_differs_is_refused_naming_the_backend_and_deviation(monkeypatch):
    import octprofile.runtime.folding as folding

    # what prepare did before: every BatchNorm2d folded, every Conv2d rewritten, whatever its forward
    monkeypatch.setattr(folding, "carriable", lambda module: True)
    monkeypatch.setattr(preparing, "carriable", lambda module: True)
    with pytest.raises(OutputMismatchError, match=r"^backend 'eager': the prepared model's output differs from "
                                                  r"the built model's by up to [0-9.]+ .*tolerance 0\.0001") as error:
        prepare(bn_act_net(), torch.randn(2, 3, 16, 16), "eager")
    assert "\n" not in str(error.value) and isinstance(error.value, ConversionError)


def test_the_check_is_relative_to_the_output_and_looser_in_low_precision():
    from octprofile.runtime.output_check import Reference, check_output

    want = torch.full((2, 3), 1000.0)
    assert "max deviation" in check_output("eager", lambda x: want + 0.05, want, Reference([want]), 1e-4)
    with pytest.raises(OutputMismatchError, match="0.001 of the output's largest magnitude"):
        check_output("eager", lambda x: want + 1.0, want, Reference([want]), 1e-4)
    with pytest.raises(OutputMismatchError, match="is not the built model's"):
        check_output("eager", lambda x: want[:1], want, Reference([want]), 1e-4)
    with pytest.raises(OutputMismatchError):
        check_output("eager", lambda x: want * float("nan"), want, Reference([want]), 1e-4)
    half = prepare(bn_act_net().bfloat16(), torch.randn(2, 3, 16, 16).bfloat16(), "eager")
    assert any("tolerance 0.1" in note for note in half.notes)


def test_a_model_that_cannot_run_on_the_example_is_prepared_unchecked():
    from octprofile.nn import OctConv2d

    layer = OctConv2d(8, 8, 3, 1, 1, alpha_in=0.5, alpha_out=0.5)  # takes a pair; the example is one branch
    prepared = prepare(layer, torch.randn(1, 4, 8, 8), "eager")
    assert any("output not checked" in note for note in prepared.notes)


# --- every backend at every shape it promises ---------------------------------------------------------------

class Conv1dNet(nn.Module):
    """audio_net's shape, small: conv, norm, activation over a sequence; a circular conv too."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(1, 8, 9, 2, 4, bias=False), nn.BatchNorm1d(8), nn.ReLU(),
                                  nn.Conv1d(8, 8, 3, padding=1, padding_mode="circular"))

    def forward(self, x):
        return self.body(x).mean(-1)


def test_compile_runs_a_1d_model():  # channels_last was applied to its 3-d input
    _available("compile")
    prepared = assert_prepared_matches(Conv1dNet().eval(), torch.randn(2, 1, 64), "compile")
    assert not prepared.channels_last


class CircularNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=(1, 2), padding_mode="circular")

    def forward(self, x):
        return self.conv(x).relu()


def test_compile_runs_a_circular_padded_conv():  # inductor's freezing raised a raw InductorError
    _available("compile")
    prepared = assert_prepared_matches(CircularNet().eval(), torch.randn(1, 3, 16, 16), "compile")
    assert any("circular-padded convs pad by concatenation" in note for note in prepared.notes)


class _SecondNet(nn.Module):
    """A class of its own: dynamo's cache for its forward holds only this test's models."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")

    def forward(self, x):
        return self.conv(x).relu()


def test_a_second_model_of_a_class_compiles_as_the_first_one_did():
    _available("compile")
    from torch._dynamo.utils import counters

    assert_prepared_matches(_SecondNet().eval(), torch.randn(1, 3, 16, 16), "compile")
    second = assert_prepared_matches(_SecondNet().eval(), torch.randn(1, 3, 20, 20), "compile")
    # static shapes, like the first: a third shape is compiled anew (a dynamic-shape graph, what dynamo made of
    # the second model before, would have run it without compiling)
    graphs = counters["stats"]["unique_graphs"]
    x = torch.randn(1, 3, 24, 24)
    with torch.no_grad():
        torch.testing.assert_close(second(second.adapt(x)), second.module(x), rtol=1e-4, atol=1e-4)
    assert counters["stats"]["unique_graphs"] == graphs + 1


def test_a_compile_failure_is_one_line(monkeypatch):
    _available("compile")
    import torch._inductor.config as inductor_config

    def broken(*args, **kwargs):
        raise RuntimeError("lowering failed\nstack trace")

    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: broken)
    with pytest.raises(ConversionError, match=r"^torch.compile \(inductor, freezing\) cannot compile this model: "
                                              r"RuntimeError: lowering failed$"):
        prepare(CircularNet().eval(), torch.randn(1, 3, 8, 8), "compile")
    assert inductor_config.freezing is False  # the patch was undone


@pytest.mark.parametrize("make", [
    lambda: nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.InstanceNorm2d(8), nn.ReLU()),
    lambda: nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.InstanceNorm2d(8, affine=True), nn.ReLU()),
    lambda: CircularNet(),
    lambda: nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect"), nn.ReLU()),
], ids=["instance-norm", "instance-norm-affine", "circular", "reflect"])
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_engines_run_other_batch_sizes_than_the_example(make, backend):
    _available(backend)
    torch.manual_seed(0)
    assert_prepared_matches(make().eval(), torch.randn(1, 3, 16, 16), backend, torch.randn(3, 3, 16, 16))


class CumProd(nn.Module):
    def forward(self, x):
        return torch.cumprod(x, 1)


def test_openvino_names_the_layer_it_cannot_convert():
    _available("openvino")
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ReLU(), CumProd())).eval()
    x = torch.randn(1, 3, 8, 8)
    assert_prepared_matches(model, x, "eager")  # eager runs it
    with pytest.raises(ConversionError) as error:
        prepare(model, x, "openvino")
    assert str(error.value) == ("openvino cannot convert layer '1.1' (CumProd): aten.cumprod.default has no "
                                "conversion rule in OpenVINO's PyTorch frontend (eager, compile and onnxruntime "
                                "may run it)")
