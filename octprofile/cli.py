"""The command line: each command parses and validates, calls the library, renders."""

from __future__ import annotations

import math
import os
import sys
import traceback
from collections.abc import Callable
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(help="What Octave Convolution really buys on a backbone: params, MACs (multiply-accumulates), "
                  "activation memory and latency, vanilla vs Oct.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
out = Console(width=None if sys.stdout.isatty() else 220)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 220)
STATE = {"debug": False}
DEFAULT_ALPHAS = "0,0.125,0.25,0.5,0.75"


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


class UsageError(ValueError):
    """Bad input from the user: one line, exit 2."""


SUFFIX_FORMATS = {".csv": "csv", ".json": "json", ".md": "markdown", ".markdown": "markdown", ".tex": "latex"}


def _fail(message: str, code: int = 2):
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _guard(action: Callable[[], None]) -> None:
    """Run a command: known failures become one line and exit 2; Ctrl-C exits 130."""
    from octprofile.analysis.profile import SweepInterrupted
    from octprofile.convert import ConversionError
    from octprofile.models import CustomModelError, UnknownModelError
    from octprofile.report.tables import profile_table

    try:
        action()
    except typer.Exit:
        raise
    except SweepInterrupted as interrupted:
        if interrupted.rows:
            out.print(profile_table(interrupted.rows, "finished before the interruption (nothing was written)"))
        err.print(str(interrupted))
        raise typer.Exit(130) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    except (UsageError, ValueError, UnknownModelError, CustomModelError, ConversionError, OSError) as error:
        if STATE["debug"]:
            traceback.print_exc()
        _fail(str(error).strip("'\""))


# ---- validation (everything is checked before work starts) ----

def parse_alpha(text: str, what: str = "--alpha") -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{what} {text!r} is not a number; α must be in [0, 1)") from None
    if math.isnan(value) or not 0 <= value < 1:
        raise UsageError(f"{what} {text} is outside [0, 1)")
    return value


def parse_alphas(text: str) -> list[float]:
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise UsageError(f"--alphas {text!r} has an empty element; give a comma-separated list like {DEFAULT_ALPHAS}")
    return sorted(set(parse_alpha(item, f"--alphas element {item!r}:") for item in items))


def check_model(name: str):
    from octprofile.build import resolve

    return resolve(name)


def check_positive(value: int | None, option: str) -> None:
    if value is not None and value <= 0:
        raise UsageError(f"{option} must be a positive integer, got {value}")


def check_device(device: Device) -> None:
    import torch

    if device is Device.cuda and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA GPU is available here (use cpu or auto)")


def check_input_size(name: str, info, input_size: int | None, model_options: dict) -> None:
    """Refuse a size the vanilla network cannot run, naming the smallest one that works."""
    import torch

    from octprofile.build import build_vanilla
    from octprofile.nn.meta import run_on_meta

    if input_size is None:
        return
    with torch.device("meta"):
        model = build_vanilla(name, **model_options)

    def runs(size: int) -> bool:
        try:
            run_on_meta(model, info.input_shape(size))
            return True
        except Exception:
            return False

    if runs(input_size):
        return
    low, high = input_size, max(info.input_size, input_size)
    if not runs(high):
        raise UsageError(f"--input-size {input_size} does not work for {name}")
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if runs(middle) else (middle, high)
    raise UsageError(f"--input-size {input_size} is too small for {name}; the smallest that runs is {high}")


def output_format(fmt: Format, output: Path | None) -> str:
    from octprofile.report.files import check_writable

    if output is None:
        return fmt.value
    check_writable(output)
    if fmt is not Format.table:
        return fmt.value
    inferred = SUFFIX_FORMATS.get(output.suffix.lower())
    if inferred is None:
        raise UsageError(f"cannot tell the format of {str(output)!r}; pass --format csv|json|markdown|latex")
    return inferred


def model_options(width_mult: float | None) -> dict:
    if width_mult is None:
        return {}
    if not width_mult > 0 or math.isnan(width_mult):
        raise UsageError(f"--width-mult must be positive, got {width_mult}")
    return {"width_mult": width_mult}


def timing_options(device: Device, threads: int | None, dtype: DType, channels_last: bool, compile_: bool,
                   rounds: int):
    from octprofile.analysis.timing import TimingOptions

    check_positive(threads, "--threads")
    check_positive(rounds, "--rounds")
    if dtype is DType.float16 and not _uses_cuda(device):
        raise UsageError("--dtype float16 needs a CUDA GPU; on CPU use float32 or bfloat16")
    return TimingOptions(device=device.value, threads=threads, dtype=dtype.value, channels_last=channels_last,
                         compile=compile_, rounds=rounds)


def _uses_cuda(device: Device) -> bool:
    """Whether timing runs on CUDA: asked for, or chosen by auto because a GPU is there."""
    import torch

    return device is Device.cuda or (device is Device.auto and torch.cuda.is_available())


def check_fits(name: str, options, device: Device) -> None:
    """Timing and fvcore allocate real activations: refuse up front, with the estimate, when they
    would not fit. Live activations of one forward pass stay under the sum of all layer outputs;
    twice that, plus both models' weights, leaves room for the allocator."""
    import torch

    from octprofile.analysis.counting import count_model
    from octprofile.analysis.profile import _build, input_shape

    count = count_model(_build(name, 0.0, options, device="meta"), input_shape(name, options))
    weights = 8 * count.params
    on_gpu = options.timing is not None and _uses_cuda(device)
    ram = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    needs = []
    if options.timing is not None:
        available = torch.cuda.mem_get_info()[0] if on_gpu else ram
        needs.append((f"timing at batch {options.batch_size}", 2 * count.activation_bytes() + weights, available,
                      "GPU memory" if on_gpu else "free RAM", "lower --batch-size or --input-size, or use --no-time"))
    if options.fvcore:
        needs.append(("fvcore's traced forward pass (batch 1)", 2 * count.activation_bytes() // options.batch_size
                      + weights, ram, "free RAM", "lower --input-size or use --no-fvcore"))
    for what, needed, available, where, advice in needs:
        if needed > available:
            raise UsageError(f"{what} needs about {needed / 2**30:.1f} GiB but only {available / 2**30:.1f} GiB of "
                             f"{where} is available; {advice}")


# ---- rendering ----

def _progress():
    """A Rich progress callback on stderr, or None when stderr is not a terminal."""
    if not err.is_terminal:
        return None, None
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeElapsedColumn(), console=err, transient=True)
    task = bar.add_task("starting", total=None)

    def update(description: str, done: int, total: int) -> None:
        bar.update(task, description=description, completed=done, total=total)

    return bar, update


def _run_with_progress(work: Callable):
    bar, update = _progress()
    if bar is None:
        return work(None)
    with bar:
        return work(update)


def _emit(rows, columns, fmt: str, output: Path | None, table_factory: Callable, footer: str | None = None) -> None:
    from octprofile.report.files import atomic_write
    from octprofile.report.formats import render_rows

    if fmt == "table":
        out.print(table_factory())
        if footer:
            out.print(footer, highlight=False)
        return
    text = render_rows(rows, columns, fmt)
    if output is None:
        sys.stdout.write(text)
    else:
        atomic_write(output, text)
        err.print(f"wrote {output}")


# ---- commands ----

MODEL_HELP = "A supported name (see `octprofile models`), or module:callable / path/to/file.py:callable."
ModelArg = typer.Argument(..., help=MODEL_HELP, show_default=False)


@app.callback()
def main_callback(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors.")) -> None:
    STATE["debug"] = debug


@app.command()
def models(
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file (atomically)."),
) -> None:
    """List the supported backbones with family, source and default input size.

    Example: octprofile models --format csv
    """
    def action() -> None:
        from rich.table import Table

        from octprofile.models import model_specs

        kind = output_format(fmt, output)
        rows = [dict(name=s.name, family=s.family, source=s.source, input_size=s.input_size,
                     options=",".join(s.options)) for s in model_specs()]

        def table():
            t = Table(title="supported models (custom: module:callable or file.py:callable)", title_justify="left")
            for column in ("name", "family", "source", "input_size", "options"):
                t.add_column(column)
            for r in rows:
                t.add_row(*(str(r[c]) for c in ("name", "family", "source", "input_size", "options")))
            return t

        _emit(rows, ("name", "family", "source", "input_size", "options"), kind, output, table)

    _guard(action)


def _profile_options(name, input_size, batch_size, width_mult, placement, impl, fvcore, timing):
    from octprofile.analysis.profile import ProfileOptions

    check_positive(input_size, "--input-size")
    check_positive(batch_size, "--batch-size")
    options = model_options(width_mult)
    check_input_size(name, check_model(name), input_size, options)
    return ProfileOptions(input_size=input_size, batch_size=batch_size, placement=placement, impl=impl,
                          fvcore=fvcore, timing=timing, model_options=options)


class Placement(str, Enum):
    reference = "reference"
    everywhere = "everywhere"


class Impl(str, Enum):
    fast = "fast"
    reference = "reference"


# Options shared by compare, sweep and layers.
InputSize = typer.Option(None, "--input-size", help="Input side in pixels (default: the model's).")
BatchSize = typer.Option(1, "--batch-size", help="Batch size.")
WidthMult = typer.Option(None, "--width-mult", help="Width multiplier (MobileNets).")
PlacementOpt = typer.Option(Placement.reference, "--placement",
                            help="reference: the paper's network; everywhere: every stage after the stem.")
ImplOpt = typer.Option(None, "--impl", help="OctConv implementation (default: build_model's, the fast one).")
DeviceOpt = typer.Option(Device.auto, "--device", help="Timing device (auto: CUDA when available).")
Time = typer.Option(True, "--time/--no-time", help="Measure latency (interleaved vanilla/Oct runs).")
Fvcore = typer.Option(True, "--fvcore/--no-fvcore", help="Cross-check with fvcore (traces a real model: slow).")
FormatOpt = typer.Option(Format.table, "--format", "-f", help="Output format.")
OutputOpt = typer.Option(None, "--output", "-o", help="Write to this file (atomically) instead of stdout.")
Threads = typer.Option(None, "--threads", help="CPU threads for timing (default: all cores).")
DTypeOpt = typer.Option(DType.float32, "--dtype", help="Timing dtype (autocast on GPU).")
ChannelsLast = typer.Option(False, "--channels-last", help="Time in channels_last memory format.")
Compile = typer.Option(False, "--compile", help="torch.compile both models (compile time reported apart).")
Rounds = typer.Option(10, "--rounds", help="Interleaved timing rounds.")


def _timing_or_none(time_, device, threads, dtype, channels_last, compile_, rounds):
    check_device(device)
    return timing_options(device, threads, dtype, channels_last, compile_, rounds) if time_ else None


@app.command()
def compare(
    model: str = ModelArg, alpha: str = typer.Option("0.5", "--alpha", help="Low-frequency ratio α in [0, 1)."),
    input_size: int | None = InputSize, batch_size: int = BatchSize, width_mult: float | None = WidthMult,
    placement: Placement = PlacementOpt, impl: Impl | None = ImplOpt, device: Device = DeviceOpt,
    time_: bool = Time, fvcore: bool = Fvcore, threads: int | None = Threads, dtype: DType = DTypeOpt,
    channels_last: bool = ChannelsLast, compile_: bool = Compile, rounds: int = Rounds,
    fmt: Format = FormatOpt, output: Path | None = OutputOpt,
) -> None:
    """Vanilla vs Oct side by side: params, MACs (3 counters), activations, latency.

    Example: octprofile compare resnet50 --alpha 0.5 --no-time --format json
    """
    _guard(lambda: _profile_command(
        model, lambda: [0.0, parse_alpha(alpha)], ("vanilla", "oct"), f"α={alpha}", input_size, batch_size,
        width_mult, placement, impl, device, time_, fvcore, threads, dtype, channels_last, compile_, rounds, fmt,
        output))


@app.command()
def sweep(
    model: str = ModelArg,
    alphas: str = typer.Option(DEFAULT_ALPHAS, "--alphas", help="Comma-separated α values in [0, 1)."),
    input_size: int | None = InputSize, batch_size: int = BatchSize, width_mult: float | None = WidthMult,
    placement: Placement = PlacementOpt, impl: Impl | None = ImplOpt, device: Device = DeviceOpt,
    time_: bool = Time, fvcore: bool = Fvcore, threads: int | None = Threads, dtype: DType = DTypeOpt,
    channels_last: bool = ChannelsLast, compile_: bool = Compile, rounds: int = Rounds,
    fmt: Format = FormatOpt, output: Path | None = OutputOpt,
    plot: Path | None = typer.Option(None, "--plot", help="Also draw the ratios against α (FILE.png or FILE.svg)."),
) -> None:
    """One row per α (α=0 is the vanilla model), with ratios and an optional plot.

    Example: octprofile sweep mobilenet_v2 --alphas 0,0.25,0.5 --no-time --plot sweep.png
    """
    _guard(lambda: _profile_command(
        model, lambda: parse_alphas(alphas), None, "α sweep", input_size, batch_size, width_mult, placement, impl,
        device, time_, fvcore, threads, dtype, channels_last, compile_, rounds, fmt, output, plot))


def _profile_command(model, alphas, variant_names, title, input_size, batch_size, width_mult, placement, impl,
                     device, time_, fvcore, threads, dtype, channels_last, compile_, rounds, fmt, output,
                     plot=None) -> None:
    """compare and sweep: validate everything, then profile, render, and draw the plot if asked."""
    from octprofile.analysis import profile
    from octprofile.report.files import atomic_write, check_writable
    from octprofile.report.plots import plot_format, sweep_plot
    from octprofile.report.tables import footer, profile_table

    values = alphas()
    timing = _timing_or_none(time_, device, threads, dtype, channels_last, compile_, rounds)
    options = _profile_options(model, input_size, batch_size, width_mult, placement.value,
                               impl.value if impl else None, fvcore, timing)
    kind = output_format(fmt, output)
    plot_kind = plot_format(check_writable(plot)) if plot else None
    check_fits(model, options, device)
    rows = _run_with_progress(lambda progress: profile.sweep(model, values, options, progress, variant_names))
    _emit(rows, (*profile.COMPARE_COLUMNS, *profile.COMPARE_EXTRA_COLUMNS), kind, output,
          lambda: profile_table(rows, f"{model} at {rows[0]['input_size']}², batch {batch_size}, {title}"),
          footer(rows))
    if plot:
        atomic_write(plot, sweep_plot(rows, f"{model}: Oct ÷ vanilla", plot_kind))
        err.print(f"wrote {plot}")


@app.command()
def layers(
    model: str = ModelArg, alpha: str = typer.Option(..., "--alpha", help="Low-frequency ratio α in [0, 1)."),
    input_size: int | None = InputSize, batch_size: int = BatchSize, width_mult: float | None = WidthMult,
    placement: Placement = PlacementOpt, impl: Impl | None = ImplOpt,
    fmt: Format = FormatOpt, output: Path | None = OutputOpt,
) -> None:
    """One row per conv/linear layer: MACs per path (H→H, H→L, L→H, L→L) beside the vanilla layer and theory.

    Example: octprofile layers resnet50 --alpha 0.5 --format csv --output layers.csv
    """
    def action() -> None:
        from octprofile.analysis import profile
        from octprofile.report.tables import layers_table

        value = parse_alpha(alpha)
        options = _profile_options(model, input_size, batch_size, width_mult, placement.value,
                                   impl.value if impl else None, False, None)
        kind = output_format(fmt, output)
        rows = profile.layers(model, value, options)
        _emit(rows, (*profile.LAYER_COLUMNS, *profile.LAYER_EXTRA_COLUMNS), kind, output,
              lambda: layers_table(rows, f"{model} α={value:g}: per layer (MACs = multiply-accumulates)"))

    _guard(action)


@app.command()
def check(
    models_: list[str] = typer.Argument(..., metavar="MODEL...", help=MODEL_HELP),
    alpha: list[str] = typer.Option(["0.5"], "--alpha", help="α to check; repeat for several."),
    input_size: int | None = InputSize, width_mult: float | None = WidthMult,
    placement: Placement = PlacementOpt, fvcore: bool = Fvcore,
) -> None:
    """CI gate: exit 0 when Oct params equal vanilla and the three MAC counts agree, 1 otherwise.

    Example: octprofile check resnet50 mobilenet_v2 --alpha 0.25 --alpha 0.5
    """
    failed = False

    def action() -> None:
        nonlocal failed
        from octprofile.analysis import profile
        from octprofile.report.tables import check_table

        values = [parse_alpha(a) for a in alpha]
        options = {name: _profile_options(name, input_size, 1, width_mult, placement.value, None, fvcore, None)
                   for name in models_}
        jobs = [(name, a) for name in models_ for a in values]

        def work(progress):
            results = []
            for index, (name, a) in enumerate(jobs, 1):
                results.append(profile.check(name, a, options[name]))
                if progress:
                    progress(f"check {name} α={a:g}", index, len(jobs))
            return results

        results = _run_with_progress(work)
        failed = not all(r.ok for r in results)
        out.print(check_table(results))

    _guard(action)
    if failed:
        raise typer.Exit(1)


@app.command()
def report(
    output_dir: Path = typer.Option(Path("reports"), "--output-dir", help="Where to write the report files."),
    models_: list[str] | None = typer.Option(None, "--model", help="Only these models (repeatable)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw a sweep plot per model."),
) -> None:
    """Regenerate reports/: α sweeps (CSV, Markdown, plots) and our counts beside the published ones.

    Example: octprofile report --output-dir reports/
    """
    def action() -> None:
        from octprofile.report.generate import generate_report

        if not output_dir.is_dir():
            raise UsageError(f"--output-dir {str(output_dir)!r} does not exist")
        for name in models_ or []:
            check_model(name)
        written = _run_with_progress(lambda progress: generate_report(output_dir, models_, plots, progress))
        for path in written:
            err.print(f"wrote {path}")

    _guard(action)


def main() -> None:
    """Entry point: usage errors (Typer's own, e.g. an unknown --format) also end in one line."""
    if len(sys.argv) <= 1:
        app(prog_name="octprofile")  # no arguments: Typer prints the help
    try:
        code = app(prog_name="octprofile", standalone_mode=False)
    except typer.Abort:
        err.print("interrupted")
        sys.exit(130)
    except typer.TyperException as error:
        err.print(f"[bold red]error:[/] {error.format_message()}", highlight=False)
        sys.exit(getattr(error, "exit_code", 2))
    sys.exit(code or 0)
