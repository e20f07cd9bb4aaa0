"""`octprofile check` says which counters ran and what each gave, ends with one summary line, and writes JSON
and JUnit XML for CI."""

import io
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

from octprofile.cli import app
from octprofile.studies.check import CHECK_COLUMNS, CheckResult, check_junit, check_summary, check_table

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def table_rows(output: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("│").split("│")] for line in output.splitlines()
            if line.startswith("│")]


def header_cells(output: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith("┃"))
    return [cell.strip() for cell in line.strip("┃").split("┃")]


def test_the_table_names_the_counters_that_ran_and_ends_with_the_summary():
    result = invoke("check", "resnet20_cifar", "--alpha", "0.25", "--alpha", "0.5", "--no-fvcore")
    assert result.exit_code == 0, result.output
    headers = header_cells(result.stdout)
    assert headers == ["model", "α", "params vanilla", "params oct", "MACs analytic", "FlopCounterMode FLOPs ÷ 2",
                       "result"]  # no fvcore column: it did not run
    assert "2 counters: analytic, FlopCounterMode FLOPs ÷ 2 (fvcore not run)" in result.stdout
    for cells in table_rows(result.stdout):
        assert cells[4] == cells[5] and cells[-1] == "ok"
    assert result.stdout.rstrip("\n").splitlines()[-1] == (
        "check: 2 of 2 passed (resnet20_cifar × α 0.25, 0.5; 2 counters agree: analytic, FlopCounterMode; "
        "fvcore not run; cross-checked: ptflops, thop)")


def test_with_fvcore_three_counters_agree_and_each_value_is_written():
    result = invoke("check", "resnet20_cifar", "--format", "json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert row["counters"] == "analytic,FlopCounterMode,fvcore"
    assert row["macs_fvcore"] == row["macs"] == row["flops_torch"] // 2
    assert result.stderr.rstrip("\n").splitlines()[-1] == (
        "check: 1 of 1 passed (resnet20_cifar × α 0.5; 3 counters agree: analytic, FlopCounterMode, fvcore; "
        "cross-checked: ptflops, thop)")


def test_json_has_the_documented_columns_and_goes_to_a_file_atomically(tmp_path):
    target = tmp_path / "check.json"
    result = invoke("check", "resnet20_cifar", "--alpha", "0.25", "--no-fvcore", "--output", target)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # the data went to the file; the summary to stderr
    assert "check: 1 of 1 passed" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["check.json"]  # no temporary file left beside it
    [row] = json.loads(target.read_text())
    assert tuple(row) == CHECK_COLUMNS
    assert row["model"] == "resnet20_cifar" and row["alpha"] == 0.25 and row["design"] == "full"
    assert row["passed"] is True and row["counts_agree"] is True and row["failures"] == ""
    assert row["params_oct"] == row["params_expected"] == row["params_vanilla"] and row["params_dropped"] == 0
    assert row["counters"] == "analytic,FlopCounterMode" and row["macs_fvcore"] is None
    assert row["flops_torch"] == 2 * row["macs"] and row["input_size"] == 32


def test_a_failing_check_exits_1_and_reports_the_failure_in_every_output(monkeypatch, tmp_path):
    monkeypatch.setattr(FlopCounterMode, "get_total_flops", lambda self: 0)
    junit = tmp_path / "check.xml"
    result = invoke("check", "resnet20_cifar", "--no-fvcore", "--format", "json", "--junit", junit)
    assert result.exit_code == 1, result.output
    [row] = json.loads(result.stdout)
    assert row["passed"] is False and row["counts_agree"] is False and row["flops_torch"] == 0
    assert row["failures"] == f"FlopCounterMode 0 ≠ 2 × {row['macs']:,} MACs"
    summary = result.stderr.rstrip("\n").splitlines()[-1]
    assert summary.startswith(f"check: 1 of 1 FAILED: resnet20_cifar α=0.5: {row['failures']} (")

    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("name") == "octprofile check" and suite.get("tests") == "1" and suite.get("failures") == "1"
    [case] = suite.findall("testcase")
    assert case.get("name") == "resnet20_cifar α=0.5"
    assert case.find("failure").get("message") == row["failures"] == case.find("failure").text


def test_junit_has_one_case_per_model_and_alpha_and_escapes_names(tmp_path):
    odd = tmp_path / 'a&b<"c>'  # markup characters in a custom model's path
    odd.mkdir()
    shutil.copy(EXAMPLES / "mnist_net.py", odd / "net.py")
    model = f"{odd / 'net.py'}:mnist_net"
    junit = tmp_path / "check.xml"
    result = invoke("check", model, "resnet20_cifar", "--alpha", "0.25", "--alpha", "0.5", "--no-fvcore",
                    "--junit", junit)
    assert result.exit_code == 0, result.output
    root = ET.parse(junit).getroot()
    [suite] = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "0", "0")
    assert suite.find("properties/property[@name='counters']").get("value") == "analytic,FlopCounterMode"
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        (model, f"{model} α=0.25"), (model, f"{model} α=0.5"),
        ("resnet20_cifar", "resnet20_cifar α=0.25"), ("resnet20_cifar", "resnet20_cifar α=0.5")]
    assert not any(c.find("failure") is not None for c in cases)
    assert "analytic" in cases[0].find("system-out").text


def test_junit_replaces_characters_xml_cannot_hold():
    result = CheckResult.of("net\x07", 0.5, 10, 9, 4, 8, None)
    case = ET.fromstring(check_junit([result])).find("testsuite/testcase")
    assert case.get("classname") == "net\ufffd" and case.find("failure").get("message") == "params 9 ≠ vanilla 10"


# a missing folder is created (issue 35): a bad path is now one whose folder cannot be made
@pytest.mark.parametrize("options", [["--junit", "/dev/null/missing/check.xml"],
                                     ["--output", "/dev/null/missing/check.json"], ["--junit", "."]])
def test_bad_paths_exit_2_in_one_line_before_any_work(tmp_path, monkeypatch, options):
    monkeypatch.chdir(tmp_path)
    result = invoke("check", "resnet20_cifar", "--no-fvcore", *options)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_junit_and_output_cannot_be_the_same_file(tmp_path):
    target = tmp_path / "check.json"
    result = invoke("check", "resnet20_cifar", "--no-fvcore", "--output", target, "--junit", target)
    assert result.exit_code == 2 and "--junit and --output" in result.stderr
    assert not target.exists()


def test_a_design_shows_the_dropped_weights_everywhere():
    result = invoke("check", "resnet20_cifar", "--no-lh", "--no-fvcore", "--format", "json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert row["design"] == "no-lh" and row["params_dropped"] > 0
    assert row["params_oct"] == row["params_expected"] == row["params_vanilla"] - row["params_dropped"]
    assert "resnet20_cifar × α 0.5, design no-lh;" in result.stderr


def test_at_80_columns_the_values_are_stacked_to_fit():
    results = [CheckResult.of("mobilenet_v2", 0.25, 3_504_872, 3_504_872, 251_234_567, 502_469_134, 251_234_567),
               CheckResult.of("resnet50", 0.5, 25_557_032, 25_557_032, 2_367_143_936, 0, 2_367_143_936)]
    console = Console(file=io.StringIO(), width=80)
    console.print(check_table(results))
    text = console.file.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    for value in ("251,234,567 analytic", "251,234,567 FLOPs ÷ 2", "251,234,567 fvcore", "0 FLOPs ÷ 2",
                  "25,557,032 oct", "25,557,032 vanilla"):
        assert value in text
    assert [cells[-1] for cells in table_rows(text) if cells[0]] == ["ok", "FAIL"]
    assert check_summary(results).startswith("check: 1 of 2 FAILED: resnet50 α=0.5: FlopCounterMode 0 ≠ 2 × ")


def test_the_python_result_carries_what_the_cli_shows():
    result = CheckResult.of("net", 0.5, 100, 90, 7, 15, 7, design="no-hl", params_dropped=10, input_size=32)
    assert result.ok is False and result.counts_agree is False and result.params_expected == 90
    assert result.counters == ("analytic", "FlopCounterMode", "fvcore")
    assert result.counter_macs == {"analytic": 7, "FlopCounterMode": 7.5, "fvcore": 7}
    assert result.label == "net α=0.5 no-hl"
    assert result.record()["failures"] == "FlopCounterMode 15 ≠ 2 × 7 MACs"
