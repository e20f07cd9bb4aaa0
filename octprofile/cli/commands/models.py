"""``octprofile models``: the supported backbones."""

from __future__ import annotations

from typing import Annotated

import typer

from octprofile.cli.base import run_command
from octprofile.cli.options import CaptionOpt, ColumnsOpt, Format, FormatOpt, OutputOpt
from octprofile.cli.output import emit, export_options, output_format
from octprofile.errors import BadValueError


def models(fmt: FormatOpt = Format.table, output: OutputOpt = None, columns_: ColumnsOpt = None,
           caption: CaptionOpt = None,
           source: Annotated[str | None, typer.Option(
               "--source", metavar="SOURCE",
               help="Only the models of one source: torchvision, project, or timm (the timm models octprofile "
                    "converts; optional extra).")] = None,
           ) -> None:
    """List the supported backbones with family, source and default input size.

    Example: octprofile models --source timm --format csv
    """
    def action() -> None:
        from rich.table import Table

        from octprofile.models import model_specs
        from octprofile.models.input_size import format_input_size
        from octprofile.models.timm_source import convertible_models

        sources = ("torchvision", "project", "timm")
        if source is not None and source not in sources:
            raise BadValueError(f"--source {source!r} is not one of {', '.join(sources)}")
        kind = output_format(fmt, output)
        columns = ("name", "family", "source", "input_size", "options")
        chosen = export_options(kind, columns_, caption, columns)
        if source == "timm":
            records = [dict(name=name, family=family, source="timm", input_size=size, options="")
                       for name, family, size in convertible_models()]
        else:
            records = [dict(name=s.name, family=s.family, source=s.source, input_size=format_input_size(s.input_size),
                            options=",".join(s.options)) for s in model_specs() if source in (None, s.source)]
        what = "timm models that convert (timm:NAME)" if source == "timm" else \
            "supported models (custom: module:callable or file.py:callable; timm: --source timm)"

        def table():
            t = Table(title=what, title_justify="left")
            for column in columns:
                t.add_column(column)
            for r in records:
                t.add_row(*(str(r[c]) for c in columns))
            return t

        emit(records, columns, kind, output, table, chosen=chosen, caption=caption)

    run_command(action)
