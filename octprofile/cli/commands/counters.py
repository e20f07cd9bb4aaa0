"""``octprofile counters``: every MAC counter beside the analytic count."""

from __future__ import annotations

from octprofile.cli import base
from octprofile.cli.base import run_command
from octprofile.cli.options import (
    HL,
    LH,
    CaptionOpt,
    ColumnsOpt,
    Downsample,
    DownsampleOpt,
    Format,
    FormatOpt,
    Fvcore,
    InputSize,
    LowMultiple,
    ModelArg,
    OctAlphaOpt,
    OutputOpt,
    Placement,
    PlacementOpt,
    WidthMult,
    design_of,
    input_label,
    parse_octave_alpha,
    study_for,
)
from octprofile.cli.output import emit, export_options, output_format


def counters(
    model: ModelArg, alpha: OctAlphaOpt = "0.5",
    input_size: InputSize = None, width_mult: WidthMult = None,
    placement: PlacementOpt = Placement.reference, hl: HL = True, lh: LH = True,
    downsample: DownsampleOpt = Downsample.pool, low_multiple: LowMultiple = None,
    fvcore: Fvcore = True, fmt: FormatOpt = Format.table, output: OutputOpt = None,
    columns: ColumnsOpt = None, caption: CaptionOpt = None,
) -> None:
    """Every counter beside the analytic count (FlopCounterMode, fvcore, ptflops, thop, torchinfo, torchvision's
    published figures), vanilla and Oct at batch 1, each difference explained by op kind and the residual.

    Example: octprofile counters resnet18 --alpha 0.5 --format csv
    """
    def action() -> None:
        from octprofile.studies.counters import COUNTER_COLUMNS, counters_footer, counters_table

        value = parse_octave_alpha(alpha, "a counter comparison")
        kind = output_format(fmt, output)
        chosen = export_options(kind, columns, caption, COUNTER_COLUMNS)
        study = study_for(model, input_size, 1, width_mult, placement, design_of(hl, lh, downsample, low_multiple))
        result = study.counters(value, fvcore=fvcore)
        title = f"{study.model.name} at {input_label(result.input_shape)}, α={value:g}: counters vs the analytic count"
        emit(result.records(), COUNTER_COLUMNS, kind, output, lambda: counters_table(result, title),
             counters_footer(result), chosen, caption or title)
        for message in result.missing.values():
            base.err.print(message, markup=False, highlight=False)

    run_command(action)
