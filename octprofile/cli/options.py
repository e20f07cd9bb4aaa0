"""The options commands share, each declared once (an ``Annotated`` alias; its default goes in the signature,
as Typer asks), their enums, and the parsers that check option values before any work starts."""

from __future__ import annotations

import math
import os
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from octprofile.backend_names import BACKEND_NAMES
from octprofile.errors import BadValueError

DEFAULT_ALPHAS = "0,0.125,0.25,0.5,0.75"
LIMITS = {"--batch-size": 2**20, "--input-size": 2**15, "--rounds": 10**6, "--passes": 10**6, "--repeat": 1000,
          "--low-multiple": 2**15}
MAX_WIDTH_MULT = 64.0


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"
    latex = "latex"


class Device(str, Enum):
    cpu = "cpu"
    cuda = "cuda"
    auto = "auto"


class DType(str, Enum):
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


class Placement(str, Enum):
    reference = "reference"
    everywhere = "everywhere"


class Downsample(str, Enum):  # octprofile.nn.DOWNSAMPLING
    pool = "pool"
    strided = "strided"


# ---- the shared options ----

MODEL_HELP = ("A supported name (see `octprofile models`), timm:NAME (optional extra), or module:callable / "
              "path/to/file.py:callable.")
ModelArg = Annotated[str, typer.Argument(metavar="MODEL", help=MODEL_HELP, show_default=False)]
InputSize = Annotated[str | None, typer.Option(
    "--input-size", metavar="SIZE",
    help="Input side in pixels, or every spatial size: T,H,W for a video model, L for a 1-d one (default: the "
         "model's).")]
BatchSize = Annotated[int, typer.Option("--batch-size", metavar="N", help="Batch size.")]
WidthMult = Annotated[float | None, typer.Option("--width-mult", metavar="X", help="Width multiplier (MobileNets).")]
PlacementOpt = Annotated[Placement, typer.Option(
    "--placement", help="reference: the paper's network; everywhere: every stage after the stem.")]
HL = Annotated[bool, typer.Option("--hl/--no-hl", show_default=False,
                                  help="Keep (default) or drop the H→L path of layers octave on both sides.")]
LH = Annotated[bool, typer.Option("--lh/--no-lh", show_default=False,
                                  help="Keep (default) or drop the L→H path of layers octave on both sides.")]
DownsampleOpt = Annotated[Downsample, typer.Option(
    "--downsample", help="How octave layers down-sample: pool (2×2 average, then the conv: the paper's choice) or "
                         "strided (the conv at stride 2).")]
LowMultiple = Annotated[str | None, typer.Option(
    "--low-multiple", metavar="N",
    help="Round every map's low-frequency channels to the nearest multiple of N (a tie to the even one; fewer "
         "than the map's channels; with a grouped conv, of the lcm with its groups) instead of floor(α·c), e.g. 8 "
         "or 16, a CPU's vector block; outputs name the design low-multiple-N (default: floor(α·c), the paper's).")]
DeviceOpt = Annotated[Device, typer.Option("--device", help="Timing device (auto: CUDA when available).")]
Time = Annotated[bool, typer.Option("--time/--no-time", show_default=False,
                                    help="Measure latency, vanilla and Oct interleaved (default), or not.")]
Fvcore = Annotated[bool, typer.Option("--fvcore/--no-fvcore", show_default=False,
                                      help="Cross-check with fvcore (default; traces a real model: slow), or not.")]
Cache = Annotated[bool, typer.Option(
    "--cache/--no-cache", show_default=False,
    help="Read the counts of an earlier run of the same model, α, design, input and versions from the count cache "
         "and keep new ones there (default; ~/.cache/octprofile/counts or OCTPROFILE_CACHE_DIR), or count afresh "
         "and leave the cache alone.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE",
                                                help="Write to this file (atomically) instead of stdout.")]
ColumnsOpt = Annotated[str | None, typer.Option(
    "--columns", metavar="NAME[,NAME...]",
    help="csv/json/markdown/latex: only these columns, in this order (default: csv/json every column, "
         "markdown/latex a compact set).")]
CaptionOpt = Annotated[str | None, typer.Option("--caption", metavar="TEXT",
                                                help="markdown/latex: the table's caption (default: its title).")]
Threads = Annotated[int | None, typer.Option(
    "--threads", metavar="N",
    help="CPU threads for timing (default: the cores free when timing starts, at most the physical cores; the "
         "footer says how many and why).")]
DTypeOpt = Annotated[DType, typer.Option("--dtype", help="Timing dtype (weights and input cast to it).")]
BackendOpt = Annotated[list[str], typer.Option(
    "--backend", metavar="NAME[,NAME...]",
    help="How every variant is prepared for timing, alike: plain (as built), eager (BN folded, channels_last, "
         "cached kernels; OctConv path fusion), compile (torch.compile), onnxruntime (ONNX export), openvino "
         "(OpenVINO CPU plugin; both optional extras). Several (repeat or comma-separate) are timed in the same "
         "rounds; all: every one installed.")]
AlphaOpt = Annotated[str, typer.Option("--alpha", metavar="A", help="Low-frequency ratio α in [0, 1).")]
OctAlphaOpt = Annotated[str, typer.Option("--alpha", metavar="A", help="Low-frequency ratio α in (0, 1).")]
Rounds = Annotated[int, typer.Option("--rounds", metavar="N", help="Interleaved timing rounds.")]
Repeat = Annotated[int, typer.Option(
    "--repeat", metavar="N",
    help="Independent timing runs, each preparing every variant afresh and timing --rounds rounds: the table adds "
         "how far apart the runs' ratios lie, and the verdict turns inconclusive when one run's IQR misses "
         "another's median.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", show_default=False,
                                       help="Explain every figure and list every timing warning.")]
Wide = Annotated[bool, typer.Option("--wide", show_default=False,
                                    help="Exact counts in the table (params to the unit).")]


# ---- parsing options into values (checked before any work starts) ----

def parse_backends(values: list[str]) -> tuple[str, ...] | str:
    """``--backend`` given once or more, each a name or a comma-separated list; ``all``: every one installed."""
    names = [name.strip() for value in values for name in value.split(",")]
    if names == ["all"]:
        return "all"
    if "all" in names:
        raise BadValueError(f"--backend all stands alone (it means every installed backend), got {', '.join(names)}")
    for name in names:
        if name not in BACKEND_NAMES:
            raise BadValueError(f"--backend {name!r} is not one of {', '.join(BACKEND_NAMES)} or all")
    if len(set(names)) != len(names):
        raise BadValueError(f"--backend repeats a backend: {', '.join(names)}")
    return tuple(names)


def parse_alpha(text: str, what: str = "--alpha") -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadValueError(f"{what} {text!r} is not a number; α must be in [0, 1)") from None
    if math.isnan(value) or not 0 <= value < 1:
        raise BadValueError(f"{what} {text} is outside [0, 1)")
    return value


def parse_octave_alpha(text: str, needs: str) -> float:
    """``--alpha`` of a command that puts an Oct model beside vanilla: in (0, 1)."""
    value = parse_alpha(text)
    if value == 0:
        raise BadValueError(f"--alpha 0 is the vanilla model; {needs} needs an α above 0")
    return value


def parse_alphas(text: str) -> list[float]:
    """α values given comma-separated (or repeated, joined by the caller), sorted, each once."""
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise BadValueError(f"--alphas {text!r} has an empty element; give a comma-separated list like "
                            f"{DEFAULT_ALPHAS}")
    return sorted(set(parse_alpha(item, "α value") for item in items))


def input_label(shape: tuple[int, ...]) -> str:
    """The input's spatial sizes for a title: '224²' for a square image, else '16×112×112' (or a length)."""
    sizes = shape[2:]
    return f"{sizes[0]}²" if len(sizes) == 2 and sizes[0] == sizes[1] else "×".join(map(str, sizes))


def parse_input_size(text: str | None) -> int | tuple[int, ...] | None:
    """``--input-size``: one side ('224'; a sequence's length), or every spatial size ('16,112,112' for T,H,W of
    a video; '160,224' for H,W), each a positive integer within LIMITS; the model then checks how many it takes."""
    if text is None:
        return None
    items = [item.strip() for item in str(text).split(",")]
    values = []
    for item in items:
        try:
            value = int(item)
        except ValueError:
            raise BadValueError(f"--input-size {text!r}: {item!r} is not an integer; give one side (224) or "
                                "T,H,W (16,112,112) or L") from None
        values.append(positive(value, "--input-size"))
    return values[0] if len(values) == 1 else tuple(values)


def positive(value: int | None, option: str) -> int | None:
    """A positive integer, and not absurd: huge values would overflow tensor sizes long before any memory check."""
    if value is not None and value <= 0:
        raise BadValueError(f"{option} must be a positive integer, got {value}")
    limit = LIMITS.get(option)
    if value is not None and limit is not None and value > limit:
        raise BadValueError(f"{option} {value} is above the largest octprofile accepts ({limit})")
    return value


def study_for(model: str, input_size: str | None, batch_size: int, width_mult: float | None,
              placement: Placement, design=None, cache: bool = True):
    from octprofile.nn import FULL
    from octprofile.study import Study, StudyOptions

    options = {}
    if width_mult is not None:
        if not math.isfinite(width_mult) or not 0 < width_mult <= MAX_WIDTH_MULT:
            raise BadValueError(f"--width-mult must be a positive number up to {MAX_WIDTH_MULT:g}, got {width_mult}")
        options["width_mult"] = width_mult
    return Study(model, StudyOptions(parse_input_size(input_size), positive(batch_size, "--batch-size"),
                                     placement.value, options, design=design or FULL, cache=cache))


def parse_low_multiple(text: str | None) -> int:
    """``--low-multiple``: a positive integer (1, the default when not given, keeps floor(α·c))."""
    if text is None:
        return 1
    try:
        value = int(text.strip())
    except ValueError:
        raise BadValueError(f"--low-multiple {text!r} is not an integer; give a positive one such as 8") from None
    return positive(value, "--low-multiple")


def design_of(hl: bool, lh: bool, downsample: Downsample, low_multiple: str | None = None):
    from octprofile.nn import OctDesign

    return OctDesign(hl, lh, downsample.value, parse_low_multiple(low_multiple))


def timing_options(time_: bool, device: Device, threads: int | None, dtype: DType, backends: list[str], rounds: int,
                   repeats: int = 1):
    from octprofile.runtime.context import resolve_device
    from octprofile.runtime.timing import TimingOptions

    resolved = resolve_device(device.value)  # refuses cuda without a GPU, even with --no-time
    chosen = parse_backends(backends)
    if not time_:
        return None
    positive(threads, "--threads")
    cores = os.cpu_count() or 1
    if threads is not None and threads > cores:
        raise BadValueError(f"--threads {threads} is more than the {cores} CPU cores of this machine")
    positive(rounds, "--rounds")
    positive(repeats, "--repeat")
    if dtype is DType.float16 and resolved.type != "cuda":
        raise BadValueError("--dtype float16 needs a CUDA GPU; on CPU use float32 or bfloat16")
    return TimingOptions(device=device.value, threads=threads, dtype=dtype.value, backends=chosen, rounds=rounds,
                         repeats=repeats)
