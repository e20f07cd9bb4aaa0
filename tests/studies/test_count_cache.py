"""The count cache (analysis/count_cache.py): a rerun reads what counting found instead of building and counting
again, with the same output; every option that changes a count changes the key; a bad entry is a miss and a cache
that cannot be written never fails the command. conftest turns the cache off for every other test."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from octprofile.analysis import count_cache
from octprofile.cli import app
from octprofile.nn import FULL, OctDesign
from octprofile.studies import variants
from octprofile.study import Study, StudyOptions

runner = CliRunner()
COMPARE = ["compare", "resnet20_cifar", "--alpha", "0.5", "--no-time"]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """The cache on, in a folder of this test's own."""
    folder = tmp_path / "counts"
    monkeypatch.delenv("OCTPROFILE_NO_CACHE", raising=False)
    monkeypatch.setenv("OCTPROFILE_CACHE_DIR", str(folder))
    return folder


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def nothing_built(monkeypatch):
    """From now on, building or counting a model fails the test: a hit must do neither."""
    def refuse(*args, **kwargs):
        raise AssertionError("a cached variant was built or counted again")

    monkeypatch.setattr(variants.Subject, "build", refuse)
    monkeypatch.setattr(variants, "count_model", refuse)


def test_a_hit_gives_the_rows_of_a_miss_and_says_so_in_the_footer(cache_dir, monkeypatch):
    miss = invoke(*COMPARE, "--format", "json")
    assert sorted(path.name.split("-")[1] for path in cache_dir.iterdir()) == ["a0", "a0.5"]  # one entry per variant
    assert "cache" not in miss.stdout + miss.stderr
    nothing_built(monkeypatch)
    hit = invoke(*COMPARE, "--format", "json")
    assert json.loads(hit.stdout) == json.loads(miss.stdout) and hit.stdout == miss.stdout
    assert "counting oct α=0.5 (cached)" in hit.stderr
    table = invoke(*COMPARE)
    line = next(line for line in table.stdout.splitlines() if "from the cache" in line)
    assert line.startswith(f"counts from the cache ({count_cache.shown(cache_dir)}, written 20")
    assert "fvcore's too" in line
    assert line.endswith("--no-cache recounts")


def test_fvcore_asked_after_a_run_without_it_is_counted_and_kept(cache_dir, monkeypatch):
    without = invoke(*COMPARE, "--no-fvcore", "--format", "json")
    fresh = invoke(*COMPARE, "--no-cache", "--format", "json")
    mixed = invoke(*COMPARE)  # counts from the cache, fvcore's counted now and kept
    assert "fvcore counted now for vanilla, oct" in mixed.stdout
    nothing_built(monkeypatch)
    assert invoke(*COMPARE, "--format", "json").stdout == fresh.stdout
    assert invoke(*COMPARE, "--no-fvcore", "--format", "json").stdout == without.stdout


def test_no_cache_neither_reads_nor_writes(cache_dir, monkeypatch):
    invoke(*COMPARE, "--no-fvcore", "--no-cache")
    assert not cache_dir.exists()
    invoke(*COMPARE, "--no-fvcore")
    entries = {path: path.read_bytes() for path in cache_dir.iterdir()}
    counted = []
    real = variants.count_variant
    monkeypatch.setattr(variants, "count_variant", lambda *a, **k: counted.append(a[1]) or real(*a, **k))
    result = invoke(*COMPARE, "--no-fvcore", "--no-cache")
    assert counted == ["vanilla", "oct"] and "cache" not in result.stdout
    assert {path: path.read_bytes() for path in cache_dir.iterdir()} == entries


def test_sweep_and_ablate_read_the_cache_too(cache_dir, monkeypatch):
    sweep = ["sweep", "resnet20_cifar", "--no-time", "--no-fvcore"]
    first = invoke(*sweep, "--alphas", "0,0.25", "--format", "json")
    more = invoke(*sweep, "--alphas", "0,0.25,0.5")
    assert "counts of vanilla, oct-0.25 from the cache" in more.stdout  # oct-0.5 was counted now
    ablate = ["ablate", "resnet20_cifar", "--alpha", "0.5", "--variants", "no-hl", "--no-time", "--no-fvcore"]
    fresh = invoke(*ablate, "--no-cache", "--format", "json")
    assert "counts of vanilla, full from the cache" in invoke(*ablate).stdout  # the sweep's α=0.5 is full's
    nothing_built(monkeypatch)
    assert invoke(*sweep, "--alphas", "0,0.25", "--format", "json").stdout == first.stdout
    assert invoke(*ablate, "--format", "json").stdout == fresh.stdout
    assert "counts from the cache" in invoke(*ablate).stdout


def test_a_corrupt_entry_is_a_miss_and_is_replaced(cache_dir):
    first = invoke(*COMPARE, "--no-fvcore", "--format", "json")
    entries = sorted(cache_dir.iterdir())
    entries[0].write_text('{"key": ')  # cut short
    entries[1].write_bytes(b"\xff\xfe not json")
    again = invoke(*COMPARE, "--no-fvcore")
    assert "from the cache" not in again.stdout  # both counted again
    assert sorted(cache_dir.iterdir()) == entries and all(json.loads(p.read_text()) for p in entries)
    wrong = json.loads(entries[0].read_text())
    wrong["count"]["layers"][0]["no_such_field"] = 1  # decodes into nothing: a miss too
    entries[0].write_text(json.dumps(wrong))
    assert invoke(*COMPARE, "--no-fvcore", "--format", "json").stdout == first.stdout
    assert not [p for p in cache_dir.iterdir() if p.name.endswith(".tmp")]


def test_a_cache_that_cannot_be_written_costs_one_line_not_the_command(tmp_path, monkeypatch):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.delenv("OCTPROFILE_NO_CACHE", raising=False)
    monkeypatch.setenv("OCTPROFILE_CACHE_DIR", str(blocker / "counts"))  # under a file: no one can make it
    result = invoke(*COMPARE, "--no-fvcore")
    notes = [line for line in result.stdout.splitlines() if "cache" in line]
    assert len(notes) == 1 and notes[0].startswith("counts not cached: "), result.stdout
    assert "params equal" in result.stdout


def key_of(model: str, alpha: float, design: OctDesign = FULL, **options) -> str:
    study = Study(model, StudyOptions(**options))
    return study.count_cache.path(study.count_cache.key(alpha, design)).name


def test_the_key_changes_with_everything_that_changes_a_count(cache_dir):
    base = key_of("resnet20_cifar", 0.5)
    assert key_of("resnet20_cifar", 0.5, seed=3) == base  # weights change no count
    others = [key_of("resnet20_cifar", 0.25), key_of("resnet20_cifar", 0.5, OctDesign(hl=False)),
              key_of("resnet20_cifar", 0.5, OctDesign(low_multiple=8)), key_of("resnet20_cifar", 0.5, input_size=64),
              key_of("resnet20_cifar", 0.5, batch_size=2), key_of("resnet20_cifar", 0.5, placement="everywhere"),
              key_of("resnet56_cifar", 0.5), key_of("mobilenet_v2", 0.5, model_options={"width_mult": 0.5}),
              key_of("mobilenet_v2", 0.5)]
    assert len({base, *others}) == len(others) + 1
    # vanilla is the same model whatever the design
    assert key_of("resnet20_cifar", 0.0, OctDesign(hl=False)) == key_of("resnet20_cifar", 0.0)


def test_the_key_of_a_users_model_follows_its_files(cache_dir, tmp_path):
    helper, net = tmp_path / "cache_key_helper.py", tmp_path / "cache_key_net.py"
    helper.write_text("from torch import nn\n\nWIDTH = 8\n\ndef convs():\n"
                      "    return nn.Sequential(nn.Conv2d(3, WIDTH, 3), nn.Conv2d(WIDTH, 8, 3))\n")
    net.write_text("import cache_key_helper\n\ndef net():\n    return cache_key_helper.convs()\n")
    reference = f"{net}:net"
    first = key_of(reference, 0.5)
    assert key_of(reference, 0.5) == first
    helper.write_text(helper.read_text().replace("WIDTH = 8", "WIDTH = 16"))  # a file it imports, changed
    second = key_of(reference, 0.5)
    net.write_text(net.read_text() + "\n# a comment changes the file, so the key\n")
    assert len({first, second, key_of(reference, 0.5)}) == 3


def test_the_cache_is_off_when_asked_and_lives_where_it_is_told(cache_dir, monkeypatch, tmp_path):
    assert Study("resnet20_cifar").count_cache.directory == cache_dir
    assert Study("resnet20_cifar", StudyOptions(cache=False)).count_cache is None
    monkeypatch.setenv("OCTPROFILE_NO_CACHE", "1")
    assert Study("resnet20_cifar").count_cache is None
    monkeypatch.delenv("OCTPROFILE_NO_CACHE")
    monkeypatch.delenv("OCTPROFILE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert count_cache.cache_dir() == tmp_path / "xdg" / "octprofile" / "counts"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert count_cache.cache_dir() == tmp_path / "home" / ".cache" / "octprofile" / "counts"
