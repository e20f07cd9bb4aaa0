"""The command line as a process: what it imports, what it prints on stderr."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def octprofile_process(*args: str, python_options: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``python -m octprofile ARGS`` from this checkout, stdout and stderr captured (not terminals)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *python_options, "-m", "octprofile", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=600)


def imported_modules(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run the CLI under ``-X importtime`` and return the process and every module it imported."""
    process = octprofile_process(*args, python_options=("-X", "importtime"))
    modules = {line.rsplit("|", 1)[1].strip() for line in process.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    return process, modules


@pytest.mark.parametrize("args", [("--help",), ("compare", "--help"), ("sweep", "--help"), ("--version",)])
def test_help_and_version_do_not_import_torch(args):
    process, modules = imported_modules(*args)
    assert process.returncode == 0, process.stderr[-2000:]
    assert "octprofile.cli" in modules  # the measurement itself works
    assert "torch" not in modules and "fvcore" not in modules


@pytest.mark.parametrize("args, message", [
    (("compare", "resnet20_cifar", "--format", "bogus"), "'bogus' is not one of"),
    (("compare", "resnet20_cifar", "--no-such-option"), "No such option: --no-such-option"),
])
def test_usage_errors_are_one_line_without_torch(args, message):
    process, modules = imported_modules(*args)
    errors = [line for line in process.stderr.splitlines() if not line.startswith("import time:")]
    assert process.returncode == 2
    assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0]
    assert "torch" not in modules


def test_version_prints_the_package_version():
    import octprofile

    process = octprofile_process("--version")
    assert process.returncode == 0 and process.stderr == ""
    assert process.stdout == f"octprofile {octprofile.__version__}\n"


def test_lazy_package_keeps_its_public_names():
    import octprofile

    for name in octprofile.__all__:
        assert getattr(octprofile, name) is not None
    assert octprofile.compare.__module__ == "octprofile.study"
    assert octprofile.nn.OctConv2d is octprofile.OctConv2d
    with pytest.raises(AttributeError):
        octprofile.no_such_name  # noqa: B018
