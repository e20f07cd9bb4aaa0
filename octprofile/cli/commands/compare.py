"""``octprofile compare``: vanilla vs Oct at one α."""

from __future__ import annotations

from octprofile.cli.base import run_command
from octprofile.cli.options import (
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
    OctAlphaOpt,
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
    parse_octave_alpha,
)
from octprofile.cli.profile_view import run_profile


def compare(
    model: ModelArg, alpha: OctAlphaOpt = "0.5",
    input_size: InputSize = None, batch_size: BatchSize = 1, width_mult: WidthMult = None,
    placement: PlacementOpt = Placement.reference, hl: HL = True, lh: LH = True,
    downsample: DownsampleOpt = Downsample.pool, low_multiple: LowMultiple = None,
    time_: Time = True, backend: BackendOpt = ("eager",),
    device: DeviceOpt = Device.auto, threads: Threads = None, dtype: DTypeOpt = DType.float32, rounds: Rounds = 10,
    repeat: Repeat = 1, fvcore: Fvcore = True, cache: Cache = True, fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
    columns: ColumnsOpt = None, caption: CaptionOpt = None, verbose: Verbose = False, wide: Wide = False,
) -> None:
    """Vanilla vs Oct side by side: params, MACs (3 counters), activations, latency, peak memory.

    Example: octprofile compare resnet50 --alpha 0.5 --no-time --format json
    """
    def action() -> None:
        from octprofile.studies import compare as use_case

        design = design_of(hl, lh, downsample, low_multiple)
        run_profile(use_case, model, [parse_octave_alpha(alpha, "compare")], True, input_size, batch_size,
                    width_mult, placement, design, time_, backend, device, threads, dtype,
                    rounds, fvcore, fmt, output, verbose=verbose, wide=wide, columns=columns, caption=caption,
                    repeats=repeat, cache=cache)

    run_command(action)
