"""Cells and lines every use case's table and footer share: scaled numbers, ratios, the latency verdict,
warnings, the layers left vanilla, and the compact 80-column table."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.markup import escape
from rich.table import Table

from octprofile.runtime.stats import NOISE_LIMIT


def scale_of(values: Sequence[float | None]) -> tuple[float, str]:
    """The divisor and prefix (G, M, K) that fit the largest value."""
    largest = max((abs(v) for v in values if v is not None), default=0)
    return (1e9, "G") if largest >= 1e9 else (1e6, "M") if largest >= 1e6 else (1e3, "K")


def num(value, divisor: float = 1.0, digits: int = 3) -> str:
    return "" if value is None else f"{value / divisor:,.{digits}f}"


def ratio_cell(value) -> str:
    return "" if value is None else f"{value:.3f}×"


def plain_ratio(value) -> str:
    return "" if value is None else f"{value:.3f}"


def exact(value) -> str:
    return "" if value is None else f"{value:,}"


def mib(value) -> str:
    return num(value, 2**20, 1)


def latency_verdict(ratio: float, spread: float, where: str, doubt: str | None = None,
                    several_threads: bool = True) -> str:
    """'0.61× latency on eager (IQR 0.02)', or 'latency ≈ vanilla …' when the IQR band holds 1, or
    'latency inconclusive …' with the reason and what to do: when ``doubt`` says why the timing cannot be
    trusted (then no ratio is printed: it is no finding), or when the spread is above the noise limit."""
    if doubt:
        fewer = " or at fewer --threads" if several_threads else ""
        return (f"latency inconclusive {where}: {doubt}, so the ratio is no finding; rerun on an otherwise idle "
                f"machine{fewer}")
    if spread > NOISE_LIMIT * ratio:
        return (f"latency inconclusive {where}: {ratio:.2f}× but IQR {spread:.2f} is {spread / ratio:.0%} of it "
                f"(> {NOISE_LIMIT:.0%}); rerun with more --rounds on an otherwise idle machine")
    if ratio - spread / 2 <= 1 <= ratio + spread / 2:
        return f"latency ≈ vanilla {where} ({ratio:.2f}×, IQR {spread:.2f})"
    return f"{ratio:.2f}× latency {where} (IQR {spread:.2f})"


def runs_verdict(low: float, high: float, runs: int, where: str, several_threads: bool = True) -> str:
    """Independent runs whose median ratios lie further apart than a run's IQR: their range is the finding,
    unless it holds 1 (then which side of vanilla Oct lies on is not known: inconclusive, no ratio)."""
    if low <= 1 <= high:
        return latency_verdict(1.0, 0.0, where, f"its {runs} independent runs lie on both sides of vanilla "
                               f"({low:.2f}–{high:.2f}×), further apart than a run's IQR (the setting does not "
                               "reproduce on this machine)", several_threads)
    return (f"{low:.2f}–{high:.2f}× latency {where} over {runs} independent runs (further apart than a run's IQR: "
            "the range is the finding)")


def vector_block_note(block: int | None, isa: str, low_channels: dict[str, Sequence[int]]) -> list[str]:
    """A hint where a split leaves low channel counts off the CPU's vector block, on which CPU kernels and
    layout reorders work (MobileNet v2 α .375 on onnxruntime measured 1.22× → 0.91× with them rounded)."""
    odd = {label: [c for c in counts if c % block] for label, counts in low_channels.items()} if block else {}
    where = "; ".join(f"{label}: {', '.join(map(str, counts[:4]))}{' …' if len(counts) > 4 else ''}"
                      for label, counts in odd.items() if counts)
    if not where:
        return []
    return [f"low channel counts off {isa}'s float32 vector of {block}, the block CPU kernels work on ({where}): "
            f"--low-multiple {block} rounds them (README: Channel splits)"]


def timing_warning_lines(warnings: Sequence[str], verbose: bool) -> list[str]:
    """Every warning with --verbose; otherwise one line that counts them and says where they are."""
    if verbose or len(warnings) <= 1:
        return [f"warning: {warning}" for warning in warnings]
    return [f"warning: {warnings[0]} (+{len(warnings) - 1} more: --verbose, or the timing_warnings column)"]


def not_converted_lines(layers: dict[str, str], model: str | None = None) -> list[str]:
    """'not converted: features.3.conv — WSConv2d has its own forward', one line per conv layer the converter
    left vanilla (``model`` prefixes the layer where several models share one output)."""
    prefix = f"{model} " if model else ""
    return [f"not converted: {prefix}{name} — {reason}" for name, reason in layers.items()]


def compact_table(title: str, headers: list[str], cells: list[list[str]], width: int | None,
                   left: set[str], total: bool = False) -> Table:
    """No vertical rules, one space between columns, every column exactly as wide as its text, so that a table
    fits 80 columns; the first column (layer names) folds where ``width`` leaves too little room for it.
    Columns are right-aligned but those in ``left``; ``total``: the last row is a total, under a rule."""
    table = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 0, 0, 1), pad_edge=False,
                  show_edge=False)
    widths = [max(len(line) for text in [header, *(row[i] for row in cells)] for line in text.split("\n"))
              for i, header in enumerate(headers)]
    room = (width or 10**6) - sum(widths[1:]) - 2 * (len(widths) - 1)  # what the layer names may take
    table.add_column(headers[0], overflow="fold", min_width=max(12, min(widths[0], room)))
    for header, column_width in zip(headers[1:], widths[1:]):
        table.add_column(header, justify="left" if header in left else "right", width=column_width, no_wrap=True)
    for index, row in enumerate(cells):
        if total and index == len(cells) - 1:
            table.add_section()
        table.add_row(*row)
    return table
