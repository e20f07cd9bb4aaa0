"""File export: CSV/JSON machine-faithful, Markdown/LaTeX paper-ready, --columns and --caption."""

import csv
import io
import json
import re
import shutil
import subprocess

import pandas as pd
import pytest
from typer.testing import CliRunner

from octprofile.cli import app
from octprofile.errors import BadValueError
from octprofile.report.formats import to_csv, to_json, to_latex, to_markdown
from octprofile.results import COMPARE_COLUMNS

runner = CliRunner()
FAST = ["--no-time", "--no-fvcore"]
COLUMNS = ("model", "variant", "alpha", "params", "macs", "mac_ratio", "latency_ms", "params_equal", "difference")
ROWS = [
    dict(model="resnet152", variant="vanilla", alpha=0.0, params=60192808, macs=11514407936, mac_ratio=1.0,
         latency_ms=None, params_equal=True, difference=-0.00001),
    dict(model="resnet152", variant="oct", alpha=0.5, params=60192808, macs=5614690304,
         mac_ratio=0.48762318270130813, latency_ms=11.514, params_equal=False, difference=-1.25),
]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def cells(line: str, separator: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").removesuffix(r"\\").split(separator)]


def test_csv_and_json_keep_raw_values_and_one_boolean_spelling():
    as_csv = to_csv(ROWS, COLUMNS)
    assert as_csv.splitlines()[0] == ",".join(COLUMNS)
    first, second = list(csv.DictReader(io.StringIO(as_csv)))
    assert first["macs"] == "11514407936" and first["latency_ms"] == "" and first["params_equal"] == "true"
    assert float(second["mac_ratio"]) == ROWS[1]["mac_ratio"] and second["params_equal"] == "false"
    as_json = json.loads(to_json(ROWS, COLUMNS))
    assert as_json == [{c: row[c] for c in COLUMNS} for row in ROWS]  # full precision, ints exact, None → null
    assert '"params_equal": true' in to_json(ROWS, COLUMNS)
    # an integer column that starts with None stays integers (not 5614690304.0)
    late = [dict(ROWS[0], macs=None), ROWS[1]]
    assert to_csv(late, ("macs", "params_equal")).splitlines() == ["macs,params_equal", ",true", "5614690304,false"]
    # pandas reads the booleans back as booleans and the counts as integers
    frame = pd.read_csv(io.StringIO(as_csv))
    assert frame["params_equal"].tolist() == [True, False] and frame["macs"].tolist() == [11514407936, 5614690304]


def test_reading_formats_scale_counts_and_keep_exact_values():
    markdown = to_markdown(ROWS, COLUMNS, caption="ResNet-152")
    header, rule, vanilla, octave = markdown.splitlines()[:4]
    assert cells(header, "|") == ["model", "variant", "α", "params (M)", "GMACs", "MACs ÷ vanilla", "latency (ms)",
                                  "params equal", "difference"]
    assert cells(rule, "|") == [":---", ":---", "---:", "---:", "---:", "---:", "---:", ":---", "---:"]
    # GMACs from the raw count, 3 decimals; ratios 3 decimals; 11.514 kept; no '-0'; booleans as in CSV
    assert cells(octave, "|") == ["resnet152", "oct", "0.5", f"{60192808 / 1e6:.3f}", f"{5614690304 / 1e9:.3f}",
                                  "0.488", "11.514", "false", "-1.25"]
    assert cells(vanilla, "|")[5:] == ["1.000", "–", "true", "0"]
    assert markdown.endswith("\nTable: ResNet-152\n")


def test_latex_is_a_booktabs_table_with_caption_label_and_right_aligned_numbers():
    latex = to_latex(ROWS, COLUMNS, caption="Cost of Oct-ResNet-152, α = 0.5", label="tab:r152")
    lines = latex.splitlines()
    assert lines[0] == r"% needs \usepackage{booktabs}"
    assert lines[1] == r"\begin{table}" and lines[-1] == r"\end{table}"
    assert r"\caption{Cost of Oct-ResNet-152, $\alpha$ = 0.5}" in lines and r"\label{tab:r152}" in lines
    assert r"\begin{tabular}{llrrrrrlr}" in lines
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert lines.count(rule) == 1
    head = lines.index(r"\toprule") + 1
    assert cells(lines[head], "&")[2:5] == [r"$\alpha$", "params (M)", "GMACs"]
    assert cells(lines[head], "&")[5] == r"MACs $\div$ vanilla"
    assert cells(lines[head + 3], "&") == ["resnet152", "oct", "0.5", "60.193", "5.615", "0.488", "11.514", "false",
                                           "$-$1.25"]
    assert cells(lines[head + 2], "&")[6] == "--"  # unmeasured


def test_default_reading_columns_drop_empty_ones_and_a_choice_is_kept_as_asked():
    rows = [dict(ROWS[0], latency_ms=None), dict(ROWS[1], latency_ms=None)]
    default = to_markdown(rows, COMPARE_COLUMNS).splitlines()[0]
    assert "latency" not in default and "GMACs" in default and "input size" not in default
    chosen = to_markdown(rows, COMPARE_COLUMNS, columns=("latency_ms", "model")).splitlines()[0]
    assert cells(chosen, "|") == ["latency (ms)", "model"]
    chosen_csv = to_csv(rows, COMPARE_COLUMNS, columns="macs,model")
    assert chosen_csv.splitlines()[:2] == ["macs,model", "11514407936,resnet152"]


def test_unscaled_reading_format_writes_exact_counts():
    assert "| 11,514,407,936 |" in to_markdown(ROWS, COLUMNS, scale=False)
    assert "| MACs |" in to_markdown(ROWS, COLUMNS, scale=False)


@pytest.mark.parametrize("columns", [("model", "bogus"), ("model", "model"), ()])
def test_bad_column_choice_is_a_one_line_error(columns):
    with pytest.raises(BadValueError) as error:
        to_csv(ROWS, COLUMNS, columns)
    assert "\n" not in str(error.value)


def test_cli_latex_has_the_scaled_macs_of_the_csv_and_the_caption():
    raw = list(csv.DictReader(io.StringIO(invoke("compare", "resnet20_cifar", "--alpha", "0.5", "--format", "csv",
                                                 *FAST).stdout)))
    result = invoke("compare", "resnet20_cifar", "--alpha", "0.5", "--format", "latex", "--caption", "Oct 50%", *FAST)
    assert result.exit_code == 0, result.output
    assert r"\caption{Oct 50\%}" in result.stdout and r"\label{tab:resnet20_cifar}" in result.stdout
    header = next(line for line in result.stdout.splitlines() if line.startswith("model &"))
    index = cells(header, "&").index("MMACs")  # 40.8 M MACs: the data chooses M
    octave = next(line for line in result.stdout.splitlines() if line.startswith(r"resnet20\_cifar & oct"))
    assert cells(octave, "&")[index] == f"{int(raw[1]['macs']) / 1e6:.3f}"


def test_cli_columns_choice_and_its_errors():
    result = invoke("compare", "resnet20_cifar", "--format", "json", "--columns", "macs, model", *FAST)
    assert result.exit_code == 0, result.output
    assert [list(row) for row in json.loads(result.stdout)] == [["macs", "model"]] * 2
    unknown = invoke("compare", "resnet20_cifar", "--format", "csv", "--columns", "model,gmacs", *FAST)
    assert unknown.exit_code == 2 and len(unknown.output.strip().splitlines()) == 1
    assert "'gmacs'" in unknown.output and "mac_ratio" in unknown.output
    for args in (["--columns", "model"], ["--format", "csv", "--caption", "x"]):
        refused = invoke("layers", "resnet20_cifar", "--alpha", "0.5", *args)
        assert refused.exit_code == 2 and len(refused.output.strip().splitlines()) == 1, refused.output
    models = invoke("models", "--format", "markdown", "--columns", "name,input_size")
    assert models.exit_code == 0 and models.stdout.splitlines()[1] == "|:---|---:|"


def test_published_figure_keeps_its_three_decimals():
    from pathlib import Path

    published = (Path(__file__).resolve().parents[2] / "reports" / "published.md").read_text()
    assert re.search(r"\| d-li14/octconv\.pytorch \| resnet152 \| 0 \| 11\.514 \|", published)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_table_compiles(tmp_path):
    table = to_latex(ROWS, COLUMNS, caption="α ÷ × → ≈ 50% & more_")
    document = "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n" + table + "\\end{document}\n"
    (tmp_path / "table.tex").write_text(document, encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "table.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
