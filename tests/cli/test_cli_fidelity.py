"""Through the command line: a model with layers a rewrite does not know is timed as built, a prepared model
that would time another function is refused in one line, and what a backend cannot run is refused in one line
naming the backend, the layer and the reason."""

import importlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from octprofile.cli import app

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMED = ["--rounds", "1", "--threads", "1", "--no-fvcore", "--format", "csv"]

MODELS = '''
import torch
from torch import nn

from odd_layers import BatchNormAct2d, StdConv2d  # the tests directory is on sys.path under pytest
from random_norms import randomise_norms


class CumProd(nn.Module):
    def forward(self, x):
        return torch.cumprod(x, 1)


def odd_net():
    model = nn.Sequential(StdConv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                          nn.Conv2d(16, 16, 3, padding=1), BatchNormAct2d(16),
                          nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 8, 3, padding=1))
    randomise_norms(model)
    model[3].register_forward_hook(lambda module, args, output: output * 2)
    model.input_size = 16
    return model


def cumprod_net():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                          nn.Conv2d(8, 8, 3, padding=1), CumProd())
    model.input_size = 16
    return model
'''


@pytest.fixture
def models(tmp_path) -> Path:
    path = tmp_path / "odd_models.py"
    path.write_text(MODELS)
    return path


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_layers_with_their_own_forward_or_hooks_are_timed_as_built(models):
    result = invoke("compare", f"{models}:odd_net", "--backend", "eager", *TIMED)
    assert result.exit_code == 0, result.output


def test_a_prepared_model_that_computes_another_function_is_refused_in_one_line(models, monkeypatch):
    preparing = importlib.import_module("octprofile.runtime.prepare")
    folding = importlib.import_module("octprofile.runtime.folding")
    monkeypatch.setattr(folding, "carriable", lambda module: True)  # fold and rewrite whatever the layer does
    monkeypatch.setattr(preparing, "carriable", lambda module: True)
    result = invoke("compare", f"{models}:odd_net", "--backend", "eager", *TIMED)
    assert result.exit_code == 2
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("error: backend 'eager': the prepared model's output differs from the built model's by "
                           "up to ") and "nothing was timed" in line and "Traceback" not in result.output


def test_openvino_refuses_a_layer_it_cannot_convert_naming_it(models):
    pytest.importorskip("openvino", reason="optional openvino not installed")
    result = invoke("compare", f"{models}:cumprod_net", "--backend", "openvino", *TIMED)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "error: openvino cannot convert layer '4' (CumProd): aten.cumprod.default has no conversion rule in "
        "OpenVINO's PyTorch frontend (eager, compile and onnxruntime may run it)")


@pytest.mark.slow  # two torch.compile runs (vanilla and Oct): half a minute to a minute on 2 cores
def test_the_readme_1d_example_compiles(tmp_path):
    result = invoke("compare", f"{EXAMPLES / 'audio_net.py'}:audio_net", "--backend", "compile", "--input-size", "400",
                    *TIMED)
    assert result.exit_code == 0, result.output
