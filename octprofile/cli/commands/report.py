"""``octprofile report``: regenerate reports/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from octprofile.cli import base
from octprofile.cli.base import run_command
from octprofile.cli.options import Cache
from octprofile.cli.output import with_progress
from octprofile.errors import BadValueError


def report(
    output_dir: Annotated[Path, typer.Option("--output-dir", metavar="DIR",
                                             help="Where to write the report files (created if missing).")
                          ] = Path("reports"),
    models_: Annotated[list[str] | None, typer.Option("--model", metavar="MODEL",
                                                      help="Only these models (repeatable).")] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw a sweep plot per model.")] = True,
    timm: Annotated[bool | None, typer.Option(
        "--timm/--no-timm", help="Write timm.md: which timm models convert, 3 per module (default: when timm is "
                                 "installed and no --model is given).")] = None,
    cache: Cache = True,
) -> None:
    """Regenerate reports/: α sweeps (CSV, Markdown, plots), our counts beside the published ones, and timm.md.

    A missing --output-dir is created, with its parents.

    Example: octprofile report --output-dir reports/
    """
    def action() -> None:
        from octprofile.models import get_spec
        from octprofile.studies.reports import generate_report

        if output_dir.exists() and not output_dir.is_dir():
            raise BadValueError(f"--output-dir {str(output_dir)!r} is not a directory")
        for name in models_ or []:
            get_spec(name)
        import importlib.util

        survey = timm if timm is not None else not models_ and importlib.util.find_spec("timm") is not None
        written = with_progress(
            lambda progress: generate_report(output_dir, models_, plots, progress, survey, cache=cache))
        for path in written:
            base.err.print(f"wrote {path}", markup=False)

    run_command(action)
