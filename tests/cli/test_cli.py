"""Every command through Typer's CliRunner: formats, round trips, exit codes, bad input."""

import csv
import io
import json
import re
from pathlib import Path

import pytest
from conftest import MNIST_FILE
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

from octprofile.cli import app
from octprofile.results import ABLATION_COLUMNS, COMPARE_COLUMNS, LAYER_COLUMNS, TRAINING_COLUMNS

runner = CliRunner()
FAST = ["--no-time", "--no-fvcore"]
REPORTS = Path(__file__).resolve().parents[2] / "reports"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_help_on_every_command():
    for command in ("models", "compare", "sweep", "layers", "blocks", "ablate", "check", "counters", "report",
                    "coverage", "train"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Example" in result.output


def test_models_lists_names_with_family_source_and_size():
    result = invoke("models", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    by_name = {r["name"]: r for r in rows}
    assert by_name["resnet50"]["source"] == "torchvision" and by_name["resnet20_cifar"]["input_size"] == "32"
    assert by_name["mobilenet_v1"]["source"] == "project"


def test_compare_table_has_units_and_verdict():
    result = invoke("compare", "resnet20_cifar", "--alpha", "0.5", *FAST)
    assert result.exit_code == 0, result.output
    assert "MMACs, analytic" in result.output and "params equal · counts agree" in result.output


@pytest.mark.parametrize("fmt, marker", [("csv", "resnet20_cifar,vanilla,0.0,32,1,"),
                                         ("json", '"model": "resnet20_cifar"'),
                                         # reading formats: compact columns, params in M
                                         ("markdown", "| resnet20_cifar | oct | 0.25 | full | 0.272 |"),
                                         ("latex", r"resnet20\_cifar & oct & 0.25 & full & 0.272 & ")])
def test_compare_formats(fmt, marker):
    result = invoke("compare", "resnet20_cifar", "--alpha", "0.25", "--format", fmt, *FAST)
    assert result.exit_code == 0, result.output
    assert marker in result.output


def test_csv_and_json_parse_back_to_the_same_numbers():
    as_csv = list(csv.DictReader(io.StringIO(invoke("compare", "resnet20_cifar", "--format", "csv", *FAST).stdout)))
    as_json = json.loads(invoke("compare", "resnet20_cifar", "--format", "json", *FAST).stdout)
    assert list(as_csv[0])[: len(COMPARE_COLUMNS)] == list(COMPARE_COLUMNS)
    for row_csv, row_json in zip(as_csv, as_json):
        assert int(row_csv["macs"]) == row_json["macs"] and int(row_csv["params"]) == row_json["params"]
        assert float(row_csv["mac_ratio"]) == row_json["mac_ratio"]
        # not measured: empty cell in CSV, null in JSON, never 0
        assert row_csv["latency_ms"] == "" and row_json["latency_ms"] is None and row_json["macs_fvcore"] is None


def test_compare_with_fvcore_and_timing():
    result = invoke("compare", "resnet20_cifar", "--alpha", "0.5", "--format", "json", "--rounds", "2",
                    "--threads", "1")
    assert result.exit_code == 0, result.output
    vanilla, octave = json.loads(result.stdout)
    assert octave["macs_fvcore"] == octave["macs"] and octave["flops_torch"] == 2 * octave["macs"]
    assert octave["latency_ms"] > 0 and octave["threads"] == 1 and octave["device"] == "cpu"
    assert vanilla["peak_memory_bytes"] > 0 and octave["peak_memory_bytes"] > 0
    assert octave["peak_memory_ratio"] == octave["peak_memory_bytes"] / vanilla["peak_memory_bytes"]
    # the context of every figure reaches the file: backend, preparation, machine, torch, rounds
    import torch

    for row in (vanilla, octave):
        assert row["backend"] == "eager" and row["prepare_s"] > 0 and row["dtype"] == "float32"
        assert row["torch_version"] == torch.__version__ and row["device_name"] and row["cpu_isa"]
        assert row["timing_rounds"] == 2 and "timing_warnings" in row


def test_several_backends_in_one_compare():
    result = invoke("compare", "resnet20_cifar", "--backend", "plain,eager", "--format", "csv", "--rounds", "2",
                    "--threads", "1", "--no-fvcore")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["backend"], r["variant"]) for r in rows] == [
        ("plain", "vanilla"), ("plain", "oct"), ("eager", "vanilla"), ("eager", "oct")]
    assert {r["best_backend"] for r in rows} <= {"plain", "eager"} and all(float(r["best_latency_ratio"]) > 0
                                                                         for r in rows)
    table = invoke("compare", "resnet20_cifar", "--backend", "plain", "--backend", "eager", "--rounds", "1",
                   "--threads", "1", "--no-fvcore")
    assert table.exit_code == 0, table.output
    assert re.search(r"plain\s+┃\s+eager", table.output)  # one latency column per backend
    assert "best vs best: oct α=0.5 on" in table.output
    # the verdict judges best vs best, whatever the timing says (a ratio, ≈ vanilla, or inconclusive on a busy machine)
    verdict = " ".join(table.output[table.output.index("params equal"):].split("MACs: multiply")[0].split())
    assert re.search(r"latency (inconclusive |≈ vanilla )?best vs best", verdict), verdict


def test_cli_backend_names_are_the_librarys():
    from octprofile.cli.options import BACKEND_NAMES
    from octprofile.runtime.prepare import BACKENDS

    assert BACKEND_NAMES == tuple(BACKENDS)


def test_output_file_is_written(tmp_path):
    target = tmp_path / "out.csv"
    result = invoke("compare", "resnet20_cifar", "--output", target, *FAST)
    assert result.exit_code == 0, result.output
    assert target.read_text().startswith("model,variant,alpha")
    assert list(tmp_path.iterdir()) == [target]


def test_sweep_rows_and_plot(tmp_path):
    plot = tmp_path / "sweep.svg"
    result = invoke("sweep", "resnet20_cifar", "--alphas", "0.5,0.25", "--format", "json", "--plot", plot, *FAST)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["alpha"] for r in rows] == [0.0, 0.25, 0.5]
    assert plot.read_text().lstrip().startswith("<?xml")


def test_layers_columns_and_paths():
    result = invoke("layers", "resnet20_cifar", "--alpha", "0.5", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0])[: len(LAYER_COLUMNS)] == list(LAYER_COLUMNS)
    octave = [r for r in rows if r["kind"] == "octconv"]
    assert octave and all(int(r["macs"]) == sum(int(r[f"macs_{p}"] or 0) for p in ("hh", "hl", "lh", "ll"))
                          for r in octave)
    vanilla = [r for r in rows if r["kind"] != "octconv"]
    assert all(r["macs_hh"] == "" for r in vanilla)


def table_rows(output: str) -> list[list[str]]:
    """The body cells of a Rich table, row by row."""
    return [[cell.strip() for cell in line.strip("│").split("│")] for line in output.splitlines()
            if line.startswith("│")]


def test_layers_table():
    result = invoke("layers", "resnet20_cifar", "--wide")  # α defaults to 0.5, as in compare
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines() if line.strip()}
    # layer1.1.conv1 is a middle layer: 0.5 -> 0.5, stride 1, the one-layer theory ratio 1 - 3/4 a (2 - a)
    assert rows["layer1.1.conv1"][1:3] == ["0.5→0.5", "1"]
    assert rows["layer1.1.conv1"][4] == rows["layer1.1.conv1"][6] == "0.438"
    assert rows["layer1.1.conv1"][-3:] == ["8×32×32", "+", "8×16×16"]  # 8 of 16 channels at half size
    assert rows["fc"][7:] == ["0.0", "0.010", "650", "10"]  # a vanilla layer has no path MACs
    total = rows["total"]
    as_csv = list(csv.DictReader(io.StringIO(invoke("layers", "resnet20_cifar", "--format", "csv").stdout)))
    assert total[1] == f"{sum(int(r['macs']) for r in as_csv) / 1e6:.2f}"  # empty α and stride cells


def test_layers_rollup_by_depth():
    rows = list(csv.DictReader(io.StringIO(invoke("layers", "resnet50", "--depth", "1", "--format", "csv").stdout)))
    assert [r["layer"] for r in rows] == ["conv1", "layer1", "layer2", "layer3", "layer4", "fc"]
    every = list(csv.DictReader(io.StringIO(invoke("layers", "resnet50", "--format", "csv").stdout)))
    layer2 = [r for r in every if r["layer"].startswith("layer2.")]
    assert int(rows[2]["macs"]) == sum(int(r["macs"]) for r in layer2)
    assert int(rows[2]["macs_hl"]) == sum(int(r["macs_hl"] or 0) for r in layer2)
    assert sum(float(r["share_of_macs"]) for r in rows) == pytest.approx(1.0)


def test_check_passes():
    result = invoke("check", "resnet20_cifar", "mobilenet_v1", "--alpha", "0.25", "--alpha", "0.5", "--no-fvcore")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.output)
    assert [(cells[0], cells[1], cells[-1]) for cells in rows] == [
        ("resnet20_cifar", "0.25", "ok"), ("resnet20_cifar", "0.5", "ok"),
        ("mobilenet_v1", "0.25", "ok"), ("mobilenet_v1", "0.5", "ok")]


def test_check_fails_with_a_table(monkeypatch):
    monkeypatch.setattr(FlopCounterMode, "get_total_flops", lambda self: 0)
    result = invoke("check", "resnet20_cifar", "--no-fvcore")
    assert result.exit_code == 1
    assert table_rows(result.output)[0][-1].startswith("FAIL: FlopCounterMode 0")


def test_custom_model_compare(mnist_file):
    result = invoke("compare", mnist_file, "--format", "json", *FAST)
    assert result.exit_code == 0, result.output
    vanilla, octave = json.loads(result.stdout)
    assert vanilla["input_size"] == 28 and octave["params"] == vanilla["params"]


@pytest.mark.parametrize("command", [["compare", "--rounds", "1", "--threads", "1"], ["sweep", "--no-time"],
                                     ["layers", "--alpha", "0.5"], ["check"]])
def test_a_custom_models_code_runs_once_per_command(tmp_path, command):
    counter = tmp_path / "calls.txt"
    source = tmp_path / "counted.py"
    source.write_text(
        "from pathlib import Path\n"
        "from torch import nn\n"
        f"Path({str(counter)!r}).open('a').write('import\\n')\n"
        "def net():\n"
        f"    Path({str(counter)!r}).open('a').write('factory\\n')\n"
        "    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1),\n"
        "                          nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 4, 3, padding=1))\n"
        "    model.input_size = 16\n"
        "    return model\n")
    result = invoke(command[0], f"{source}:net", *command[1:])
    assert result.exit_code == 0, result.output
    assert counter.read_text().splitlines() == ["import", "factory"]


def test_an_unexpected_failure_is_an_internal_error_not_bad_input(monkeypatch):
    from octprofile.studies import variants as study

    def broken(*args, **kwargs):
        raise ValueError("'quoted' detail")

    monkeypatch.setattr(study, "count_model", broken)
    result = invoke("compare", "resnet20_cifar", *FAST)
    assert result.exit_code == 3
    assert "internal error: ValueError: 'quoted' detail" in result.output and "--debug" in result.output
    assert "Traceback" not in result.output


def test_user_errors_keep_their_quotes():
    result = invoke("compare", "resnet5", *FAST)
    assert result.exit_code == 2
    assert result.output.startswith("error: unknown model 'resnet5'; did you mean resnet50")


@pytest.mark.slow  # every registered backbone at five α
def test_report_regenerates_the_committed_count_files(tmp_path):
    # all backbones take minutes to sweep: regenerate three, whose lines must be in the committed files
    models = ("resnet18", "mobilenet_v1", "resnet20_cifar")
    result = invoke("report", "--output-dir", tmp_path, "--no-plots", *(x for m in models for x in ("--model", m)))
    assert result.exit_code == 0, result.output
    for name in ("sweep.csv", "sweep.md"):
        committed = set((REPORTS / name).read_text().splitlines())
        fresh = (tmp_path / name).read_text().splitlines()
        assert len(fresh) > 5 * len(models)
        assert [line for line in fresh if line not in committed] == [], f"reports/{name} is stale"
    assert (tmp_path / "published.md").read_text() == (REPORTS / "published.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["compare", "resnet50", "--alpha", "abc"], "not a number"),
    (["compare", "resnet50", "--alpha", "nan"], "outside [0, 1)"),
    (["compare", "resnet50", "--alpha", "1"], "outside [0, 1)"),
    (["compare", "resnet50", "--alpha", "-0.1"], "outside [0, 1)"),
    (["sweep", "resnet50", "--alphas", "0,0.5,x"], "'x'"),
    (["sweep", "resnet50", "--alphas", "0,,0.5"], "empty element"),
    (["compare", "resnet5"], "did you mean"),
    (["compare", "resnet50", "--input-size", "0"], "--input-size must be a positive integer"),
    (["compare", "examples/mnist_net.py:mnist_net", "--input-size", "8", "--no-time"], "smallest that runs is 28"),
    (["compare", "resnet50", "--batch-size", "-2"], "--batch-size must be a positive integer"),
    (["compare", "resnet50", "--device", "tpu"], "tpu"),
    (["compare", "resnet50", "--format", "xml"], "xml"),
    (["compare", "resnet50", "--output", "/dev/null/out.csv", "--no-time"], "'/dev/null' is not a directory"),
    (["compare", "missing_file.py:net"], "does not exist"),
    (["compare", "examples/mnist_net.py:nothing"], "has no attribute"),
    (["compare", "resnet50", "--width-mult", "0.5"], "does not take option"),
    (["report", "--output-dir", "/dev/null"], "--output-dir '/dev/null' is not a directory"),
    (["report", "--output-dir", "/dev/null/reports"], "cannot create output directory '/dev/null/reports'"),
    (["compare", "resnet152", "--input-size", "2048", "--batch-size", "512", "--no-fvcore"], "lower --batch-size"),
    (["compare", "resnet152", "--input-size", "8192", "--no-time"], "(--no-fvcore)"),
    (["compare", "resnet20_cifar", "--backend", "turbo"], "--backend 'turbo' is not one of plain, eager"),
    (["compare", "resnet20_cifar", "--backend", "eager,all"], "--backend all stands alone"),
    (["compare", "resnet20_cifar", "--backend", "eager", "--backend", "eager"], "repeats a backend"),
    (["compare", "resnet20_cifar", "--downsample", "blur"], "blur"),
    (["ablate", "resnet20_cifar", "--variants", "full,no-xy"], "unknown OctConv design 'no-xy'"),
    (["ablate", "resnet20_cifar", "--alpha", "0"], "an ablation needs an α above 0"),
    (["train", "resnet20_cifar", "--memory", "12XB"], "memory '12XB' is not a size like 16GiB"),
    (["train", "resnet20_cifar", "--alpha", "0"], "--alpha 0 is the vanilla model"),
    (["train", "resnet20_cifar", "--optimizer", "adam"], "--optimizer 'adam' is not one of sgd, adamw"),
    (["train", "resnet20_cifar", "--rounds", "0"], "--rounds must be a positive integer"),
    # the small MNIST net: the same refusal as a registered model's, a third of the counting
    (["train", "examples/mnist_net.py:mnist_net", "--memory", "64MiB", "--batch-size", "4096"],
     "the largest batch that fits is"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_cuda_without_gpu_is_refused():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = invoke("compare", "resnet20_cifar", "--device", "cuda")
    assert result.exit_code == 2 and "no CUDA GPU" in result.output


def test_failed_run_never_replaces_an_existing_file(tmp_path):
    target = tmp_path / "keep.csv"
    target.write_text("precious\n")
    result = invoke("compare", "resnet50", "--alpha", "2", "--output", target, *FAST)
    assert result.exit_code == 2 and target.read_text() == "precious\n"


def test_ctrl_c_during_a_sweep_prints_what_finished_and_exits_130(monkeypatch, tmp_path):
    from octprofile.studies import variants as study

    real_count = study.count_model
    calls = []

    def interrupt_on_third(model, shape, **kwargs):
        calls.append(shape)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_count(model, shape, **kwargs)

    monkeypatch.setattr(study, "count_model", interrupt_on_third)
    target = tmp_path / "sweep.csv"
    result = invoke("sweep", "resnet20_cifar", "--alphas", "0,0.25,0.5", "--output", target, *FAST)
    assert result.exit_code == 130
    assert "interrupted after counting 2 of 3" in result.output and "0.25" in result.stdout
    assert not target.exists() and list(tmp_path.iterdir()) == []


def _interrupt_nth_count(monkeypatch, n):
    from octprofile.studies import variants as study

    real_count, calls = study.count_model, []

    def count(model, shape, **kwargs):
        calls.append(shape)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real_count(model, shape, **kwargs)

    monkeypatch.setattr(study, "count_model", count)


@pytest.mark.parametrize("fmt", ["csv", "json", "markdown"])
def test_ctrl_c_gives_what_finished_in_the_format_asked_and_says_it_is_partial(monkeypatch, fmt):
    _interrupt_nth_count(monkeypatch, 3)
    result = invoke("sweep", "resnet20_cifar", "--alphas", "0,0.25,0.5", "--format", fmt, *FAST)
    assert result.exit_code == 130
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert [float(row["alpha"]) for row in rows] == [0.0, 0.25]
    elif fmt == "json":
        assert [row["alpha"] for row in json.loads(result.stdout)] == [0.0, 0.25]
    else:
        assert "PARTIAL: interrupted after counting 2 of 3" in result.stdout  # in the caption
        assert "| 0.5 " not in result.stdout
    assert "partial result above is all that finished" in result.stderr
    assert "Traceback" not in result.output


def test_ctrl_c_while_timing_keeps_the_rounds_every_variant_finished(monkeypatch):
    from torch.utils import benchmark

    real, calls = benchmark.Timer.blocked_autorange, []

    def measure(timer, *args, **kwargs):
        calls.append(1)
        if len(calls) == 6:  # two variants: rounds 1 and 2 complete, round 3 half done
            raise KeyboardInterrupt
        return real(timer, *args, **kwargs)

    monkeypatch.setattr(benchmark.Timer, "blocked_autorange", measure)
    result = invoke("compare", "resnet20_cifar", "--alpha", "0.5", "--rounds", "4", "--threads", "1",
                    "--backend", "plain", "--no-fvcore", "--format", "json")
    assert result.exit_code == 130, result.output
    rows = json.loads(result.stdout)
    assert [row["variant"] for row in rows] == ["vanilla", "oct"]
    assert all(row["latency_ms"] > 0 for row in rows)
    assert "interrupted while timing, after 2 of 4 rounds" in result.stderr


def test_ctrl_c_in_python_raises_study_interrupted_with_the_finished_rounds(monkeypatch):
    from torch.utils import benchmark

    from octprofile.runtime.timing import TimingOptions
    from octprofile.study import Study, StudyInterrupted

    real, calls = benchmark.Timer.blocked_autorange, []

    def measure(timer, *args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(timer, *args, **kwargs)

    monkeypatch.setattr(benchmark.Timer, "blocked_autorange", measure)
    options = TimingOptions(rounds=3, threads=1, backends=("plain",), warmup=1, min_run_time=0.001)
    with pytest.raises(StudyInterrupted) as stopped:
        Study("resnet20_cifar").compare(0.5, fvcore=False, timing=options)
    partial = stopped.value.result
    assert partial.timed.rounds == 2 and stopped.value.timing.options.rounds == 2
    assert any("partial timing" in warning for warning in partial.timed.warnings)
    assert len(stopped.value.timing.timing("oct").samples_ms) == 2


def test_readme_documents_every_output_column():
    readme = (REPORTS.parent / "README.md").read_text()
    table = readme[readme.index("## Output columns"):readme.index("`layers` writes")]
    documented = set(re.findall(r"`([a-z_]+)`", table))
    assert set(COMPARE_COLUMNS) <= documented, set(COMPARE_COLUMNS) - documented
    assert ", ".join(LAYER_COLUMNS) in " ".join(readme.split())
    training = readme[readme.index("### `train` columns"):]
    training = training[:training.index("\n## ")]
    documented = set(re.findall(r"`([a-z_]+)`", training))
    assert set(TRAINING_COLUMNS) <= documented, set(TRAINING_COLUMNS) - documented


def test_train_formats_and_plot(tmp_path, mnist_file):
    plot = tmp_path / "train.svg"  # the small MNIST net: a custom model trains as a registered one does
    result = invoke("train", mnist_file, "--alpha", "0.5", "--batch-size", "2", "--no-measure", "--memory",
                    "32MiB", "--format", "csv", "--plot", plot)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == list(TRAINING_COLUMNS) and [r["variant"] for r in rows] == ["vanilla", "oct"]
    assert all(int(r["train_flops_torch"]) == 2 * int(r["train_macs"]) for r in rows)
    assert rows[1]["step_ms"] == "" and int(rows[1]["saved_low_bytes"]) > 0 and plot.read_text().startswith("<?xml")
    markdown = invoke("train", mnist_file, "--batch-size", "2", "--no-measure", "--memory", "32MiB",
                      "--format", "markdown")
    assert markdown.exit_code == 0 and "| peak training memory (MiB) |" in markdown.stdout


def test_piped_output_honours_columns(monkeypatch):
    """In process: the console built as ``cli/base.py`` builds it at import (a process reading COLUMNS at start is
    tests/cli/test_environment.py's, with COLUMNS=0)."""
    import sys

    from octprofile.cli import base
    from octprofile.cli.streams import console_width

    monkeypatch.setenv("COLUMNS", "60")
    assert console_width(sys.stdout) == 60
    monkeypatch.setattr(base, "out", base._Console(width=console_width(sys.stdout)))
    result = invoke("compare", "resnet20_cifar", *FAST)
    assert result.exit_code == 0, result.output
    assert "params equal" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 60


def test_ablate_table_and_csv():
    result = invoke("ablate", "resnet20_cifar", "--alpha", "0.125", *FAST)
    assert result.exit_code == 0, result.output
    for variant in ("full", "no-hl", "no-lh", "no-exchange", "strided"):
        assert f"│ {variant} " in result.output
    assert "params = vanilla − dropped paths · counts agree" in result.output
    as_csv = list(csv.DictReader(io.StringIO(invoke("ablate", "resnet20_cifar", "--variants", "no-hl+strided",
                                                    "--format", "csv", *FAST).stdout)))
    assert list(as_csv[0]) == list(ABLATION_COLUMNS)
    assert [row["variant"] for row in as_csv] == ["vanilla", "full", "no-hl+strided"]
    assert int(as_csv[2]["params"]) == int(as_csv[0]["params"]) - int(as_csv[2]["params_dropped"])


def test_design_options_reach_compare_layers_and_check():
    result = invoke("compare", "resnet20_cifar", "--no-hl", "--no-lh", *FAST)
    assert result.exit_code == 0, result.output
    assert "no-exchange" in result.output and "in dropped paths · counts agree" in result.output
    rows = list(csv.DictReader(io.StringIO(invoke("layers", "resnet20_cifar", "--alpha", "0.5", "--no-hl",
                                                  "--format", "csv").stdout)))
    both_sides = [r for r in rows if float(r["alpha_in"]) > 0 and float(r["alpha_out"]) > 0]
    assert both_sides and all(r["macs_hl"] == "" and r["macs_lh"] != "" for r in both_sides)
    check = invoke("check", "resnet20_cifar", "--alpha", "0.5", "--no-lh", "--downsample", "strided")
    assert check.exit_code == 0, check.output
    assert "no-lh+strided" in check.output and "ok" in check.output


@pytest.mark.parametrize("args", [
    ("models",),
    ("compare", "resnet20_cifar", "--rounds", "1", "--threads", "1", "--backend", "eager,plain"),
    # sweep and ablate: resnet20_cifar's tables are as wide as resnet50's (sweep: 80 columns, the five α set it;
    # ablate: 79, one more than resnet50's, its MMACs having two digits before the point), at a fifth of the work
    ("sweep", "resnet20_cifar", *FAST),
    ("layers", "resnet50"), ("layers", "mobilenet_v2"), ("layers", "resnet50", "--depth", "2"),
    ("blocks", "resnet20_cifar", "--rounds", "1", "--passes", "1", "--threads", "1"),
    ("explain", "resnet20_cifar", "--rounds", "1", "--passes", "1", "--threads", "1", "--backend", "plain,eager"),
    ("ablate", "resnet20_cifar", *FAST),
    # one α: a second adds rows, not width (the table is 106 columns wide either way); resnet50's counts and
    # mobilenet_v2's name set the width. The cross-checks only add to the summary line, which is left out below
    # (the table is the same with them), and were two thirds of the work
    ("check", "resnet50", "mobilenet_v2", "--alpha", "0.25", "--no-fvcore", "--no-cross-checks"),
    ("coverage", "resnet50"), ("coverage", "mobilenet_v2", "--placement", "everywhere"),
    ("counters", "resnet50", "--no-fvcore"), ("counters", "mobilenet_v2", "--placement", "everywhere", "--no-fvcore"),
    # the small MNIST net: its table is as wide as resnet20_cifar's (79 columns: the labels and headers set it), its
    # training steps and largest-batch search a third of the work
    ("train", MNIST_FILE, "--alpha", "0.25,0.5,0.75", "--batch-size", "2", "--rounds", "1", "--threads", "1",
     "--memory", "48MiB"),
], ids=lambda a: " ".join(a).replace(f"{REPORTS.parent}/", "") if isinstance(a, tuple) else str(a))
def test_every_command_fits_the_terminal_without_cutting_a_cell(monkeypatch, args):
    """At 80 and at 120 columns. The rendering is what is under test: the command's work (what it hands to
    ``with_progress``) runs at the first width and is handed back at the second."""
    import sys

    from rich.console import Console

    from octprofile.cli import base, output

    real, computed, calls = output.with_progress, [], [0]

    def computed_once(work):
        calls[0] += 1
        if calls[0] > len(computed):
            computed.append(real(work))
        return computed[calls[0] - 1]

    for module in [m for name, m in sys.modules.items() if name.startswith("octprofile.cli")]:
        if getattr(module, "with_progress", None) is real:
            monkeypatch.setattr(module, "with_progress", computed_once)
    for width in (80, 120):
        calls[0] = 0
        monkeypatch.setattr(base, "out", Console(width=width))
        result = invoke(*args)
        assert result.exit_code == 0, (width, result.output)
        assert "…" not in result.stdout, width  # Rich's mark of a cut cell
        # check's summary line stays one line on purpose, for CI logs to grep
        assert max(len(line) for line in result.stdout.splitlines() if not line.startswith("check: ")) <= width
