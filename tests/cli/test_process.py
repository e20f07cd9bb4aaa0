"""The command line as a process: what it imports, what it prints on stderr."""

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

ROOT = Path(__file__).resolve().parents[2]


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
    """In process; ``python -m octprofile --version`` as a process, stderr empty, is test_environment.py's
    test_a_senseless_columns_is_ignored (and above, without importing torch)."""
    from typer.testing import CliRunner

    import octprofile
    from octprofile.cli import app

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout == f"octprofile {octprofile.__version__}\n"


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
    from octprofile.studies.subject import Ticker as _Ticker

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


# ---- scripts/ensure-venv, against a fake venv: its python records `-m pip install` calls, never installs ----

ENSURE_VENV = ROOT / "scripts" / "ensure-venv"
FAKE_PYTHON = """#!/bin/sh
echo "start $*" >>"$FAKE_PIP_CALLS"
sleep "$FAKE_PIP_SECONDS"
echo "end" >>"$FAKE_PIP_CALLS"
exit "$FAKE_PIP_EXIT"
"""
# what the script needs from PATH, flock left out: the directory lock is used instead
TOOLS_BUT_FLOCK = ("bash", "cat", "sha256sum", "cut", "dirname", "mkdir", "rm", "mv", "sleep")


def dependencies_hash() -> str:
    import hashlib

    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + (ROOT / "constraints.txt").read_bytes()).hexdigest()


@pytest.fixture
def fake_venv(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return venv


def ensure_venv(venv: Path, *, pip_seconds: float = 0, pip_exit: int = 0, flock: bool = True) -> subprocess.Popen:
    env = {**os.environ, "OCTPROFILE_VENV": str(venv), "FAKE_PIP_CALLS": str(venv.parent / "pip-calls"),
           "FAKE_PIP_SECONDS": str(pip_seconds), "FAKE_PIP_EXIT": str(pip_exit)}
    if not flock:
        tools = venv.parent / "tools"
        tools.mkdir(exist_ok=True)
        for tool in TOOLS_BUT_FLOCK:
            link = tools / tool
            if not link.exists():
                link.symlink_to(shutil.which(tool))
        env["PATH"] = str(tools)
    return subprocess.Popen([str(ENSURE_VENV)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def pip_calls(venv: Path) -> list[str]:
    calls = venv.parent / "pip-calls"
    return calls.read_text().splitlines() if calls.exists() else []


def test_ensure_venv_with_a_current_stamp_installs_nothing(fake_venv):
    (fake_venv / ".octprofile-deps").write_text(dependencies_hash() + "\n")
    stdout, stderr = ensure_venv(fake_venv).communicate(timeout=60)
    assert (stdout, stderr) == (f"{fake_venv}\n", "")
    assert pip_calls(fake_venv) == []


@pytest.mark.parametrize("flock", [True, False], ids=["flock", "directory-lock"])
def test_ensure_venv_started_twice_installs_once(fake_venv, flock):
    if flock and not shutil.which("flock"):
        pytest.skip("no flock here")
    (fake_venv / ".octprofile-deps").write_text("a hash of older dependencies\n")
    first = ensure_venv(fake_venv, pip_seconds=1.5, flock=flock)
    second = ensure_venv(fake_venv, pip_seconds=1.5, flock=flock)
    outputs = [run.communicate(timeout=60) for run in (first, second)]
    assert [run.returncode for run in (first, second)] == [0, 0], outputs
    assert [stdout for stdout, _ in outputs] == [f"{fake_venv}\n"] * 2  # stdout: the path, nothing else
    calls = pip_calls(fake_venv)
    assert len(calls) == 2 and calls[0].startswith("start -m pip install") and calls[1] == "end"
    assert "-e" in calls[0].split() and f"{ROOT}/constraints.txt" in calls[0]
    assert sum("installing dependencies" in stderr for _, stderr in outputs) == 1
    assert (fake_venv / ".octprofile-deps").read_text() == dependencies_hash() + "\n"
    assert not Path(f"{fake_venv}.lock.d").exists()  # the directory lock is gone once done
    assert sorted(path.name for path in fake_venv.iterdir()) == [".octprofile-deps", "bin"]  # no stamp.tmp left


def test_ensure_venv_failed_install_leaves_no_stamp(fake_venv):
    (fake_venv / ".octprofile-deps").write_text("a hash of older dependencies\n")
    run = ensure_venv(fake_venv, pip_exit=1)
    stdout, _ = run.communicate(timeout=60)
    assert run.returncode != 0 and stdout == ""
    assert not (fake_venv / ".octprofile-deps").exists()


def test_ensure_venv_interrupted_install_leaves_no_stamp(fake_venv):
    import signal
    import time

    (fake_venv / ".octprofile-deps").write_text("a hash of older dependencies\n")
    run = ensure_venv(fake_venv, pip_seconds=1)
    deadline = time.monotonic() + 30
    while not pip_calls(fake_venv) and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    stdout, _ = run.communicate(timeout=60)
    assert run.returncode != 0 and stdout == ""
    assert pip_calls(fake_venv)[0].startswith("start")
    assert sorted(path.name for path in fake_venv.iterdir()) == ["bin"]  # neither stamp nor temporary stamp


def test_ensure_venv_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(ENSURE_VENV)]).returncode == 0
