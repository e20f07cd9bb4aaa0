"""What octprofile writes: through symlinks, only regular files, modes kept or from the umask, one file per
output, multi-file outputs all-or-nothing, no temporary files left behind (the README's "What octprofile writes")."""

import os
import stat

import pytest
from typer.testing import CliRunner

from octprofile.cli import app
from octprofile.errors import OutputPathError
from octprofile.report import files as files_module
from octprofile.report.files import atomic_write

runner = CliRunner()
FAST = ["--no-time", "--no-fvcore"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    """Set a umask for one test and put the old one back."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664), (0o077, 0o600)])
def test_new_file_mode_follows_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    target = tmp_path / "models.csv"
    result = invoke("models", "--output", target)
    assert result.exit_code == 0, result.output
    assert mode(target) == expected and "name" in target.read_text()


@pytest.mark.parametrize("existing", [0o644, 0o604, 0o660])
def test_existing_file_keeps_its_mode(tmp_path, umask, existing):
    umask(0o077)
    target = tmp_path / "models.csv"
    target.write_text("old\n")
    target.chmod(existing)
    assert invoke("models", "--output", target).exit_code == 0
    assert mode(target) == existing and target.read_text() != "old\n"


def test_symlink_is_written_through_and_kept(tmp_path):
    target = tmp_path / "data" / "real.csv"
    target.parent.mkdir()
    target.write_text("old\n")
    target.chmod(0o640)
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    result = invoke("models", "--output", link)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("name,") and mode(target) == 0o640
    assert f"wrote {link}" in result.output
    assert sorted(p.name for p in target.parent.iterdir()) == ["real.csv"]  # no temporary file beside it


def test_symlink_to_a_missing_file_creates_the_target(tmp_path):
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "new.csv")
    assert invoke("models", "--output", link).exit_code == 0
    assert link.is_symlink() and (tmp_path / "new.csv").read_text().startswith("name,")


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    result = invoke("models", "--output", fifo)
    assert result.exit_code == 2 and "not a regular file" in result.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    link = tmp_path / "link.csv"  # a symlink to a FIFO (as /dev/stdout can be) is refused as well
    link.symlink_to(fifo)
    result = invoke("models", "--output", link)
    assert result.exit_code == 2 and "not a regular file" in result.output
    assert link.is_symlink() and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_read_only_file_is_refused_even_for_root(tmp_path):
    target = tmp_path / "frozen.csv"
    target.write_text("keep me\n")
    target.chmod(0o444)
    result = invoke("models", "--output", target)
    assert result.exit_code == 2 and "read-only" in result.output and len(result.output.strip().splitlines()) == 1
    assert target.read_text() == "keep me\n" and mode(target) == 0o444


def test_directory_is_refused(tmp_path):
    result = invoke("models", "--output", tmp_path)
    assert result.exit_code == 2 and "is a directory" in result.output


def test_one_path_for_output_and_plot_is_refused_before_any_work(tmp_path, monkeypatch):
    from octprofile.study import Study

    monkeypatch.setattr(Study, "sweep", lambda *a, **k: pytest.fail("ran the sweep before refusing the paths"))
    target = tmp_path / "out.png"
    result = invoke("sweep", "resnet20_cifar", "--alphas", "0,0.5", *FAST, "--format", "csv",
                    "--output", target, "--plot", target)
    assert result.exit_code == 2 and "--output and --plot both name" in result.output
    link = tmp_path / "link.png"  # the same file through a symlink is the same file
    link.symlink_to(target)
    result = invoke("sweep", "resnet20_cifar", "--alphas", "0,0.5", *FAST, "--format", "csv",
                    "--output", link, "--plot", target)
    assert result.exit_code == 2 and "both name" in result.output
    assert not target.exists()


def test_one_path_for_check_output_and_junit_is_refused(tmp_path):
    target = tmp_path / "check.xml"
    link = tmp_path / "link.xml"
    link.symlink_to(target)
    result = invoke("check", "resnet20_cifar", "--no-fvcore", "--format", "json", "--output", link, "--junit", target)
    assert result.exit_code == 2 and "both name" in result.output and not target.exists()


def test_output_and_plot_are_written_together_or_not_at_all(tmp_path, monkeypatch):
    from octprofile.studies import sweep as use_case  # sweep_plot lives with its use case since the cli split

    output, plot = tmp_path / "sweep.csv", tmp_path / "sweep.svg"
    result = invoke("sweep", "resnet20_cifar", "--alphas", "0,0.5", *FAST, "--output", output, "--plot", plot)
    assert result.exit_code == 0, result.output
    assert output.read_text().startswith("model,") and plot.read_text().lstrip().startswith("<")
    output.write_text("old csv\n")
    plot.write_text("old svg\n")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(use_case, "sweep_plot", interrupted)  # the CSV is staged by then
    result = invoke("sweep", "resnet20_cifar", "--alphas", "0,0.5", *FAST, "--output", output, "--plot", plot)
    assert result.exit_code == 130 and "wrote" not in result.output
    assert output.read_text() == "old csv\n" and plot.read_text() == "old svg\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.csv", "sweep.svg"]


def test_interrupted_report_keeps_the_previous_files_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    import octprofile.studies.reports as generate

    old = {"sweep.csv": "old csv\n", "sweep.md": "old md\n", "published.md": "old published\n"}
    for name, text in old.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "sweep.md").chmod(0o600)
    staged = []
    real_write = files_module.AtomicFiles.write

    def spy(self, path, content):
        staged.append(path)
        return real_write(self, path, content)

    def interrupted(rows):
        assert any(tmp.name.endswith(".tmp") for tmp in tmp_path.iterdir())  # sweep.csv is staged
        raise KeyboardInterrupt

    monkeypatch.setattr(files_module.AtomicFiles, "write", spy)
    monkeypatch.setattr(generate, "_sweep_markdown", interrupted)
    result = invoke("report", "--output-dir", tmp_path, "--model", "resnet20_cifar", "--no-plots")
    assert result.exit_code == 130 and "wrote" not in result.output and staged
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == old

    monkeypatch.undo()
    # the published figures are not under test here, and counting all of them takes half a minute: one is enough
    # (tests/cli/test_cli.py's slow test_report_regenerates_the_committed_count_files checks them all)
    monkeypatch.setattr(generate, "PUBLISHED", [e for e in generate.PUBLISHED if e.model == "mobilenet_v1"][:1])
    result = invoke("report", "--output-dir", tmp_path, "--model", "resnet20_cifar", "--no-plots")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["published.md", "sweep.csv", "sweep.md"]
    assert (tmp_path / "sweep.csv").read_text().startswith("model,") and mode(tmp_path / "sweep.md") == 0o600


def test_report_refuses_an_unwritable_target_before_any_work(tmp_path, monkeypatch):
    from octprofile.studies import reports

    monkeypatch.setattr(reports, "sweep", lambda *a, **k: pytest.fail("ran the sweep before checking the files"))
    os.mkfifo(tmp_path / "sweep.md")
    result = invoke("report", "--output-dir", tmp_path, "--model", "resnet20_cifar", "--no-plots")
    assert result.exit_code == 2 and "not a regular file" in result.output


def test_interrupt_while_writing_leaves_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    target.write_text("old\n")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(files_module.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, "new\n")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_write_all_is_all_or_nothing(tmp_path):
    (tmp_path / "a.txt").write_text("old a\n")
    (tmp_path / "b.txt").write_text("old b\n")
    (tmp_path / "b.txt").chmod(0o444)
    with pytest.raises(OutputPathError, match="read-only"):
        files_module.atomic_write_all({tmp_path / "a.txt": "new a\n", tmp_path / "b.txt": "new b\n"})
    assert (tmp_path / "a.txt").read_text() == "old a\n" and len(list(tmp_path.iterdir())) == 2
    (tmp_path / "b.txt").chmod(0o644)
    written = files_module.atomic_write_all({tmp_path / "a.txt": "new a\n", tmp_path / "b.txt": b"new b\n"})
    assert written == [tmp_path / "a.txt", tmp_path / "b.txt"]
    assert (tmp_path / "a.txt").read_text() == "new a\n" and (tmp_path / "b.txt").read_text() == "new b\n"
    with pytest.raises(OutputPathError, match="written twice"):
        files_module.atomic_write_all({tmp_path / "a.txt": "x", str(tmp_path / "a.txt"): "y"})
    assert (tmp_path / "a.txt").read_text() == "new a\n"
