"""``octprofile train``: the cost of one training step, vanilla vs Oct."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from octprofile.cli import base
from octprofile.cli.base import run_command
from octprofile.cli.options import (
    HL,
    LH,
    CaptionOpt,
    ColumnsOpt,
    Device,
    DeviceOpt,
    Downsample,
    DownsampleOpt,
    DType,
    Format,
    FormatOpt,
    InputSize,
    LowMultiple,
    ModelArg,
    OutputOpt,
    Placement,
    PlacementOpt,
    Threads,
    Verbose,
    WidthMult,
    design_of,
    input_label,
    parse_alphas,
    study_for,
    timing_options,
)
from octprofile.cli.output import checked_plot, emit, export_options, output_format, with_progress
from octprofile.errors import BadValueError


def train(
    model: ModelArg,
    alpha: Annotated[list[str], typer.Option(
        "--alpha", "--alphas", metavar="A[,A...]",
        help="α in (0, 1): one for vanilla vs Oct, or several (comma-separated or repeated) for a sweep.")
                     ] = ("0.5",),
    input_size: InputSize = None,
    batch_size: Annotated[int, typer.Option("--batch-size", metavar="N",
                                            help="Batch size of the training step.")] = 32,
    width_mult: WidthMult = None, placement: PlacementOpt = Placement.reference, hl: HL = True, lh: LH = True,
    downsample: DownsampleOpt = Downsample.pool, low_multiple: LowMultiple = None,
    optimizer: Annotated[str, typer.Option("--optimizer", metavar="NAME",
                                           help="sgd (momentum 0.9, weight decay 1e-4) or adamw.")] = "sgd",
    measure: Annotated[bool, typer.Option(
        "--measure/--no-measure", show_default=False,
        help="Run real steps: time them (interleaved) and measure their memory (default), or count only.")] = True,
    memory: Annotated[str | None, typer.Option(
        "--memory", metavar="SIZE",
        help="Memory budget, e.g. 16GiB or 512MiB (default: this device's free memory): steps that would not fit "
             "are refused; the largest batch that fits is reported.")] = None,
    confirm_batch: Annotated[bool, typer.Option(
        "--confirm-batch", show_default=False,
        help="Also run one measured step at the largest batch that fits.")] = False,
    device: DeviceOpt = Device.auto, threads: Threads = None,
    rounds: Annotated[int, typer.Option("--rounds", metavar="N",
                                        help="Interleaved rounds of one step per variant.")] = 5,
    fmt: FormatOpt = Format.table, output: OutputOpt = None, columns: ColumnsOpt = None,
    caption: CaptionOpt = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", metavar="FILE",
        help="Also draw peak training memory and step time against α (FILE.png or FILE.svg).")] = None,
    verbose: Verbose = False,
) -> None:
    """Training cost, vanilla vs Oct: forward + backward MACs, time of one optimizer step, peak memory (saved
    activations per frequency, weights, gradients, optimizer state) and the largest batch that fits.

    Example: octprofile train resnet50 --alpha 0.5 --batch-size 32 --memory 16GiB
    """
    def action() -> None:
        from octprofile.report.files import AtomicFiles
        from octprofile.runtime.budget import parse_memory
        from octprofile.runtime.training import StepOptions
        from octprofile.studies.train import (
            TRAINING_COLUMNS,
            training_footer,
            training_plot,
            training_plot_title,
            training_table,
        )

        values = parse_alphas(",".join(alpha))
        if 0.0 in values:
            raise BadValueError("--alpha 0 is the vanilla model, always included; give α values above 0")
        if optimizer not in ("sgd", "adamw"):
            raise BadValueError(f"--optimizer {optimizer!r} is not one of sgd, adamw")
        budget = parse_memory(memory) if memory is not None else None
        timing = timing_options(measure, device, threads, DType.float32, ["plain"], rounds)
        steps = StepOptions(device=device.value, threads=threads, rounds=rounds) if timing else None
        kind = output_format(fmt, output)
        chosen = export_options(kind, columns, caption, TRAINING_COLUMNS)
        plot_kind = checked_plot(plot, output)
        design = design_of(hl, lh, downsample, low_multiple)
        study = study_for(model, input_size, batch_size, width_mult, placement, design)
        names = ("vanilla", "oct") if len(values) == 1 else None
        result = with_progress(lambda p: study.train_sweep([0.0, *values], optimizer=optimizer, steps=steps,
                                                           memory_budget=budget, confirm_batch=confirm_batch,
                                                           progress=p, variant_names=names))
        title = (f"{study.model.name} at {input_label(result.input_shape)}, batch {result.input_shape[0]}, "
                 f"{optimizer}: one training step")
        with AtomicFiles() as files:  # --output and --plot: both files or neither
            emit(result.records(), TRAINING_COLUMNS, kind, output, lambda: training_table(result, title),
                 training_footer(result, verbose), chosen, caption or title, files=files)
            if plot:
                files.write(plot, training_plot(result, training_plot_title(result), plot_kind))
        for path in files.written:
            base.err.print(f"wrote {path}", markup=False)

    run_command(action)
