"""``octprofile coverage``: which layers α touches, and why the others stay vanilla."""

from __future__ import annotations

from typing import Annotated

import typer

from octprofile.cli import base
from octprofile.cli.base import run_command
from octprofile.cli.options import (
    MODEL_HELP,
    CaptionOpt,
    ColumnsOpt,
    Format,
    FormatOpt,
    InputSize,
    OctAlphaOpt,
    OutputOpt,
    Placement,
    PlacementOpt,
    WidthMult,
    parse_octave_alpha,
    study_for,
)
from octprofile.cli.output import emit, export_options, output_format, with_progress
from octprofile.errors import BadValueError


def coverage(
    model: Annotated[str | None, typer.Argument(metavar="MODEL", help=MODEL_HELP, show_default=False)] = None,
    alpha: OctAlphaOpt = "0.5",
    input_size: InputSize = None, width_mult: WidthMult = None, placement: PlacementOpt = Placement.reference,
    fmt: FormatOpt = Format.table, output: OutputOpt = None,
    columns: ColumnsOpt = None, caption: CaptionOpt = None,
    source: Annotated[str | None, typer.Option(
        "--source", metavar="SOURCE", help="Instead of one MODEL, survey a zoo: timm's convolutional modules, "
                                          "one row per module (optional extra).")] = None,
    per_module: Annotated[int, typer.Option("--per-module", metavar="N",
                                            help="With --source: models per module, evenly spaced (0: all).")] = 3,
    modules: Annotated[str | None, typer.Option("--modules", metavar="M,M",
                                                help="With --source: only these modules.")] = None,
) -> None:
    """How much of the network α touches: each conv/linear layer, octave (α in→out) or vanilla and why (stem,
    last stage, classifier, pooled map, depthwise, unsupported kind), with its share of the vanilla MACs.

    With --source timm: which models of each of timm's convolutional modules convert (params equal, analytic MACs =
    FlopCounterMode ÷ 2), the refusals grouped by reason, and the share of the MACs α reaches (counted on the meta
    device at --input-size, default 64).

    Example: octprofile coverage timm:seresnet50 --alpha 0.5
    Example: octprofile coverage --source timm --modules efficientnet,mobilenetv3 --per-module 5
    """
    def action() -> None:
        if (model is None) == (source is None):
            raise BadValueError("give one MODEL, or --source timm for a zoo survey")
        if source is not None:
            return zoo(source)

        from octprofile.studies.coverage import COVERAGE_COLUMNS, coverage_footer, coverage_table

        value = parse_octave_alpha(alpha, "a coverage report")
        kind = output_format(fmt, output)
        chosen = export_options(kind, columns, caption, COVERAGE_COLUMNS)
        result = study_for(model, input_size, 1, width_mult, placement).coverage(value)
        title = (f"{result.model} α={value:g}, {result.placement} placement: which layers are octave "
                 "(% of MACs: share of the vanilla model's)")
        emit(result.records(), COVERAGE_COLUMNS, kind, output, lambda: coverage_table(result, title, base.out.width),
             coverage_footer(result), chosen, caption or title)

    def zoo(source: str) -> None:
        from octprofile.studies.coverage import ZOO_COLUMNS, ZOO_SIDE, zoo_coverage, zoo_footer, zoo_table

        value = parse_octave_alpha(alpha, "a coverage report")
        if input_size and not input_size.isdigit():
            raise BadValueError(f"--input-size {input_size!r}: the zoo survey takes one side in pixels")
        side = int(input_size) if input_size else ZOO_SIDE
        kind = output_format(fmt, output)
        chosen = export_options(kind, columns, caption, ZOO_COLUMNS)
        result = with_progress(lambda progress: zoo_coverage(
            source, value, modules.split(",") if modules else None, per_module, side, progress))
        title = f"{source} α={value:g}: which models convert, per module"
        emit(result.records(), ZOO_COLUMNS, kind, output, lambda: zoo_table(result, title, base.out.width),
             zoo_footer(result), chosen, caption or title)

    run_command(action)
