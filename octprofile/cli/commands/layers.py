"""``octprofile layers``: MACs per conv/linear layer and per octave path."""

from __future__ import annotations

from typing import Annotated

import typer

from octprofile.cli import base
from octprofile.cli.base import run_command
from octprofile.cli.options import (
    HL,
    LH,
    AlphaOpt,
    BatchSize,
    CaptionOpt,
    ColumnsOpt,
    Downsample,
    DownsampleOpt,
    Format,
    FormatOpt,
    InputSize,
    LowMultiple,
    ModelArg,
    OutputOpt,
    Placement,
    PlacementOpt,
    WidthMult,
    design_of,
    parse_alpha,
    study_for,
)
from octprofile.cli.output import emit, export_options, output_format
from octprofile.errors import BadValueError


def layers(
    model: ModelArg, alpha: AlphaOpt = "0.5",
    input_size: InputSize = None, batch_size: BatchSize = 1, width_mult: WidthMult = None,
    placement: PlacementOpt = Placement.reference, hl: HL = True, lh: LH = True,
    downsample: DownsampleOpt = Downsample.pool, low_multiple: LowMultiple = None,
    depth: Annotated[int, typer.Option("--depth", metavar="N",
                                       help="Sum layers by the first N parts of their names (1: stages; "
                                            "0: every layer).")] = 0,
    wide: Annotated[bool, typer.Option("--wide", show_default=False,
                                       help="Also vanilla MACs, theory, share, activations, params, "
                                            "output shape.")] = False,
    fmt: FormatOpt = Format.table, output: OutputOpt = None,
    columns: ColumnsOpt = None, caption: CaptionOpt = None,
) -> None:
    """One row per conv/linear layer: MACs per path (H→H, H→L, L→H, L→L) beside the vanilla layer and theory.

    Example: octprofile layers resnet50 --alpha 0.5 --format csv --output layers.csv
    """
    def action() -> None:
        from dataclasses import asdict

        from octprofile.nn import rounding_note
        from octprofile.report.cells import not_converted_lines
        from octprofile.studies.layers import LAYER_COLUMNS, layers_table

        value = parse_alpha(alpha)
        if depth < 0:
            raise BadValueError(f"--depth must be 0 (every layer) or more, got {depth}")
        kind = output_format(fmt, output)
        chosen = export_options(kind, columns, caption, LAYER_COLUMNS)
        design = design_of(hl, lh, downsample, low_multiple)
        result = study_for(model, input_size, batch_size, width_mult, placement, design).layers(value)
        title = (f"{result.model} α={value:g}{'' if design.is_full else ', ' + design.name}, "
                 f"{f'summed to depth {depth}' if depth else 'per layer'} (MACs: multiply-accumulates; s: stride)")
        records = [asdict(row) for row in result.rollup(depth)] if depth else result.records()
        notes = [*not_converted_lines(result.not_converted), *filter(None, [rounding_note(design.low_multiple)])]
        emit(records, LAYER_COLUMNS, kind, output, lambda: layers_table(result, title, depth, wide, base.out.width),
             "\n".join(notes), chosen, caption or title, natural_width=wide)

    run_command(action)
