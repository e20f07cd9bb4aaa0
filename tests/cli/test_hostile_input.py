"""Hostile or odd input and the process around it: one-line errors naming the value, exit != 0; the working
directory never shadows a dependency; Ctrl-C exits 130 with one line; a closed pipe exits 141 quietly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from octprofile.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
CONVS = "nn.Sequential(*[nn.Conv2d(c, 8, 3, padding=1) for c in (3, 8, 8, 8)])"


def invoke(*args: str):
    return runner.invoke(app, list(args))


def one_line_error(result, *needles: str) -> str:
    assert result.exit_code not in (0, None), result.output
    lines = [line for line in result.output.splitlines() if line and not line.startswith("[")]
    assert len(lines) == 1, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def write(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("import sys\nimport torch\nfrom torch import nn\n\n" + body)
    return str(path)


def test_user_code_calling_sys_exit_fails_check(tmp_path):
    path = write(tmp_path, "quits.py", "def net():\n    sys.exit(0)\n")
    result = invoke("check", f"{path}:net", "--no-fvcore")
    assert result.exit_code == 2
    one_line_error(result, "quits.py:net", "sys.exit(0)")


def test_user_module_calling_sys_exit_on_import(tmp_path):
    path = write(tmp_path, "quits_on_import.py", "sys.exit(0)\n")
    one_line_error(invoke("check", f"{path}:net", "--no-fvcore"), "sys.exit(0)")


def test_rich_markup_in_user_text_is_printed_verbatim(tmp_path):
    path = write(tmp_path, "[bold]model.py", "def net():\n    raise ValueError('bad [/bold] value')\n")
    line = one_line_error(invoke("compare", f"{path}:net", "--no-time", "--no-fvcore"))
    assert "[bold]model.py:net" in line and "bad [/bold] value" in line


@pytest.mark.parametrize(("option", "value"), [("--batch-size", "99999999999999999999"),
                                               ("--input-size", "99999999999999999999"),
                                               ("--width-mult", "inf"), ("--width-mult", "nan"),
                                               ("--width-mult", "1e300")])
def test_absurd_numbers_are_one_line_errors(option, value):
    result = invoke("compare", "mobilenet_v1", "--no-time", "--no-fvcore", option, value)
    assert result.exit_code == 2
    one_line_error(result, option)


def test_threads_above_the_core_count():
    result = invoke("compare", "resnet20_cifar", "--no-fvcore", "--threads", str(10 * (os.cpu_count() or 1)))
    assert result.exit_code == 2
    one_line_error(result, "--threads", str(os.cpu_count()))


def test_a_path_that_is_not_python(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("notes.txt").write_text("hello\n")
    one_line_error(invoke("compare", "notes.txt:net", "--no-time", "--no-fvcore"), "notes.txt", ".py")


def test_a_model_without_conv_or_linear(tmp_path):
    path = write(tmp_path, "flat.py", "def net():\n    return nn.Sequential(nn.ReLU())\n")
    result = invoke("sweep", f"{path}:net", "--alphas", "0", "--no-time", "--no-fvcore")
    assert result.exit_code == 2
    one_line_error(result, "flat.py:net", "no conv or linear layer")


def test_a_conversion_failure_at_a_size_that_runs_is_not_blamed_on_the_size(tmp_path):
    body = "def net():\n    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))\n"
    path = write(tmp_path, "dense.py", body)
    result = invoke("compare", f"{path}:net", "--input-size", "32", "--no-time", "--no-fvcore")
    assert result.exit_code == 2
    line = one_line_error(result, "octave chain needs a stem conv")
    assert "input size" not in line


@pytest.mark.parametrize("command", [["compare"], ["ablate"], ["blocks", "--rounds", "1"]])
def test_alpha_0_where_an_oct_model_is_needed(command):
    result = invoke(command[0], "resnet20_cifar", "--alpha", "0", *command[1:])
    assert result.exit_code == 2
    one_line_error(result, "--alpha 0 is the vanilla model", "needs an α above 0")


def test_a_model_on_the_meta_device(tmp_path):
    path = write(tmp_path, "ghost.py", f"def net():\n    return {CONVS}.to('meta')\n")
    result = invoke("check", f"{path}:net")
    assert result.exit_code == 2
    one_line_error(result, "ghost.py:net", "meta device")


def run_module(*args: str, cwd: Path, **popen):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "octprofile", *args], cwd=cwd, env=env, text=True, **popen)


@pytest.mark.slow  # a fresh interpreter per shadowing module
def test_the_working_directory_never_shadows_a_dependency(tmp_path):
    for name in ("rich", "typing_extensions", "typer"):
        (tmp_path / f"{name}.py").write_text(f"raise SystemExit('shadowed by {name}.py')\n")
    (tmp_path / "helper.py").write_text(f"from torch import nn\n\ndef make():\n    return {CONVS}\n")
    (tmp_path / "mine.py").write_text("import helper\n\ndef net():\n    return helper.make()\n")
    for model in ("mine.py:net", "mine:net"):  # a file and a module, both relative to the working directory
        process = run_module("compare", model, "--no-time", "--no-fvcore", cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert "shadowed" not in out + err
        assert "params equal" in out


def test_a_closed_pipe_is_a_quiet_exit(tmp_path):
    # one α beside vanilla: two counts, not five, before the CSV meets the closed pipe
    process = run_module("sweep", "resnet20_cifar", "--alphas", "0.5", "--no-time", "--no-fvcore", "--format", "csv",
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before a line is written
    err = process.stderr.read()
    assert process.wait(timeout=300) == 141
    assert "Traceback" not in err and "error" not in err


def test_ctrl_c_exits_130_with_one_line(tmp_path):
    process = run_module("sweep", "resnet56_cifar", "--rounds", "1000", cwd=tmp_path, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert process.stderr.readline().startswith("[")  # counting has started
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    err = process.stderr.read()
    assert process.wait(timeout=300) == 130, err
    lines = [line for line in err.splitlines() if not line.startswith("[")]
    assert len(lines) == 1 and lines[0].startswith("interrupted"), err


def test_a_width_multiplier_that_empties_a_layer_is_one_line():
    result = CliRunner().invoke(app, ["compare", "mobilenet_v1", "--width-mult", "0.01", "--no-time", "--no-fvcore"])
    assert result.exit_code == 2 and "smallest that builds is 0.03125" in result.output
    assert "internal error" not in result.output


def test_brackets_in_a_model_path_are_printed_as_written(tmp_path):
    model = tmp_path / "[red]net.py"
    model.write_text("import torch.nn as nn\n\ndef net():\n    return nn.Sequential(*[nn.Conv2d(3 if i == 0 else 8, 8, "
                     "3, padding=1) for i in range(4)], nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))\n")
    result = CliRunner().invoke(app, ["compare", f"{model}:net", "--input-size", "16", "--no-time", "--no-fvcore"])
    assert result.exit_code == 0, result.output
    # the title keeps '[red]' instead of reading it as a colour
    assert f"{model}:net at 16²" in result.output.replace("\n", "")
