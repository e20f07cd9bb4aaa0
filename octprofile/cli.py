"""The command line: each command parses its options into a study request, calls the study, renders.

Failures the user can fix (``OctprofileError``) print their message verbatim and exit 2; anything else is
a bug, reported as an internal error in one line (``--debug`` shows the traceback) with exit 3.
"""

from __future__ import annotations

import math
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console, Group
from rich.markup import escape

from octprofile.errors import BadValueError, OctprofileError

app = typer.Typer(help="What Octave Convolution really buys on a backbone: params, MACs (multiply-accumulates), "
                  "activation memory and latency, vanilla vs Oct.", no_args_is_help=True,
                  pretty_exceptions_enable=False, rich_markup_mode=None)  # plain help: wraps, never cuts


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """Rich would exit 1 here; let main() end quietly with BROKEN_PIPE_EXIT instead."""
        self.quiet = True
        raise BrokenPipeError


# A terminal, or an explicit COLUMNS, sets the width; piped output without COLUMNS gets room for every number.
out = _Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 220)
err = _Console(stderr=True, width=None if sys.stderr.isatty() or "COLUMNS" in os.environ else 220)
STATE = {"debug": False}
DEFAULT_ALPHAS = "0,0.125,0.25,0.5,0.75"
INTERNAL_ERROR_EXIT = 3
INTERRUPTED_EXIT = 130  # 128 + SIGINT
BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE, what a C tool killed by the closed pipe returns
LIMITS = {"--batch-size": 2**20, "--input-size": 2**15, "--rounds": 10**6, "--passes": 10**6}
MAX_WIDTH_MULT = 64.0
SUFFIX_FORMATS = {".csv": "csv", ".json": "json", ".md": "markdown", ".markdown": "markdown", ".tex": "latex"}


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


# octprofile.runtime.prepare.BACKENDS, named here so that parsing needs no torch import
BACKEND_NAMES = ("plain", "eager", "compile", "onnxruntime", "openvino")


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


def _run(action: Callable[[], int | None]) -> None:
    """Run a command body; map what escapes it to one line on stderr and an exit code."""
    try:
        code = action()
    except typer.Exit:
        raise
    except KeyboardInterrupt as interrupted:  # partial_on_interrupt has shown what finished, if anything did
        err.print(str(interrupted) or "interrupted", highlight=False, markup=False)
        STATE["interrupt_reported"] = True
        raise typer.Exit(INTERRUPTED_EXIT) from None
    except BrokenPipeError:
        exit_quietly_on_closed_pipe()  # the reader went away (before Click turns it into a quiet exit 1)
    except OctprofileError as error:
        if STATE["debug"]:
            traceback.print_exc()
        err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(error.exit_code) from None
    except Exception as error:  # noqa: BLE001 - a bug, not bad input: say so, never blame the user
        if STATE["debug"]:
            traceback.print_exc()
        first_line = str(error).splitlines()[0] if str(error) else ""
        err.print(f"[bold red]internal error:[/] {type(error).__name__}: {escape(first_line)} "
                  "(this is a bug in octprofile; rerun with --debug for the traceback)",
                  highlight=False, soft_wrap=True)
        raise typer.Exit(INTERNAL_ERROR_EXIT) from None
    if code:
        raise typer.Exit(code)


@contextmanager
def partial_on_interrupt(show: Callable[[object, str], None]) -> Iterator[None]:
    """On Ctrl-C during a study, ``show(partial_result, title_note)`` what finished, on stdout and in the
    format asked (never into --output or --plot files, which stay all-or-nothing), then end as interrupted."""
    try:
        yield
    except KeyboardInterrupt as stop:  # a StudyInterrupted carries what finished
        partial = getattr(stop, "result", None)
        if partial is None:
            raise
        show(partial, f" (PARTIAL: {stop})")
        raise KeyboardInterrupt(f"{stop}; the partial result above is all that finished, no file was written"
                                ) from None


# ---- parsing options into values (checked before any work starts) ----

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


def output_format(fmt: Format, output: Path | None) -> str:
    from octprofile.report.files import check_writable

    if output is None:
        return fmt.value
    check_writable(output)
    if fmt is not Format.table:
        return fmt.value
    inferred = SUFFIX_FORMATS.get(output.suffix.lower())
    if inferred is None:
        raise BadValueError(f"cannot tell the format of {str(output)!r}; pass --format csv|json|markdown|latex")
    return inferred


def study_for(model: str, input_size: str | None, batch_size: int, width_mult: float | None,
              placement: Placement, design=None):
    from octprofile.nn import FULL
    from octprofile.study import Study, StudyOptions

    options = {}
    if width_mult is not None:
        if not math.isfinite(width_mult) or not 0 < width_mult <= MAX_WIDTH_MULT:
            raise BadValueError(f"--width-mult must be a positive number up to {MAX_WIDTH_MULT:g}, got {width_mult}")
        options["width_mult"] = width_mult
    return Study(model, StudyOptions(parse_input_size(input_size), positive(batch_size, "--batch-size"),
                                     placement.value, options, design=design or FULL))


def design_of(hl: bool, lh: bool, downsample: Downsample):
    from octprofile.nn import OctDesign

    return OctDesign(hl, lh, downsample.value)


def timing_options(time_: bool, device: Device, threads: int | None, dtype: DType, backends: list[str], rounds: int):
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
    if dtype is DType.float16 and resolved.type != "cuda":
        raise BadValueError("--dtype float16 needs a CUDA GPU; on CPU use float32 or bfloat16")
    return TimingOptions(device=device.value, threads=threads, dtype=dtype.value, backends=chosen, rounds=rounds)


# ---- rendering ----

def export_options(fmt: str, columns: str | None, caption: str | None, available) -> tuple[str, ...] | None:
    """--columns and --caption checked before any work: the names chosen, or None for the format's default."""
    from octprofile.report.formats import CAPTIONED, choose_columns

    if columns is not None and fmt == "table":
        raise BadValueError("--columns applies to --format csv|json|markdown|latex, not to the table")
    if caption is not None and fmt not in CAPTIONED:
        raise BadValueError("--caption applies to --format markdown|latex")
    return choose_columns(available, columns)


def emit(records: list[dict], columns, fmt: str, output: Path | None, table: Callable, footer: str = "",
         chosen: tuple[str, ...] | None = None, caption: str | None = None, natural_width: bool = False,
         files=None) -> None:
    """The table (and footer) on stdout, or the records (``chosen`` columns) in a file format; ``natural_width``:
    print the table as wide as it needs (--wide), never cut to the terminal. ``files`` (an ``AtomicFiles``):
    stage the output there, to be renamed into place with the command's other outputs."""
    from rich.measure import Measurement

    from octprofile.report.files import atomic_write
    from octprofile.report.formats import render_rows

    if fmt == "table":
        rendered = table()
        needed = Measurement.get(out, out.options.update(width=10**4), rendered).maximum if natural_width else 0
        # Console.print never goes wider than its console: a wider one on the same stream
        console = out if needed <= out.width else Console(file=out.file, width=needed, color_system=out.color_system,
                                                          force_terminal=out.is_terminal)
        if console.is_terminal:
            console.print(rendered)
        else:  # a file or pipe: no padding to the full width
            with console.capture() as captured:
                console.print(rendered)
            sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
        if footer:
            out.print(footer, highlight=False, markup=False)  # names from user code may hold brackets
        return
    text = render_rows(records, columns, fmt, chosen, caption)
    if output is None:
        sys.stdout.write(text)
    elif files is not None:
        files.write(output, text)
    else:
        atomic_write(output, text)
        err.print(f"wrote {output}", markup=False)


def checked_plot(plot: Path | None, output: Path | None) -> str | None:
    """--plot checked before any work (not the --output file, .png or .svg, writable): its format, or None."""
    from octprofile.report.files import check_distinct, check_writable
    from octprofile.report.plots import plot_format

    check_distinct({"--output": output, "--plot": plot})
    if plot is None:
        return None
    kind = plot_format(plot)
    check_writable(plot)
    return kind


def with_progress(work: Callable):
    from octprofile.report.progress import progress_callback

    with progress_callback(err) as update:
        return work(update)


# ---- commands ----

MODEL_HELP = ("A supported name (see `octprofile models`), timm:NAME (optional extra), or module:callable / "
              "path/to/file.py:callable.")
ModelArg = typer.Argument(..., metavar="MODEL", help=MODEL_HELP, show_default=False)
InputSize = typer.Option(None, "--input-size", metavar="SIZE",
                         help="Input side in pixels, or every spatial size: T,H,W for a video model, L for a 1-d "
                              "one (default: the model's).")
BatchSize = typer.Option(1, "--batch-size", metavar="N", help="Batch size.")
WidthMult = typer.Option(None, "--width-mult", metavar="X", help="Width multiplier (MobileNets).")
PlacementOpt = typer.Option(Placement.reference, "--placement",
                            help="reference: the paper's network; everywhere: every stage after the stem.")
HL = typer.Option(True, "--hl/--no-hl", show_default=False,
                  help="Keep (default) or drop the H→L path of layers octave on both sides.")
LH = typer.Option(True, "--lh/--no-lh", show_default=False,
                  help="Keep (default) or drop the L→H path of layers octave on both sides.")
DownsampleOpt = typer.Option(Downsample.pool, "--downsample",
                             help="How octave layers down-sample: pool (2×2 average, then the conv: the paper's "
                                  "choice) or strided (the conv at stride 2).")
DeviceOpt = typer.Option(Device.auto, "--device", help="Timing device (auto: CUDA when available).")
Time = typer.Option(True, "--time/--no-time", show_default=False,
                    help="Measure latency, vanilla and Oct interleaved (default), or not.")
Fvcore = typer.Option(True, "--fvcore/--no-fvcore", show_default=False,
                      help="Cross-check with fvcore (default; traces a real model: slow), or not.")
FormatOpt = typer.Option(Format.table, "--format", "-f", help="Output format.")
OutputOpt = typer.Option(None, "--output", "-o", metavar="FILE",
                         help="Write to this file (atomically) instead of stdout.")
ColumnsOpt = typer.Option(None, "--columns", metavar="NAME[,NAME...]",
                          help="csv/json/markdown/latex: only these columns, in this order (default: csv/json "
                               "every column, markdown/latex a compact set).")
CaptionOpt = typer.Option(None, "--caption", metavar="TEXT",
                          help="markdown/latex: the table's caption (default: its title).")
Threads = typer.Option(None, "--threads", metavar="N", help="CPU threads for timing (default: all cores).")
DTypeOpt = typer.Option(DType.float32, "--dtype", help="Timing dtype (weights and input cast to it).")
BackendOpt = typer.Option(["eager"], "--backend", metavar="NAME[,NAME...]",
                          help="How every variant is prepared for timing, alike: plain (as built), eager (BN "
                               "folded, channels_last, cached kernels; OctConv path fusion), compile "
                               "(torch.compile), onnxruntime (ONNX export), openvino (OpenVINO CPU plugin; both "
                               "optional extras). Several "
                               "(repeat or comma-separate) are timed in the same rounds; all: every one installed.")
AlphaOpt = typer.Option("0.5", "--alpha", metavar="A", help="Low-frequency ratio α in [0, 1).")
OctAlphaOpt = typer.Option("0.5", "--alpha", metavar="A", help="Low-frequency ratio α in (0, 1).")
Rounds = typer.Option(10, "--rounds", metavar="N", help="Interleaved timing rounds.")
Verbose = typer.Option(False, "--verbose", "-v", show_default=False,
                       help="Explain every figure and list every timing warning.")
Wide = typer.Option(False, "--wide", show_default=False, help="Exact counts in the table (params to the unit).")


def print_version(asked: bool) -> None:
    if asked:
        from octprofile import __version__  # the package's __init__ is lazy: this does not import torch

        out.print(f"octprofile {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main_callback(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
                  version: bool = typer.Option(False, "--version", callback=print_version, is_eager=True,
                                               help="Print the version and exit.")) -> None:
    STATE["debug"] = debug


@app.command()
def models(fmt: Format = FormatOpt, output: Path | None = OutputOpt, columns_: str | None = ColumnsOpt,
           caption: str | None = CaptionOpt,
           source: str | None = typer.Option(None, "--source", metavar="SOURCE",
                                             help="Only the models of one source: torchvision, project, or timm "
                                                  "(the timm models octprofile converts; optional extra)."),
           ) -> None:
    """List the supported backbones with family, source and default input size.

    Example: octprofile models --source timm --format csv
    """
    def action() -> None:
        from rich.table import Table

        from octprofile.models import model_specs
        from octprofile.models.input_size import format_input_size
        from octprofile.models.timm_source import convertible_models

        sources = ("torchvision", "project", "timm")
        if source is not None and source not in sources:
            raise BadValueError(f"--source {source!r} is not one of {', '.join(sources)}")
        kind = output_format(fmt, output)
        columns = ("name", "family", "source", "input_size", "options")
        chosen = export_options(kind, columns_, caption, columns)
        if source == "timm":
            records = [dict(name=name, family=family, source="timm", input_size=size, options="")
                       for name, family, size in convertible_models()]
        else:
            records = [dict(name=s.name, family=s.family, source=s.source, input_size=format_input_size(s.input_size),
                            options=",".join(s.options)) for s in model_specs() if source in (None, s.source)]
        what = "timm models that convert (timm:NAME)" if source == "timm" else \
            "supported models (custom: module:callable or file.py:callable; timm: --source timm)"

        def table():
            t = Table(title=what, title_justify="left")
            for column in columns:
                t.add_column(column)
            for r in records:
                t.add_row(*(str(r[c]) for c in columns))
            return t

        emit(records, columns, kind, output, table, chosen=chosen, caption=caption)

    _run(action)


@app.command()
def compare(
    model: str = ModelArg, alpha: str = OctAlphaOpt,
    input_size: str | None = InputSize, batch_size: int = BatchSize, width_mult: float | None = WidthMult,
    placement: Placement = PlacementOpt, hl: bool = HL, lh: bool = LH, downsample: Downsample = DownsampleOpt,
    time_: bool = Time, backend: list[str] = BackendOpt,
    device: Device = DeviceOpt, threads: int | None = Threads, dtype: DType = DTypeOpt, rounds: int = Rounds,
    fvcore: bool = Fvcore, fmt: Format = FormatOpt, output: Path | None = OutputOpt,
    columns: str | None = ColumnsOpt, caption: str | None = CaptionOpt, verbose: bool = Verbose, wide: bool = Wide,
) -> None:
    """Vanilla vs Oct side by side: params, MACs (3 counters), activations, latency, peak memory.

    Example: octprofile compare resnet50 --alpha 0.5 --no-time --format json
    """
    _run(lambda: _profile(model, [parse_octave_alpha(alpha, "compare")], True, input_size, batch_size, width_mult,
                          placement, design_of(hl, lh, downsample), time_, backend, device, threads, dtype, rounds,
                          fvcore, fmt, output, verbose=verbose, wide=wide, columns=columns, caption=caption))


@app.command()
def sweep(
    model: str = ModelArg,
    alphas: list[str] = typer.Option([DEFAULT_ALPHAS], "--alphas", "--alpha", metavar="A[,A...]",
                                help="α values in [0, 1), comma-separated or repeated."),
    input_size: str | None = InputSize, batch_size: int = BatchSize, width_mult: float | None = WidthMult,
    placement: Placement = PlacementOpt, hl: bool = HL, lh: bool = LH, downsample: Downsample = DownsampleOpt,
    time_: bool = Time, backend: list[str] = BackendOpt,
    device: Device = DeviceOpt, threads: int | None = Threads, dtype: DType = DTypeOpt, rounds: int = Rounds,
    fvcore: bool = Fvcore, fmt: Format = FormatOpt, output: Path | None = OutputOpt,
    columns: str | None = ColumnsOpt, caption: str | None = CaptionOpt,
    plot: Path | None = typer.Option(None, "--plot", metavar="FILE",
                                     help="Also draw the ratios against α (FILE.png or FILE.svg)."),
    verbose: bool = Verbose, wide: bool = Wide,
) -> None:
    """One row per α (α=0 is the vanilla model), with ratios and an optional plot.

    Example: octprofile sweep mobilenet_v2 --alphas 0,0.25,0.5 --no-time --plot sweep.png
    """
    _run(lambda: _profile(model, parse_alphas(",".join(alphas)), False, input_size, batch_size, width_mult, placement,
                          design_of(hl, lh, downsample), time_, backend, device, threads, dtype, rounds, fvcore,
                          fmt, output, plot, verbose, wide, columns, caption))


def _profile(model, alphas, is_compare, input_size, batch_size, width_mult, placement, design, time_, backend,
             device, threads, dtype, rounds, fvcore, fmt, output, plot=None, verbose=False, wide=False, columns=None,
             caption=None) -> None:
    """compare and sweep: check every option, run the study, render, and draw the plot if asked."""
    from octprofile.report.files import AtomicFiles
    from octprofile.studies.sweep import COMPARE_COLUMNS, footer, latency_table, plot_title, profile_table, sweep_plot

    timing = timing_options(time_, device, threads, dtype, backend, rounds)
    kind = output_format(fmt, output)
    chosen = export_options(kind, columns, caption, COMPARE_COLUMNS)
    plot_kind = checked_plot(plot, output)
    study = study_for(model, input_size, batch_size, width_mult, placement, design)
    what = (f"α={alphas[0]:g}" if is_compare else "α sweep") + ("" if design.is_full else f", {design.name}")

    def show(result, destination: Path | None, files=None, partial: str = "") -> None:
        title = (f"{study.model.name} at {input_label(result.input_shape)}, batch {result.input_shape[0]}, "
                 f"{what}{partial}")
        tables = [profile_table(result, title, wide), *([latency_table(result)] if result.timed else [])]
        emit(result.records(), COMPARE_COLUMNS, kind, destination, lambda: Group(*tables), footer(result, verbose),
             chosen, caption or title, files=files)

    with partial_on_interrupt(lambda result, note: show(result, None, partial=note)):
        if is_compare:
            result = with_progress(lambda p: study.compare(alphas[0], fvcore=fvcore, timing=timing, progress=p))
        else:
            result = with_progress(lambda p: study.sweep(alphas, fvcore=fvcore, timing=timing, progress=p))
    with AtomicFiles() as files:  # --output and --plot: both files or neither
        show(result, output, files)
        if plot:
            files.write(plot, sweep_plot(result, plot_title(result), plot_kind))
    for path in files.written:
        err.print(f"wrote {path}", markup=False)


@app.command()
def ablate(
    model: str = ModelArg, alpha: str = OctAlphaOpt,
    variants: str = typer.Option("full,no-hl,no-lh,no-exchange,strided", "--variants", metavar="NAME[,NAME...]",
                                 help="Comma-separated designs: full, no-hl, no-lh, no-exchange, strided, or "
                                      "'+' combinations (no-hl+strided); full is always included."),
    input_size: str | None = InputSize, batch_size: int = BatchSize, width_mult: float | None = WidthMult,
    placement: Placement = PlacementOpt, time_: bool = Time, backend: list[str] = BackendOpt,
    device: Device = DeviceOpt, threads: int | None = Threads, dtype: DType = DTypeOpt, rounds: int = Rounds,
    fvcore: bool = Fvcore, fmt: Format = FormatOpt, output: Path | None = OutputOpt,
    columns: str | None = ColumnsOpt, caption: str | None = CaptionOpt, verbose: bool = Verbose,
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
        study = study_for(model, input_size, batch_size, width_mult, placement)

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

    _run(action)


@app.command()
def layers(
    model: str = ModelArg, alpha: str = AlphaOpt,
    input_size: str | None = InputSize, batch_size: int = BatchSize, width_mult: float | None = WidthMult,
    placement: Placement = PlacementOpt, hl: bool = HL, lh: bool = LH, downsample: Downsample = DownsampleOpt,
    depth: int = typer.Option(0, "--depth", metavar="N",
                              help="Sum layers by the first N parts of their names (1: stages; "
                                                 "0: every layer)."),
    wide: bool = typer.Option(False, "--wide", show_default=False,
                              help="Also vanilla MACs, theory, share, activations, params, "
                                                    "output shape."),
    fmt: Format = FormatOpt, output: Path | None = OutputOpt,
    columns: str | None = ColumnsOpt, caption: str | None = CaptionOpt,
) -> None:
    """One row per conv/linear layer: MACs per path (H→H, H→L, L→H, L→L) beside the vanilla layer and theory.

    Example: octprofile layers resnet50 --alpha 0.5 --format csv --output layers.csv
    """
    def action() -> None:
        from dataclasses import asdict

        from octprofile.report.cells import not_converted_lines
        from octprofile.studies.layers import LAYER_COLUMNS, layers_table

        value = parse_alpha(alpha)
        if depth < 0:
            raise BadValueError(f"--depth must be 0 (every layer) or more, got {depth}")
        kind = output_format(fmt, output)
        chosen = export_options(kind, columns, caption, LAYER_COLUMNS)
        design = design_of(hl, lh, downsample)
        result = study_for(model, input_size, batch_size, width_mult, placement, design).layers(value)
        title = (f"{result.model} α={value:g}{'' if design.is_full else ', ' + design.name}, "
                 f"{f'summed to depth {depth}' if depth else 'per layer'} (MACs: multiply-accumulates; s: stride)")
        records = [asdict(row) for row in result.rollup(depth)] if depth else result.records()
        emit(records, LAYER_COLUMNS, kind, output, lambda: layers_table(result, title, depth, wide, out.width),
             "\n".join(not_converted_lines(result.not_converted)), chosen, caption or title, natural_width=wide)

    _run(action)


@app.command()
def blocks(
    model: str = ModelArg, alpha: str = OctAlphaOpt,
    input_size: str | None = InputSize, batch_size: int = BatchSize, width_mult: float | None = WidthMult,
    placement: Placement = PlacementOpt, hl: bool = HL, lh: bool = LH, downsample: Downsample = DownsampleOpt,
    backend: str = typer.Option("eager", "--backend", metavar="NAME",
                                help="plain or eager (backends that run block by block)."),
    device: Device = DeviceOpt, threads: int | None = Threads, dtype: DType = DTypeOpt, rounds: int = Rounds,
    passes: int = typer.Option(5, "--passes", metavar="N", help="Forward passes per model per round."),
    fmt: Format = FormatOpt, output: Path | None = OutputOpt,
    columns: str | None = ColumnsOpt, caption: str | None = CaptionOpt, verbose: bool = Verbose,
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
        study = study_for(model, input_size, batch_size, width_mult, placement, design_of(hl, lh, downsample))
        result = with_progress(lambda p: study.blocks(value, timing, passes=positive(passes, "--passes"),
                                                      progress=p))
        title = (f"{result.model} at {input_label(result.input_shape)}, batch {result.input_shape[0]}, α={value:g}: "
                 "time per block, vanilla vs Oct")
        emit(result.records(), BLOCK_COLUMNS, kind, output, lambda: blocks_table(result, title),
             blocks_footer(result, verbose), chosen, caption or title)

    _run(action)


@app.command()
def explain(
    model: str = ModelArg, alpha: str = OctAlphaOpt,
    input_size: int | None = InputSize, batch_size: int = BatchSize, width_mult: float | None = WidthMult,
    placement: Placement = PlacementOpt, hl: bool = HL, lh: bool = LH, downsample: Downsample = DownsampleOpt,
    backend: list[str] = typer.Option(["eager"], "--backend", metavar="NAME[,NAME...]",
                                      help="Backends to profile, each with its own profiler (all: every one "
                                           "installed)."),
    device: Device = DeviceOpt, threads: int | None = Threads, dtype: DType = DTypeOpt,
    rounds: int = typer.Option(5, "--rounds", metavar="N", help="Interleaved rounds of the unprofiled timing."),
    passes: int = typer.Option(5, "--passes", metavar="N", help="Profiled forward passes per model."),
    fmt: Format = FormatOpt, output: Path | None = OutputOpt,
    plot: Path | None = typer.Option(None, "--plot", metavar="FILE",
                                     help="Also draw time by kind and the roofline (.png or .svg)."),
    columns: str | None = ColumnsOpt, caption: str | None = CaptionOpt,
    verbose: bool = typer.Option(False, "--verbose", "-v", show_default=False,
                                 help="Also list the ten slowest calls of each variant."),
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
        study = study_for(model, input_size, batch_size, width_mult, placement, design_of(hl, lh, downsample))
        result = with_progress(lambda p: study.explain(value, timing, passes=positive(passes, "--passes"),
                                                       progress=p))
        title = f"{result.model} at {result.input_shape[-1]}², batch {result.input_shape[0]}, α={value:g}"
        with AtomicFiles() as files:  # --output and --plot: both files or neither
            emit(result.records(), EXPLAIN_COLUMNS, kind, output, lambda: explain_tables(result, title),
                 explain_footer(result, verbose), chosen, caption or title + ": time by kind of work", files=files)
            if plot:
                files.write(plot, explain_plot(result, plot_kind))
        for path in files.written:
            err.print(f"wrote {path}", markup=False)

    _run(action)


@app.command()
def check(
    models_: list[str] = typer.Argument(..., metavar="MODEL...", help=MODEL_HELP),
    alpha: list[str] = typer.Option(["0.5"], "--alpha", "--alphas", metavar="A[,A...]",
                                     help="α values to check, comma-separated or repeated."),
    input_size: str | None = InputSize, width_mult: float | None = WidthMult,
    placement: Placement = PlacementOpt, hl: bool = HL, lh: bool = LH, downsample: Downsample = DownsampleOpt,
    fvcore: bool = Fvcore,
    cross_checks: bool = typer.Option(True, "--cross-checks/--no-cross-checks", show_default=False,
                                      help="Also reconcile ptflops and thop with the analytic count and compare a "
                                           "vanilla torchvision model with its published params and GFLOPS "
                                           "(default), or not."),
    fmt: Format = FormatOpt, output: Path | None = OutputOpt,
    junit: Path | None = typer.Option(None, "--junit", metavar="FILE",
                                      help="Also write a JUnit XML report (one test case per "
                                                            "model and α) to this file, atomically."),
) -> None:
    """CI gate: exit 0 when Oct params equal vanilla (less the weights of dropped paths), the MAC counters
    agree (analytic, FlopCounterMode, and fvcore unless --no-fvcore) and the cross-checks pass (ptflops and thop
    reconciled with the analytic count; a vanilla torchvision model's published params and GFLOPS), 1 otherwise.
    Ends with a summary line.

    Example: octprofile check resnet50 mobilenet_v2 --alpha 0.25 --alpha 0.5 --junit check.xml
    """
    def action() -> int:
        from octprofile.report.cells import not_converted_lines
        from octprofile.report.files import AtomicFiles, check_distinct, check_writable
        from octprofile.studies.check import CHECK_COLUMNS, check_junit, check_summary, check_table

        values = parse_alphas(",".join(alpha))
        kind = output_format(fmt, output)
        if junit is not None:
            check_writable(junit)
            check_distinct({"--junit": junit, "--output": output})
        design = design_of(hl, lh, downsample)
        studies = [study_for(name, input_size, 1, width_mult, placement, design) for name in models_]
        jobs = [(study, a) for study in studies for a in values]

        def work(progress):
            results = []
            for index, (study, a) in enumerate(jobs, 1):
                results.append(study.check(a, fvcore=fvcore, cross_checks=cross_checks))
                if progress:
                    progress(f"check {study.model.name} α={a:g}", index, len(jobs))
            return results

        results = with_progress(work)
        several = len(studies) > 1
        skipped = dict.fromkeys(line for r in results
                                for line in not_converted_lines(r.not_converted, r.model if several else None))
        with AtomicFiles() as files:  # --output and --junit: both files or neither
            emit([r.record() for r in results], CHECK_COLUMNS, kind, output, lambda: check_table(results),
                 "\n".join(skipped), files=files)
            if junit is not None:
                files.write(junit, check_junit(results))
        for path in files.written:
            err.print(f"wrote {path}", markup=False)
        # the last line, unwrapped so CI logs can grep it; on stderr when stdout carries data
        (out if kind == "table" else err).print(check_summary(results), highlight=False, markup=False,
                                               soft_wrap=True)  # e.g. "pip install 'octprofile[counters]'"
        return 0 if all(r.ok for r in results) else 1

    _run(action)


@app.command()
def coverage(
    model: str = ModelArg, alpha: str = OctAlphaOpt,
    input_size: str | None = InputSize, width_mult: float | None = WidthMult, placement: Placement = PlacementOpt,
    fmt: Format = FormatOpt, output: Path | None = OutputOpt,
    columns: str | None = ColumnsOpt, caption: str | None = CaptionOpt,
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
        emit(result.records(), COVERAGE_COLUMNS, kind, output, lambda: coverage_table(result, title, out.width),
             coverage_footer(result), chosen, caption or title)

    _run(action)


@app.command()
def counters(
    model: str = ModelArg, alpha: str = OctAlphaOpt,
    input_size: str | None = InputSize, width_mult: float | None = WidthMult,
    placement: Placement = PlacementOpt, hl: bool = HL, lh: bool = LH, downsample: Downsample = DownsampleOpt,
    fvcore: bool = Fvcore, fmt: Format = FormatOpt, output: Path | None = OutputOpt,
    columns: str | None = ColumnsOpt, caption: str | None = CaptionOpt,
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
        study = study_for(model, input_size, 1, width_mult, placement, design_of(hl, lh, downsample))
        result = study.counters(value, fvcore=fvcore)
        title = f"{study.model.name} at {input_label(result.input_shape)}, α={value:g}: counters vs the analytic count"
        emit(result.records(), COUNTER_COLUMNS, kind, output, lambda: counters_table(result, title),
             counters_footer(result), chosen, caption or title)
        for message in result.missing.values():
            err.print(message, markup=False, highlight=False)

    _run(action)


@app.command()
def train(
    model: str = ModelArg,
    alpha: list[str] = typer.Option(["0.5"], "--alpha", "--alphas", metavar="A[,A...]",
                                     help="α in (0, 1): one for vanilla vs Oct, or several (comma-separated or "
                                          "repeated) for a sweep."),
    input_size: str | None = InputSize,
    batch_size: int = typer.Option(32, "--batch-size", metavar="N", help="Batch size of the training step."),
    width_mult: float | None = WidthMult, placement: Placement = PlacementOpt, hl: bool = HL, lh: bool = LH,
    downsample: Downsample = DownsampleOpt,
    optimizer: str = typer.Option("sgd", "--optimizer", metavar="NAME",
                                  help="sgd (momentum 0.9, weight decay 1e-4) or adamw."),
    measure: bool = typer.Option(True, "--measure/--no-measure", show_default=False,
                                 help="Run real steps: time them (interleaved) and measure their memory (default), "
                                      "or count only."),
    memory: str | None = typer.Option(None, "--memory", metavar="SIZE",
                                      help="Memory budget, e.g. 16GiB or 512MiB (default: this device's free "
                                           "memory): steps that would not fit are refused; the largest batch "
                                           "that fits is reported."),
    confirm_batch: bool = typer.Option(False, "--confirm-batch", show_default=False,
                                       help="Also run one measured step at the largest batch that fits."),
    device: Device = DeviceOpt, threads: int | None = Threads,
    rounds: int = typer.Option(5, "--rounds", metavar="N", help="Interleaved rounds of one step per variant."),
    fmt: Format = FormatOpt, output: Path | None = OutputOpt, columns: str | None = ColumnsOpt,
    caption: str | None = CaptionOpt,
    plot: Path | None = typer.Option(None, "--plot", metavar="FILE",
                                     help="Also draw peak training memory and step time against α (FILE.png or "
                                          "FILE.svg)."),
    verbose: bool = Verbose,
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
        study = study_for(model, input_size, batch_size, width_mult, placement, design_of(hl, lh, downsample))
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
            err.print(f"wrote {path}", markup=False)

    _run(action)


@app.command()
def report(
    output_dir: Path = typer.Option(Path("reports"), "--output-dir", metavar="DIR",
                                    help="Where to write the report files."),
    models_: list[str] | None = typer.Option(None, "--model", metavar="MODEL", help="Only these models (repeatable)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw a sweep plot per model."),
) -> None:
    """Regenerate reports/: α sweeps (CSV, Markdown, plots) and our counts beside the published ones.

    Example: octprofile report --output-dir reports/
    """
    def action() -> None:
        from octprofile.models import get_spec
        from octprofile.studies.reports import generate_report

        if not output_dir.is_dir():
            raise BadValueError(f"--output-dir {str(output_dir)!r} does not exist")
        for name in models_ or []:
            get_spec(name)
        written = with_progress(lambda progress: generate_report(output_dir, models_, plots, progress))
        for path in written:
            err.print(f"wrote {path}", markup=False)

    _run(action)


def main() -> None:
    """Entry point: usage errors (Typer's own, e.g. an unknown --format) also end in one line; Ctrl-C at any
    moment ends with "interrupted" and exit 130; a closed pipe (``octprofile models | head -1``) ends quietly
    with exit 141, as a C tool killed by SIGPIPE would."""
    try:
        if len(sys.argv) <= 1:
            app(prog_name="octprofile")  # no arguments: Typer prints the help
        code = app(prog_name="octprofile", standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted", markup=False)
        sys.exit(INTERRUPTED_EXIT)
    except BrokenPipeError:
        exit_quietly_on_closed_pipe()
    except SystemExit as exiting:
        if exiting.code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper":
            exit_quietly_on_closed_pipe()  # Click's own closed-pipe exit (e.g. --help | true)
        raise
    except typer.TyperException as error:
        err.print(f"[bold red]error:[/] {escape(error.format_message())}", highlight=False)
        sys.exit(getattr(error, "exit_code", 2))
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        exit_quietly_on_closed_pipe()
    if code == INTERRUPTED_EXIT and not STATE.get("interrupt_reported"):
        err.print("interrupted", markup=False)  # Typer turned a Ctrl-C outside _run into a silent exit 130
    sys.exit(code or 0)


def exit_quietly_on_closed_pipe() -> None:
    """Python's documented recipe: point stdout at devnull so the flush at exit cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(BROKEN_PIPE_EXIT)
