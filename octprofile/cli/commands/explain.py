"""``octprofile explain``: time by kind of work, vanilla and Oct profiled on each backend."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from octprofile.cli import base
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
    Threads,
    WidthMult,
    design_of,
    parse_octave_alpha,
    positive,
    study_for,
    timing_options,
)
from octprofile.cli.output import checked_plot, emit, export_options, output_format, with_progress


def explain(
    model: ModelArg, alpha: OctAlphaOpt = "0.5",
    input_size: InputSize = None, batch_size: BatchSize = 1, width_mult: WidthMult = None,
    placement: PlacementOpt = Placement.reference, hl: HL = True, lh: LH = True,
    downsample: DownsampleOpt = Downsample.pool, low_multiple: LowMultiple = None,
    backend: Annotated[list[str], typer.Option(
        "--backend", metavar="NAME[,NAME...]",
        help="Backends to profile, each with its own profiler (all: every one installed).")] = ("eager",),
    device: DeviceOpt = Device.auto, threads: Threads = None, dtype: DTypeOpt = DType.float32,
    rounds: Annotated[int, typer.Option("--rounds", metavar="N",
                                        help="Interleaved rounds of the unprofiled timing.")] = 5,
    passes: Annotated[int, typer.Option("--passes", metavar="N", help="Profiled forward passes per model.")] = 5,
    fmt: FormatOpt = Format.table, output: OutputOpt = None,
    plot: Annotated[Path | None, typer.Option("--plot", metavar="FILE",
                                              help="Also draw time by kind and the roofline (.png or .svg).")
                    ] = None,
    columns: ColumnsOpt = None, caption: CaptionOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", show_default=False,
                                          help="Also list the ten slowest calls of each variant.")] = False,
) -> None:
    """Why fewer MACs are not less time: per kind of work (convs by path and kernel, pooling, upsampling,
    additions, reorders...), vanilla and Oct profiled on each backend, under this machine's roofline.

    Example: octprofile explain resnet50 --alpha 0.5 --backend eager,onnxruntime --threads 2
    """
    def action() -> None:
        from octprofile.report.files import AtomicFiles
        from octprofile.studies.explain import EXPLAIN_COLUMNS, explain_footer, explain_plot, explain_tables

        value = parse_octave_alpha(alpha, "explain")
        timing = timing_options(True, device, threads, dtype, backend, rounds)
        kind = output_format(fmt, output)
        chosen = export_options(kind, columns, caption, EXPLAIN_COLUMNS)
        plot_kind = checked_plot(plot, output)
        design = design_of(hl, lh, downsample, low_multiple)
        study = study_for(model, input_size, batch_size, width_mult, placement, design)
        result = with_progress(lambda p: study.explain(value, timing, passes=positive(passes, "--passes"),
                                                       progress=p))
        title = f"{result.model} at {result.input_shape[-1]}², batch {result.input_shape[0]}, α={value:g}"
        with AtomicFiles() as files:  # --output and --plot: both files or neither
            emit(result.records(), EXPLAIN_COLUMNS, kind, output, lambda: explain_tables(result, title),
                 explain_footer(result, verbose), chosen, caption or title + ": time by kind of work", files=files)
            if plot:
                files.write(plot, explain_plot(result, plot_kind))
        for path in files.written:
            base.err.print(f"wrote {path}", markup=False)

    run_command(action)
