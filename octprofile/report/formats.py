"""Rows (dicts) to CSV, JSON, Markdown and LaTeX, through pandas.

CSV and JSON are for machines: every column asked (default: all, in the stable order), raw values at full
precision, an unmeasured value (None) is an empty CSV cell / JSON null, booleans are ``true`` / ``false``.

Markdown and LaTeX are for reading and papers: a compact default set of columns (the column set's ``default``,
less those empty in every row), readable headers with the unit (``GMACs``, ``params (M)``, the unit chosen
from the data), right-aligned numbers, ratios to 3 decimals, other numbers exact up to 4 decimals, ``true`` /
``false`` as in CSV and JSON, ``–`` for an unmeasured value. LaTeX is a booktabs ``table`` with caption and label.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence

import pandas as pd

from octprofile.errors import BadValueError
from octprofile.report.columns import NUMERIC_KINDS, column, default_columns

TRUE, FALSE = "true", "false"
UNMEASURED = "–"  # Markdown and LaTeX (an en dash); CSV: empty cell, JSON: null
COUNT_UNITS = (("G", 1e9), ("M", 1e6), ("K", 1e3))
BYTE_UNITS = (("GiB", 2.0 ** 30), ("MiB", 2.0 ** 20), ("KiB", 2.0 ** 10))
RATIO_DECIMALS = SCALED_DECIMALS = 3
MAX_DECIMALS = 4


def parse_columns(text: str) -> tuple[str, ...]:
    """``--columns a,b,c`` as names (spaces around a name are ignored)."""
    return tuple(name.strip() for name in text.split(","))


def choose_columns(available: Sequence[str], columns: Sequence[str] | None) -> tuple[str, ...] | None:
    """``columns`` checked against ``available`` (None: no choice, each format's default)."""
    if columns is None:
        return None
    if isinstance(columns, str):
        columns = parse_columns(columns)
    if not columns:
        raise BadValueError("no column chosen; valid columns: " + ", ".join(available))
    for name in columns:
        if name not in available:
            raise BadValueError(f"unknown column {name!r}; valid columns: {', '.join(available)}")
    repeated = next((name for name in columns if list(columns).count(name) > 1), None)
    if repeated:
        raise BadValueError(f"column {repeated!r} is chosen twice")
    return tuple(columns)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _csv_value(value):
    return (TRUE if value else FALSE) if isinstance(value, bool) else value


def _frame(rows: Sequence[dict], columns: Sequence[str], convert=lambda value: value) -> pd.DataFrame:
    # dtype=object keeps integers exact beside None (a numeric dtype would make them floats: 4089184256.0);
    # values are converted before, not with DataFrame.map, which infers such a dtype again
    return pd.DataFrame([[None if _missing(row.get(c)) else convert(row.get(c)) for c in columns] for row in rows],
                        columns=list(columns), dtype=object)


# ---- for machines ----

def to_csv(rows: Sequence[dict], available: Sequence[str], columns: Sequence[str] | None = None) -> str:
    """Every column of ``available`` (or the ``columns`` chosen), raw values; None is an empty cell."""
    chosen = choose_columns(available, columns) or tuple(available)
    return _frame(rows, chosen, _csv_value).to_csv(index=False, lineterminator="\n", na_rep="")


def to_json(rows: Sequence[dict], available: Sequence[str], columns: Sequence[str] | None = None) -> str:
    """A list of objects, one per row, keys in column order; None is null."""
    chosen = choose_columns(available, columns) or tuple(available)
    # not DataFrame.to_json: it keeps at most 15 significant digits and writes '/' as '\/'
    records = _frame(rows, chosen).to_dict(orient="records")
    return json.dumps(records, indent=2, ensure_ascii=False) + "\n"


# ---- for reading ----

def _shown_columns(rows: Sequence[dict], available: Sequence[str], columns: Sequence[str] | None) -> tuple[str, ...]:
    chosen = choose_columns(available, columns)
    if chosen is not None:
        return chosen  # asked for: shown even when empty
    default = default_columns(available)
    filled = tuple(c for c in default if any(not _missing(row.get(c)) for row in rows))
    return filled or default


def _unit(values: list, units: tuple[tuple[str, float], ...]) -> tuple[str, float]:
    """The largest unit in which every non-zero value is at least 0.1 (3 decimals keep 3 significant digits)."""
    nonzero = [abs(v) for v in values if isinstance(v, (int, float)) and v]
    for unit, factor in units:
        if nonzero and min(nonzero) / factor >= 0.1:
            return unit, factor
    return "", 1.0


def _number(value: float, decimals: int, strip: bool) -> str:
    text = f"{value:,.{decimals}f}"
    if strip and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.lstrip("-") if float(text.replace(",", "")) == 0 else text  # never '-0'


def _display_column(name: str, values: list, scale: bool, available: Sequence[str]) -> tuple[str, list[str], bool]:
    """Header, cell texts and whether the column is numeric (right-aligned)."""
    meta = column(name, values, available)
    header, kind, unit, factor = meta.header, meta.kind, "", 1.0
    if scale and kind in ("count", "bytes"):
        unit, factor = _unit(values, COUNT_UNITS if kind == "count" else BYTE_UNITS)
    if "{unit}" in header:
        header = header.replace("{unit}", unit)
    elif unit:
        header = f"{header} ({unit})"

    def cell(value) -> str:
        if _missing(value):
            return UNMEASURED
        if isinstance(value, bool):
            return TRUE if value else FALSE
        if not isinstance(value, (int, float)):
            return str(value)
        if kind == "ratio":
            return _number(value, RATIO_DECIMALS, strip=False)
        if unit:
            return _number(value / factor, SCALED_DECIMALS, strip=False)
        if isinstance(value, int):
            return f"{value:,}"
        return _number(value, MAX_DECIMALS, strip=True)

    return header, [cell(v) for v in values], kind in NUMERIC_KINDS


def _display(rows: Sequence[dict], available: Sequence[str], columns: Sequence[str] | None, scale: bool):
    shown = _shown_columns(rows, available, columns)
    return [_display_column(name, [row.get(name) for row in rows], scale, available) for name in shown]


def _markdown_cell(text: str) -> str:
    return text.replace("|", r"\|")


def to_markdown(rows: Sequence[dict], available: Sequence[str], columns: Sequence[str] | None = None,
                caption: str | None = None, scale: bool = True) -> str:
    """A pipe table; ``caption`` becomes a ``Table: ...`` line after it (pandoc's caption syntax).

    ``scale=False`` writes counts as exact integers (reference files that must not change when rows are added).
    Not ``DataFrame.to_markdown``: tabulate pads every cell to its column's width, so one longer value would
    rewrite every line of reports/sweep.md (and its regeneration test compares lines of a partial run).
    """
    shown = _display(rows, available, columns, scale)
    lines = ["| " + " | ".join(_markdown_cell(header) for header, _, _ in shown) + " |",
             "|" + "|".join("---:" if numeric else ":---" for _, _, numeric in shown) + "|"]
    lines += ["| " + " | ".join(_markdown_cell(text) for text in record) + " |"
              for record in zip(*(cells for _, cells, _ in shown))]
    if caption:
        lines += ["", f"Table: {caption}"]
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  # characters our headers and values use that pdflatex does not know in text mode
                  "α": r"$\alpha$", "÷": r"$\div$", "×": r"$\times$", "→": r"$\rightarrow$", "≈": r"$\approx$",
                  "≠": r"$\neq$", "≤": r"$\leq$", "≥": r"$\geq$", "−": "$-$", "²": "$^2$", "³": "$^3$",
                  "–": "--", "—": "---", "·": r"$\cdot$", "¾": r"$\frac{3}{4}$", "…": r"\ldots{}"}


def latex_text(text: str) -> str:
    """``text`` for LaTeX text mode: special characters escaped, the few symbols we print written as math."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def _latex_number(text: str) -> str:
    return text.replace(",", "{,}").replace("-", "$-$") if text != UNMEASURED else "--"


def _default_caption(rows: Sequence[dict]) -> str:
    models = list(dict.fromkeys(str(row["model"]) for row in rows if row.get("model")))
    return (", ".join(models) + ": " if models else "") + "generated by octprofile"


def _default_label(rows: Sequence[dict]) -> str:
    models = list(dict.fromkeys(str(row["model"]) for row in rows if row.get("model")))
    return "tab:" + re.sub(r"[^A-Za-z0-9_.:-]+", "-", "-".join(models) or "octprofile")


def to_latex(rows: Sequence[dict], available: Sequence[str], columns: Sequence[str] | None = None,
             caption: str | None = None, label: str | None = None, scale: bool = True) -> str:
    """A booktabs ``table`` (needs ``\\usepackage{booktabs}``) with caption and label; numbers right-aligned."""
    shown = _display(rows, available, columns, scale)
    frame = pd.DataFrame({latex_text(h): [_latex_number(t) if numeric else latex_text(t) for t in cells]
                          for h, cells, numeric in shown}, columns=[latex_text(h) for h, _, _ in shown])
    body = frame.style.hide(axis="index").to_latex(
        column_format="".join("r" if numeric else "l" for _, _, numeric in shown), hrules=True,
        caption=latex_text(caption or _default_caption(rows)),
        label=label or _default_label(rows), position_float="centering", environment="table")
    return "% needs \\usepackage{booktabs}\n" + body


WRITERS = {"csv": to_csv, "json": to_json, "markdown": to_markdown, "latex": to_latex}
CAPTIONED = ("markdown", "latex")


def render_rows(rows: Sequence[dict], available: Sequence[str], fmt: str, columns: Sequence[str] | None = None,
                caption: str | None = None) -> str:
    """``rows`` in ``fmt``; ``available`` is the row set's stable column tuple (e.g. ``COMPARE_COLUMNS``)."""
    if fmt in CAPTIONED:
        return WRITERS[fmt](rows, available, columns, caption)
    return WRITERS[fmt](rows, available, columns)
