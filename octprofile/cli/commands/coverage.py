"""``octprofile coverage``: which layers α touches, and why the others stay vanilla."""

from __future__ import annotations

from octprofile.cli import base
from octprofile.cli.base import run_command
from octprofile.cli.options import (
    CaptionOpt,
    ColumnsOpt,
    Format,
    FormatOpt,
    InputSize,
    ModelArg,
    OctAlphaOpt,
    OutputOpt,
    Placement,
    PlacementOpt,
    WidthMult,
    parse_octave_alpha,
    study_for,
)
from octprofile.cli.output import emit, export_options, output_format


def coverage(
    model: ModelArg, alpha: OctAlphaOpt = "0.5",
    input_size: InputSize = None, width_mult: WidthMult = None, placement: PlacementOpt = Placement.reference,
    fmt: FormatOpt = Format.table, output: OutputOpt = None,
    columns: ColumnsOpt = None, caption: CaptionOpt = None,
) -> None:
    """How much of the network α touches: each conv/linear layer, octave (α in→out) or vanilla and why (stem,
    last stage, classifier, pooled map, depthwise, unsupported kind), with its share of the vanilla MACs.

    Example: octprofile coverage timm:seresnet50 --alpha 0.5
    """
    def action() -> None:
        from octprofile.studies.coverage import COVERAGE_COLUMNS, coverage_footer, coverage_table

        value = parse_octave_alpha(alpha, "a coverage report")
        kind = output_format(fmt, output)
        chosen = export_options(kind, columns, caption, COVERAGE_COLUMNS)
        result = study_for(model, input_size, 1, width_mult, placement).coverage(value)
        title = (f"{result.model} α={value:g}, {result.placement} placement: which layers are octave "
                 "(% of MACs: share of the vanilla model's)")
        emit(result.records(), COVERAGE_COLUMNS, kind, output, lambda: coverage_table(result, title, base.out.width),
             coverage_footer(result), chosen, caption or title)

    run_command(action)
