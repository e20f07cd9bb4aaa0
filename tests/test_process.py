"""The command line as a process: what it imports, what it prints on stderr."""

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

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


def test_progress_off_a_terminal_is_one_line_per_description():
    from octprofile.report.progress import progress_callback

    stream = io.StringIO()
    with progress_callback(Console(file=stream, force_terminal=False)) as update:
        update("counting vanilla α=0", 1, 4)
        update("timing round 1/2", 2, 4)
        update("timing round 1/2", 3, 4)  # same stage, next measurement: no new line
        update("timing round 2/2", 4, 4)
    assert stream.getvalue().splitlines() == ["[1/4] counting vanilla α=0", "[2/4] timing round 1/2",
                                              "[4/4] timing round 2/2"]


def test_timing_progress_names_the_round_that_runs_next():
    from octprofile.study import _Ticker

    seen = []
    ticker = _Ticker(lambda what, done, total: seen.append((what, done, total)), steps=6)
    on_progress = ticker.rounds("timing", rounds=3)
    for done in range(1, 7):  # two measurements per round
        on_progress(done, 6)
    assert [what for what, _, _ in seen] == ["timing round 1/3", "timing round 2/3", "timing round 2/3",
                                             "timing round 3/3", "timing round 3/3", "timing round 3/3"]
    assert [done for _, done, _ in seen] == [1, 2, 3, 4, 5, 6]


# what octprofile itself writes on stderr during a successful run
OUR_STDERR_LINE = re.compile(r"\[\d+/\d+\] \S.*|wrote \S.*")


def test_timed_compare_piped_writes_only_progress_on_stderr(tmp_path):
    """No profiler noise (kineto's "USDT ... profiler_start", "ERROR ... gpuGetDeviceCount") and no other
    library chatter: stderr holds our progress lines and nothing else."""
    output = tmp_path / "compare.csv"
    process = octprofile_process("compare", "resnet20_cifar", "--alpha", "0.5", "--rounds", "1", "--threads", "1",
                                 "--output", str(output))
    assert process.returncode == 0, process.stderr[-2000:]
    lines = process.stderr.splitlines()
    assert [line for line in lines if not OUR_STDERR_LINE.fullmatch(line)] == []
    assert "[1/" in lines[0] and "timing round 1/1" in process.stderr and lines[-1] == f"wrote {output}"
    assert output.read_text().startswith("model,")
