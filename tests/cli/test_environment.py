"""The environment is not a bug (README "Exit codes"): a full disk, a full standard output, a terminal that cannot
show α, a COLUMNS of 0, SIGTERM, a missing output directory. Each ends in one line naming the path and the cause,
never as an internal error, and never leaves a half-written file or a temporary one behind."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from octprofile.cli import app
from octprofile.report import files as files_module

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
FAST = ["--no-time", "--no-fvcore"]
ENVIRONMENT_EXIT = 4


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def messages(stderr: str) -> list[str]:
    """stderr without the progress lines (``[1/2] ...``)."""
    return [line for line in stderr.splitlines() if line and not line.startswith("[")]


def process(*args: str, env: dict | None = None, **popen) -> subprocess.Popen:
    """``python -m octprofile ARGS`` from this checkout."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "octprofile", *args], env=environment, cwd=ROOT, **popen)


def run(*args: str, env: dict | None = None, **popen) -> tuple[int, str, str]:
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    child = process(*args, env=env, **popen)
    out, err = child.communicate(timeout=600)
    return child.returncode, (out or b"").decode("utf-8", "replace"), (err or b"").decode("utf-8", "replace")


# ---- 1. a full disk (or quota, read-only filesystem, I/O error) while writing an output file ----

def fail_under(directory: Path, monkeypatch, where: str, code: int) -> None:
    """Make one step of writing a file under ``directory`` fail with ``OSError(code)``; elsewhere it works."""
    failure = OSError(code, os.strerror(code))
    if where == "fsync":
        real = files_module.os.fsync

        def fsync(fd):
            if os.readlink(f"/proc/self/fd/{fd}").startswith(str(directory)):
                raise failure
            return real(fd)

        monkeypatch.setattr(files_module.os, "fsync", fsync)
    elif where == "mkstemp":
        real = tempfile.mkstemp

        def mkstemp(*args, dir=None, **kwargs):
            if str(dir).startswith(str(directory)):
                raise failure
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(files_module.tempfile, "mkstemp", mkstemp)
    else:
        real = os.replace

        def replace(source, target):
            if str(target).startswith(str(directory)):
                raise failure
            return real(source, target)

        monkeypatch.setattr(files_module.os, "replace", replace)


@pytest.mark.parametrize("command, target, where, code", [
    (("report", "--output-dir", "{dir}", "--model", "resnet20_cifar", "--no-plots"), "sweep.csv", "fsync",
     errno.ENOSPC),
    (("compare", "resnet20_cifar", *FAST, "--output", "{dir}/compare.csv"), "compare.csv", "fsync", errno.EDQUOT),
    (("sweep", "resnet20_cifar", "--alphas", "0,0.5", *FAST, "--format", "csv", "--output", "{dir}/sweep.csv",
      "--plot", "{dir}/sweep.svg"), "sweep.csv", "replace", errno.EIO),
    (("check", "resnet20_cifar", "--no-fvcore", "--no-cross-checks", "--junit", "{dir}/check.xml"), "check.xml",
     "mkstemp", errno.EROFS),
    (("models", "--output", "{dir}/models.csv"), "models.csv", "mkstemp", errno.EACCES),
], ids=["report-ENOSPC", "compare-EDQUOT", "sweep-EIO-at-rename", "check-junit-EROFS", "models-EACCES"])
def test_a_failing_disk_is_one_line_naming_the_file_and_keeps_the_old_files(tmp_path, monkeypatch, command, target,
                                                                            where, code):
    old = {name: f"old {name}\n" for name in ("sweep.csv", "sweep.md", "published.md", "compare.csv", "sweep.svg",
                                              "check.xml", "models.csv")}
    for name, text in old.items():
        (tmp_path / name).write_text(text)
    fail_under(tmp_path, monkeypatch, where, code)
    result = invoke(*(part.format(dir=tmp_path) for part in command))
    assert result.exit_code == ENVIRONMENT_EXIT, result.output
    assert messages(result.stderr) == [f"error: cannot write {tmp_path / target}: {os.strerror(code)}"]
    assert "internal error" not in result.output and "Traceback" not in result.output
    assert {path.name: path.read_text() for path in tmp_path.iterdir()} == old  # untouched, no temporary file


def test_an_environment_error_outside_the_output_files_is_not_a_bug(monkeypatch):
    """E.g. a cache that torch or matplotlib writes, on a full disk: one line with the path, exit 4, not 3."""
    from octprofile.studies import variants as study

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/cache/kernels.bin")

    monkeypatch.setattr(study, "count_model", full)
    result = invoke("compare", "resnet20_cifar", *FAST)
    assert result.exit_code == ENVIRONMENT_EXIT, result.output
    assert messages(result.stderr) == ["error: /cache/kernels.bin: No space left on device"]


def test_the_python_api_raises_an_oserror_that_names_the_file(tmp_path, monkeypatch):
    from octprofile.errors import OctprofileError

    fail_under(tmp_path, monkeypatch, "fsync", errno.ENOSPC)
    with pytest.raises(OSError) as raised:
        files_module.atomic_write(tmp_path / "out.txt", "new\n")
    assert isinstance(raised.value, OctprofileError) and raised.value.errno == errno.ENOSPC
    assert str(raised.value) == f"cannot write {tmp_path / 'out.txt'}: No space left on device"
    assert list(tmp_path.iterdir()) == []


# ---- 2. standard output (or error) on a full device ----

@pytest.mark.parametrize("args", [("--version",), ("--help",), ("models",)], ids=["version", "help", "models"])
def test_stdout_on_a_full_device_is_one_line_on_stderr(args):
    with open("/dev/full", "w") as full:
        code, _, err = run(*args, stdout=full)
    assert code == ENVIRONMENT_EXIT, err
    assert err == "error: cannot write to standard output: No space left on device\n"


def test_stderr_on_a_full_device_loses_only_the_progress():
    with open("/dev/full", "w") as full:
        code, out, _ = run("compare", "resnet20_cifar", *FAST, "--format", "csv", stderr=full)
    assert code == 0
    assert out.startswith("model,") and len(out.splitlines()) == 3


# ---- 3. a terminal encoding that cannot show α, ², → ----

def test_an_ascii_terminal_gets_ascii_fallbacks():
    code, out, err = run("compare", "resnet20_cifar", *FAST, env={"PYTHONIOENCODING": "ascii"})
    assert code == 0, err
    out.encode("ascii")  # every byte is ASCII
    assert "resnet20_cifar at 32^2, batch 1, a=0.5" in out
    assert "params equal - counts agree - 0.64x MACs" in out and "MACs / vanilla" in out
    assert "floor(a*c)" in out and "1-3/4a(2-a)" in out
    assert messages(err) == [] and "[2/2] counting oct a=0.5" in err.splitlines()


# ---- 4. COLUMNS of 0, negative or not a number ----

@pytest.mark.parametrize("columns", ["0", "-5", "abc", ""])
def test_a_senseless_columns_is_ignored(columns):
    import octprofile

    code, out, err = run("--version", env={"COLUMNS": columns})
    assert (code, out, err) == (0, f"octprofile {octprofile.__version__}\n", "")
    code, out, err = run("compare", "resnet20_cifar", "--format", "bogus", env={"COLUMNS": columns})
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "'bogus' is not one of" in err


def test_a_table_at_columns_0_is_printed_as_without_columns():
    code, out, err = run("compare", "resnet20_cifar", *FAST, env={"COLUMNS": "0"})
    assert code == 0, err
    assert "params equal · counts agree" in out and "┃" in out
    assert max(len(line) for line in out.splitlines()) <= 220


# ---- 5. SIGTERM ends as Ctrl-C does, with exit 143 ----

def read_until(stream, needle: str) -> str:
    """Read lines from a child's stderr until one contains ``needle``; return everything read."""
    seen = ""
    for line in iter(stream.readline, ""):
        seen += line
        if needle in line:
            return seen
    pytest.fail(f"the process ended before {needle!r}: {seen}")


def test_sigterm_during_report_keeps_the_previous_files_and_exits_143(tmp_path):
    old = {"sweep.csv": "old csv\n", "sweep.md": "old md\n", "published.md": "old published\n"}
    for name, text in old.items():
        (tmp_path / name).write_text(text)
    child = process("report", "--output-dir", str(tmp_path), "--model", "resnet20_cifar", "--model", "resnet50",
                    "--model", "resnet101", "--model", "resnet152", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True)
    seen = read_until(child.stderr, "sweep resnet20_cifar")  # its plot is staged by now
    assert any(path.name.endswith(".tmp") for path in tmp_path.iterdir())
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 143, seen + err
    lines = messages(seen + err)  # e.g. "terminated after counting 2 of 5 α values"
    assert len(lines) == 1 and lines[0].startswith("terminated") and out == "", lines
    assert len(set((seen + err).splitlines())) == len((seen + err).splitlines())  # no line printed twice
    assert {path.name: path.read_text() for path in tmp_path.iterdir()} == old  # no temporary file left


def test_sigterm_while_timing_shows_what_finished_and_exits_143(tmp_path):
    target = tmp_path / "compare.csv"
    target.write_text("old\n")
    child = process("compare", "resnet20_cifar", "--no-fvcore", "--rounds", "1000", "--threads", "1",
                    "--output", str(target), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = read_until(child.stderr, "timing round")
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 143, seen + err
    lines = messages(seen + err)
    assert len(lines) == 1 and lines[0].startswith("terminated while timing, after "), lines
    assert len(set((seen + err).splitlines())) == len((seen + err).splitlines())  # no line printed twice
    assert out.startswith("model,") and "resnet20_cifar,vanilla" in out  # the partial result, on stdout
    assert target.read_text() == "old\n" and [path.name for path in tmp_path.iterdir()] == ["compare.csv"]


# ---- 6. a missing output directory is created; one that cannot be is refused in one line ----

def test_report_creates_a_missing_output_dir(tmp_path, monkeypatch):
    from octprofile.studies import reports

    # the published figures are not under test here, and counting all of them takes a minute: one is enough
    monkeypatch.setattr(reports, "PUBLISHED", [e for e in reports.PUBLISHED if e.model == "mobilenet_v1"][:1])
    output_dir = tmp_path / "new" / "reports"
    result = invoke("report", "--output-dir", output_dir, "--model", "resnet20_cifar", "--no-plots")
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in output_dir.iterdir()) == ["published.md", "sweep.csv", "sweep.md"]
    assert f"wrote {output_dir / 'sweep.csv'}" in result.stderr


@pytest.mark.parametrize("command, made", [
    (("compare", "resnet20_cifar", *FAST, "--output", "{dir}/a/b/compare.csv"), "a/b/compare.csv"),
    (("sweep", "resnet20_cifar", "--alphas", "0,0.5", *FAST, "--plot", "{dir}/plots/sweep.svg"), "plots/sweep.svg"),
    (("check", "resnet20_cifar", "--no-fvcore", "--no-cross-checks", "--junit", "{dir}/ci/junit/check.xml"),
     "ci/junit/check.xml"),
], ids=["output", "plot", "junit"])
def test_a_missing_parent_of_an_output_file_is_created(tmp_path, command, made):
    result = invoke(*(part.format(dir=tmp_path) for part in command))
    assert result.exit_code == 0, result.output
    assert (tmp_path / made).stat().st_size > 0
    assert f"wrote {tmp_path / made}" in result.stderr


def test_a_directory_made_for_a_failed_run_is_removed_again(tmp_path, monkeypatch):
    fail_under(tmp_path, monkeypatch, "fsync", errno.ENOSPC)
    result = invoke("report", "--output-dir", tmp_path / "new" / "reports", "--model", "resnet20_cifar", "--no-plots")
    assert result.exit_code == ENVIRONMENT_EXIT, result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command, message", [
    (("report", "--output-dir", "{dir}/file.txt", "--no-plots"), "error: --output-dir '{dir}/file.txt' is not a "
                                                                 "directory"),
    (("report", "--output-dir", "{dir}/file.txt/reports", "--no-plots"),
     "error: cannot create output directory '{dir}/file.txt/reports': '{dir}/file.txt' is not a directory"),
    (("compare", "resnet20_cifar", *FAST, "--output", "{dir}/file.txt/a/out.csv"),
     "error: cannot create output directory '{dir}/file.txt/a': '{dir}/file.txt' is not a directory"),
    (("models", "--output", "{dir}/file.txt/out.csv"), "error: output directory '{dir}/file.txt' is not a directory"),
], ids=["report-file", "report-under-a-file", "output-under-a-file", "output-in-a-file"])
def test_a_directory_that_cannot_be_made_is_refused_in_one_line(tmp_path, command, message):
    (tmp_path / "file.txt").write_text("keep\n")
    result = invoke(*(part.format(dir=tmp_path) for part in command))
    assert result.exit_code == 2, result.output
    assert messages(result.stderr) == [message.format(dir=tmp_path)]
    assert [path.name for path in tmp_path.iterdir()] == ["file.txt"]
