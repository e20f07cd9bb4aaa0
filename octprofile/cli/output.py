"""Rendering a command's result: the output format, --columns/--caption/--plot checked before any work,
the table on the console or the records in a file format, progress on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from octprofile.cli import base
from octprofile.cli.options import Format
from octprofile.errors import BadValueError

SUFFIX_FORMATS = {".csv": "csv", ".json": "json", ".md": "markdown", ".markdown": "markdown", ".tex": "latex"}


def output_format(fmt: Format, output: Path | None) -> str:
    from octprofile.report.files import check_writable

    if output is None:
        return fmt.value
    check_writable(output)
    if fmt is not Format.table:
        return fmt.value
    inferred = SUFFIX_FORMATS.get(output.suffix.lower())
    if inferred is None:
        raise BadValueError(f"cannot tell the format of {str(output)!r}; pass --format csv|json|markdown|latex")
    return inferred


def export_options(fmt: str, columns: str | None, caption: str | None, available) -> tuple[str, ...] | None:
    """--columns and --caption checked before any work: the names chosen, or None for the format's default."""
    from octprofile.report.formats import CAPTIONED, choose_columns

    if columns is not None and fmt == "table":
        raise BadValueError("--columns applies to --format csv|json|markdown|latex, not to the table")
    if caption is not None and fmt not in CAPTIONED:
        raise BadValueError("--caption applies to --format markdown|latex")
    return choose_columns(available, columns)


def emit(records: list[dict], columns, fmt: str, output: Path | None, table: Callable, footer: str = "",
         chosen: tuple[str, ...] | None = None, caption: str | None = None, natural_width: bool = False,
         files=None) -> None:
    """The table (and footer) on stdout, or the records (``chosen`` columns) in a file format; ``natural_width``:
    print the table as wide as it needs (--wide), never cut to the terminal. ``files`` (an ``AtomicFiles``):
    stage the output there, to be renamed into place with the command's other outputs."""
    from rich.measure import Measurement

    from octprofile.report.files import atomic_write
    from octprofile.report.formats import render_rows

    out = base.out
    if fmt == "table":
        rendered = table()
        needed = Measurement.get(out, out.options.update(width=10**4), rendered).maximum if natural_width else 0
        # Console.print never goes wider than its console: a wider one on the same stream
        console = out if needed <= out.width else Console(file=out.file, width=needed, color_system=out.color_system,
                                                          force_terminal=out.is_terminal)
        if console.is_terminal:
            console.print(rendered)
        else:  # a file or pipe: no padding to the full width
            with console.capture() as captured:
                console.print(rendered)
            sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
        if footer:
            out.print(footer, highlight=False, markup=False)  # names from user code may hold brackets
        return
    text = render_rows(records, columns, fmt, chosen, caption)
    if output is None:
        sys.stdout.write(text)
    elif files is not None:
        files.write(output, text)
    else:
        atomic_write(output, text)
        base.err.print(f"wrote {output}", markup=False)


def checked_plot(plot: Path | None, output: Path | None) -> str | None:
    """--plot checked before any work (not the --output file, .png or .svg, writable): its format, or None."""
    from octprofile.report.files import check_distinct, check_writable
    from octprofile.report.plots import plot_format

    check_distinct({"--output": output, "--plot": plot})
    if plot is None:
        return None
    kind = plot_format(plot)
    check_writable(plot)
    return kind


def with_progress(work: Callable):
    from octprofile.report.progress import progress_callback

    with progress_callback(base.err) as update:
        return work(update)
