"""``octprofile blocks``: time per block, vanilla vs Oct."""

from __future__ import annotations

from typing import Annotated

import typer

from octprofile.cli.base import run_command
from octprofile.cli.options import (
    HL,
    LH,
    BatchSize,
    CaptionOpt,
    ColumnsOpt,
    Device,
    DeviceOpt,
    Downsample,
    DownsampleOpt,
    DType,
    DTypeOpt,
    Format,
    FormatOpt,
    InputSize,
    LowMultiple,
    ModelArg,
    OctAlphaOpt,
    OutputOpt,
    Placement,
    PlacementOpt,
    Rounds,
    Threads,
    Verbose,
    WidthMult,
    design_of,
    input_label,
    parse_octave_alpha,
    positive,
    study_for,
    timing_options,
)
from octprofile.cli.output import emit, export_options, output_format, with_progress


def blocks(
    model: ModelArg, alpha: OctAlphaOpt = "0.5",
    input_size: InputSize = None, batch_size: BatchSize = 1, width_mult: WidthMult = None,
    placement: PlacementOpt = Placement.reference, hl: HL = True, lh: LH = True,
    downsample: DownsampleOpt = Downsample.pool, low_multiple: LowMultiple = None,
    backend: Annotated[str, typer.Option("--backend", metavar="NAME",
                                         help="plain or eager (backends that run block by block).")] = "eager",
    device: DeviceOpt = Device.auto, threads: Threads = None, dtype: DTypeOpt = DType.float32, rounds: Rounds = 10,
    passes: Annotated[int, typer.Option("--passes", metavar="N", help="Forward passes per model per round.")] = 5,
    fmt: FormatOpt = Format.table, output: OutputOpt = None,
    columns: ColumnsOpt = None, caption: CaptionOpt = None, verbose: Verbose = False,
) -> None:
    """Where the time goes: per block (e.g. each bottleneck), MAC ratio vs time ratio and the excess ms.

    Example: octprofile blocks resnet50 --alpha 0.5 --backend eager --threads 2
    """
    def action() -> None:
        from octprofile.studies.blocks import BLOCK_COLUMNS, blocks_footer, blocks_table

        value = parse_octave_alpha(alpha, "per-block timing")
        timing = timing_options(True, device, threads, dtype, [backend], rounds)
        kind = output_format(fmt, output)
        chosen = export_options(kind, columns, caption, BLOCK_COLUMNS)
        design = design_of(hl, lh, downsample, low_multiple)
        study = study_for(model, input_size, batch_size, width_mult, placement, design)
        result = with_progress(lambda p: study.blocks(value, timing, passes=positive(passes, "--passes"),
                                                      progress=p))
        title = (f"{result.model} at {input_label(result.input_shape)}, batch {result.input_shape[0]}, α={value:g}: "
                 "time per block, vanilla vs Oct")
        emit(result.records(), BLOCK_COLUMNS, kind, output, lambda: blocks_table(result, title),
             blocks_footer(result, verbose), chosen, caption or title)

    run_command(action)
