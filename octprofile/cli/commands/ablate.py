"""``octprofile ablate``: the paper's ablation of the octave paths."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group

from octprofile.cli.base import partial_on_interrupt, run_command
from octprofile.cli.options import (
    BackendOpt,
    BatchSize,
    Cache,
    CaptionOpt,
    ColumnsOpt,
    Device,
    DeviceOpt,
    DType,
    DTypeOpt,
    Format,
    FormatOpt,
    Fvcore,
    InputSize,
    ModelArg,
    OctAlphaOpt,
    OutputOpt,
    Placement,
    PlacementOpt,
    Rounds,
    Threads,
    Time,
    Verbose,
    WidthMult,
    input_label,
    parse_octave_alpha,
    study_for,
    timing_options,
)
from octprofile.cli.output import emit, export_options, output_format, with_progress


def ablate(
    model: ModelArg, alpha: OctAlphaOpt = "0.5",
    variants: Annotated[str, typer.Option(
        "--variants", metavar="NAME[,NAME...]",
        help="Comma-separated designs: full, no-hl, no-lh, no-exchange, strided, or '+' combinations "
             "(no-hl+strided); full is always included.")] = "full,no-hl,no-lh,no-exchange,strided",
    input_size: InputSize = None, batch_size: BatchSize = 1, width_mult: WidthMult = None,
    placement: PlacementOpt = Placement.reference, time_: Time = True, backend: BackendOpt = ("eager",),
    device: DeviceOpt = Device.auto, threads: Threads = None, dtype: DTypeOpt = DType.float32, rounds: Rounds = 10,
    fvcore: Fvcore = True, cache: Cache = True, fmt: FormatOpt = Format.table, output: OutputOpt = None,
    columns: ColumnsOpt = None, caption: CaptionOpt = None, verbose: Verbose = False,
) -> None:
    """The paper's ablation: full OctConv, without H→L, without L→H, without both, strided down-sampling;
    each against vanilla and against the full OctConv.

    Example: octprofile ablate resnet50 --alpha 0.125 --no-time
    """
    def action() -> None:
        from octprofile.nn import OctDesign
        from octprofile.studies.ablate import ABLATION_COLUMNS, ablation_footer, ablation_latency_table, ablation_table

        value = parse_octave_alpha(alpha, "an ablation")
        designs = [OctDesign.parse(name.strip()) for name in variants.split(",")]
        timing = timing_options(time_, device, threads, dtype, backend, rounds)
        kind = output_format(fmt, output)
        chosen = export_options(kind, columns, caption, ABLATION_COLUMNS)
        study = study_for(model, input_size, batch_size, width_mult, placement, cache=cache)

        def show(result, destination: Path | None, partial: str = "") -> None:
            shape = result.sweep.input_shape
            title = (f"{study.model.name} at {input_label(shape)}, batch {shape[0]}, "
                     f"α={value:g}: OctConv ablation{partial}")
            tables = [ablation_table(result, title), *([ablation_latency_table(result)] if result.sweep.timed else [])]
            emit(result.records(), ABLATION_COLUMNS, kind, destination, lambda: Group(*tables),
                 ablation_footer(result, verbose), chosen, caption or title)

        with partial_on_interrupt(lambda result, note: show(result, None, note)):
            result = with_progress(lambda p: study.ablate(value, designs, fvcore=fvcore, timing=timing, progress=p))
        show(result, output)

    run_command(action)
