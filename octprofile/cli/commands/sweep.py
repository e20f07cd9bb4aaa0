"""``octprofile sweep``: one row per α."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from octprofile.cli.base import run_command
from octprofile.cli.options import (
    DEFAULT_ALPHAS,
    HL,
    LH,
    BackendOpt,
    BatchSize,
    Cache,
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
    Fvcore,
    InputSize,
    LowMultiple,
    ModelArg,
    OutputOpt,
    Placement,
    PlacementOpt,
    Repeat,
    Rounds,
    Threads,
    Time,
    Verbose,
    Wide,
    WidthMult,
    design_of,
    parse_alphas,
)
from octprofile.cli.profile_view import run_profile


def sweep(
    model: ModelArg,
    alphas: Annotated[list[str], typer.Option("--alphas", "--alpha", metavar="A[,A...]",
                                              help="α values in [0, 1), comma-separated or repeated.")
                      ] = (DEFAULT_ALPHAS,),
    input_size: InputSize = None, batch_size: BatchSize = 1, width_mult: WidthMult = None,
    placement: PlacementOpt = Placement.reference, hl: HL = True, lh: LH = True,
    downsample: DownsampleOpt = Downsample.pool, low_multiple: LowMultiple = None,
    time_: Time = True, backend: BackendOpt = ("eager",),
    device: DeviceOpt = Device.auto, threads: Threads = None, dtype: DTypeOpt = DType.float32, rounds: Rounds = 10,
    repeat: Repeat = 1, fvcore: Fvcore = True, cache: Cache = True, fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
    columns: ColumnsOpt = None, caption: CaptionOpt = None,
    plot: Annotated[Path | None, typer.Option("--plot", metavar="FILE",
                                              help="Also draw the ratios against α (FILE.png or FILE.svg).")] = None,
    verbose: Verbose = False, wide: Wide = False,
) -> None:
    """One row per α (α=0 is the vanilla model), with ratios and an optional plot.

    Example: octprofile sweep mobilenet_v2 --alphas 0,0.25,0.5 --no-time --plot sweep.png
    """
    def action() -> None:
        from octprofile.studies import sweep as use_case

        design = design_of(hl, lh, downsample, low_multiple)
        run_profile(use_case, model, parse_alphas(",".join(alphas)), False, input_size, batch_size, width_mult,
                    placement, design, time_, backend, device, threads, dtype, rounds, fvcore,
                    fmt, output, plot, verbose, wide, columns, caption, repeat, cache)

    run_command(action)
