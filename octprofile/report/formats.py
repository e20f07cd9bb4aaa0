"""Rows (dicts) to CSV, JSON, Markdown and LaTeX. Unmeasured values (None) become empty cells."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if not math.isnan(value) else ""
    return str(value)


def to_csv(rows: Sequence[dict], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def to_json(rows: Sequence[dict], columns: Sequence[str]) -> str:
    return json.dumps([{c: row.get(c) for c in columns} for row in rows], indent=2, ensure_ascii=False) + "\n"


def _display(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def to_markdown(rows: Sequence[dict], columns: Sequence[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_display(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _latex(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(rows: Sequence[dict], columns: Sequence[str]) -> str:
    lines = [r"\begin{tabular}{" + "l" * len(columns) + "}", r"\toprule",
             " & ".join(_latex(c) for c in columns) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex(_display(row.get(c))).replace(",", "{,}") for c in columns) + r" \\"
              for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


WRITERS = {"csv": to_csv, "json": to_json, "markdown": to_markdown, "latex": to_latex}


def render_rows(rows: Sequence[dict], columns: Sequence[str], fmt: str) -> str:
    return WRITERS[fmt](rows, columns)
