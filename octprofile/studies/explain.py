"""explain: why fewer MACs are not less time. Per backend, vanilla and Oct profiled by that backend's own
profiler and summed by kind of work (convs by path and kernel, pooling, upsampling, additions, reorders...),
beside each kind's analytic MACs and bytes and this machine's roofline; its tables fit 80 columns, its footer
says in one sentence per backend where the saving is lost, its plot stacks time per kind beside the roofline."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table

from octprofile.analysis.breakdown import kind_lines, kind_times
from octprofile.analysis.counting import count_model
from octprofile.analysis.op_kinds import UNATTRIBUTED, KindMap
from octprofile.analysis.op_work import model_work
from octprofile.analysis.roofline import OVERHEAD_CALL_MS, OVERHEAD_FACTOR, measure_ceilings
from octprofile.errors import BadValueError, MissingEngineError
from octprofile.nn import check_alpha
from octprofile.report.columns import Column, ColumnSet
from octprofile.report.plots import figure_bytes
from octprofile.runtime.context import machine_context
from octprofile.runtime.cpu_free import threads_text
from octprofile.runtime.profiling import merged_paths, profiler_for
from octprofile.runtime.timing import (
    DTYPES,
    TimingOptions,
    median_latencies,
    prepare_warm,
    runtime_settings,
    timing_input,
    timing_threads,
)
from octprofile.studies.subject import Progress, Subject, Ticker


@dataclass
class ExplainRow:
    """One kind of work (e.g. ``conv H→L+L→L 1×1``, ``pooling``) in one profiled pass of vanilla and Oct on
    one backend. Times are means over the profiled passes, so the kinds add up to the pass.

    ``excess_ms``: the Oct time this kind takes beyond its MACs at the vanilla pass's conv rate (vanilla
    ms per MAC over every kind with MACs); a kind without MACs: beyond its vanilla time. The rows add up
    to the total's excess. ``bound``: roofline placement (analysis/roofline.py); "" where not placed.
    The ``total`` row has the profiled pass and, in ``unprofiled_*_ms``, the median without the profiler.
    """

    model: str
    alpha: float
    backend: str
    kind: str  # a kind of work, "(unattributed)" (what no profiled call covers) or "total"
    calls_vanilla: int  # calls (kernel calls, graph nodes) per pass
    calls: int
    time_vanilla_ms: float
    time_ms: float
    share_of_vanilla: float  # of the vanilla profiled pass
    share_of_oct: float
    macs_vanilla: int
    macs: int
    gmacs_per_s_vanilla: float | None  # achieved: MACs ÷ time; None without MACs or time
    gmacs_per_s: float | None
    bytes_vanilla: int | None  # analytic bytes moved; None where not counted (the backend's own work)
    bytes: int | None
    excess_ms: float
    bound_vanilla: str
    bound: str
    unprofiled_vanilla_ms: float | None  # total row only
    unprofiled_ms: float | None
    input_size: int
    batch_size: int
    dtype: str
    threads: int
    device_name: str
    torch_version: str


EXPLAIN_COLUMNS = ColumnSet(
    tuple(f.name for f in fields(ExplainRow)),
    default=("backend", "kind", "calls_vanilla", "calls", "time_vanilla_ms", "time_ms", "share_of_oct", "macs",
             "gmacs_per_s_vanilla", "gmacs_per_s", "bytes", "excess_ms", "bound"),
    display={"calls_vanilla": Column("vanilla calls", "int"), "calls": Column("calls", "int"),
             "time_vanilla_ms": Column("vanilla time (ms)"), "time_ms": Column("time (ms)"),
             "gmacs_per_s_vanilla": Column("vanilla GMAC/s"), "gmacs_per_s": Column("GMAC/s"),
             "bytes_vanilla": Column("vanilla bytes moved", "bytes"), "bytes": Column("bytes moved", "bytes"),
             "bound_vanilla": Column("vanilla bound", "text"), "bound": Column("bound", "text"),
             "unprofiled_vanilla_ms": Column("vanilla unprofiled (ms)"), "unprofiled_ms": Column("unprofiled (ms)")})


@dataclass
class SlowNode:
    variant: str
    name: str  # the engine's name for the call
    kind: str
    ms: float  # mean over the profiled passes


@dataclass
class ExplainBackend:
    """One backend's breakdown: its rows (kinds, then "(unattributed)", then "total") and slowest calls."""

    backend: str
    profiler: str  # what measured it, in words
    rows: list[ExplainRow]
    slowest: list[SlowNode]  # the ten slowest calls of each variant
    passes: int

    @property
    def total(self) -> ExplainRow:
        return self.rows[-1]

    def kinds(self) -> list[ExplainRow]:
        return [row for row in self.rows if row.kind not in ("total", "(unattributed)")]


@dataclass
class ExplainResult:
    """``Study.explain``: per backend, vanilla and Oct by kind of work, under this machine's ceilings."""

    model: str
    alpha: float
    input_shape: tuple[int, ...]
    backends: list[ExplainBackend]
    peak_gmacs_per_s: float
    bandwidth_gb_per_s: float
    not_profiled: list[str]  # one line per backend asked for that has no profiler
    warnings: list[str] = field(default_factory=list)

    def records(self) -> list[dict]:
        return [asdict(row) for backend in self.backends for row in backend.rows]


def explain(study: Subject, alpha: float, timing: TimingOptions = TimingOptions(), *, passes: int = 5,
            progress: Progress | None = None) -> ExplainResult:
    """Why fewer MACs are not less time: per backend of ``timing``, vanilla and Oct profiled by that
    backend's own profiler (``passes`` passes each) and summed by kind of work, beside each kind's
    analytic MACs and bytes, the unprofiled median (``timing.rounds`` rounds) and this machine's
    ceilings. A backend without a profiler gets one line in ``not_profiled``."""
    alpha = check_alpha(alpha)
    if alpha == 0:
        raise BadValueError("explain compares an Oct model with vanilla: give an α above 0")
    if passes < 1:
        raise BadValueError(f"passes must be a positive integer, got {passes}")
    not_profiled, profilers = [], {}
    for backend in timing.backends:
        try:
            profilers[backend] = profiler_for(backend)
        except MissingEngineError as missing:
            not_profiled.append(str(missing))
    if not profilers:
        raise MissingEngineError("; ".join(not_profiled))
    metas = {name: study.build(a, device="meta") for name, a in (("vanilla", 0.0), ("oct", alpha))}
    study.check_fits(metas["vanilla"], count_model(metas["vanilla"], study.input_shape), False, timing)
    dtype = DTYPES[timing.dtype]
    work = {name: model_work(model, study.input_shape, dtype) for name, model in metas.items()}
    models = {"vanilla": study.build(0.0), "oct": study.build(alpha)}
    x = timing_input(study.input_shape, timing)
    threads = timing_threads(timing, x.device).threads  # the cores free now, or --threads
    context = machine_context(x.device, threads, None)
    tick = Ticker(progress, 2 * len(profilers) + 1)
    breakdowns = []
    with runtime_settings(x.device, threads):
        tick.announce("measuring this machine's ceilings")
        ceilings = measure_ceilings(x.device, x.dtype)
        tick("measured the ceilings")
        for backend, profiler in profilers.items():
            tick.announce(f"preparing vanilla and oct on {backend}")
            with profiler.preparing():
                prepared, inputs = prepare_warm({(name, backend): m for name, m in models.items()}, x,
                                                timing.warmup)
            unprofiled = median_latencies(prepared, inputs, threads, timing)
            tick(f"timed {backend} without the profiler")
            times = {}
            for name in models:
                kinds = KindMap(work[name], merged_paths(prepared[name, backend].module))
                times[name] = (kind_times(profiler.run(prepared[name, backend], inputs[name, backend], passes),
                                          kinds), kinds.costs())
            tick(f"profiled {backend}")
            breakdowns.append(_explain_backend(study, alpha, backend, profiler.engine, times, unprofiled, ceilings,
                                                    context, timing.dtype, passes))
    return ExplainResult(study.model.name, alpha, study.input_shape, breakdowns, ceilings.peak_gmacs_per_s,
                         ceilings.bandwidth_gb_per_s, not_profiled)


def _explain_backend(study, alpha, backend, engine, times, unprofiled, ceilings, context, dtype, passes):
    (vanilla, vanilla_costs), (octave, octave_costs) = times["vanilla"], times["oct"]
    lines = kind_lines((vanilla, octave), (vanilla_costs, octave_costs), ceilings)
    common = dict(model=study.model.name, alpha=alpha, backend=backend, input_size=study.input_shape[-1],
                  batch_size=study.input_shape[0], dtype=dtype, threads=context.threads,
                  device_name=context.device_name, torch_version=context.torch_version)
    rows = [ExplainRow(kind=line.kind, calls_vanilla=line.calls[0], calls=line.calls[1],
                       time_vanilla_ms=line.ms[0], time_ms=line.ms[1],
                       share_of_vanilla=line.ms[0] / vanilla.wall_ms,
                       share_of_oct=line.ms[1] / octave.wall_ms, macs_vanilla=line.macs[0], macs=line.macs[1],
                       gmacs_per_s_vanilla=line.gmacs_per_s[0], gmacs_per_s=line.gmacs_per_s[1],
                       bytes_vanilla=line.bytes[0], bytes=line.bytes[1], excess_ms=line.excess_ms,
                       bound_vanilla=line.bound[0], bound=line.bound[1], unprofiled_vanilla_ms=None,
                       unprofiled_ms=None, **common) for line in lines]
    macs = (sum(r.macs_vanilla for r in rows), sum(r.macs for r in rows))
    moved = (sum(r.bytes_vanilla or 0 for r in rows), sum(r.bytes or 0 for r in rows))
    rows.append(ExplainRow(
        kind="total", calls_vanilla=sum(r.calls_vanilla for r in rows), calls=sum(r.calls for r in rows),
        time_vanilla_ms=vanilla.wall_ms, time_ms=octave.wall_ms, share_of_vanilla=1.0, share_of_oct=1.0,
        macs_vanilla=macs[0], macs=macs[1], gmacs_per_s_vanilla=macs[0] / (vanilla.wall_ms * 1e6),
        gmacs_per_s=macs[1] / (octave.wall_ms * 1e6), bytes_vanilla=moved[0], bytes=moved[1],
        excess_ms=sum(r.excess_ms for r in rows), bound_vanilla="", bound="",
        unprofiled_vanilla_ms=unprofiled["vanilla", backend], unprofiled_ms=unprofiled["oct", backend], **common))
    slowest = [SlowNode(name, call, kind, ms) for name, summed in (("vanilla", vanilla), ("oct", octave))
               for call, kind, ms in summed.slowest]
    return ExplainBackend(backend, engine, rows, slowest, passes)


BOUND_LETTERS = {"compute": "C", "memory": "M", "overhead": "O", "": "·"}


LOSSES_NAMED = 3  # kinds the verdict names


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ms(value: float, sign: str = "") -> str:
    """Two decimals below 100 ms, fewer above, so a slow machine's seconds still fit the column."""
    digits = 2 if abs(value) < 100 else 1 if abs(value) < 1000 else 0
    return f"{value:{sign}.{digits}f}"


def explain_tables(result: ExplainResult, title: str) -> Group:
    return Group(*(explain_table(backend, f"{title}, on {backend.backend}") for backend in result.backends))


def explain_table(backend: ExplainBackend, title: str) -> Table:
    """Per kind: calls, ms vanilla and Oct, Oct's share, achieved GMAC/s, the excess ms and the bound."""
    # one space of padding, on the left of each cell only: eight columns fit 80 with room for long kinds
    table = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  padding=(0, 0, 0, 1))
    for header in ("kind", "calls\nv / oct", "ms\nvanilla", "ms\noct", "% of\noct", "GMAC/s\nv / oct", "excess\nms",
                   "bound\nv/oct"):
        table.add_column(header, justify="left" if header == "kind" else "right", no_wrap=True)
    for r in backend.rows:
        if r.kind == "total":
            table.add_section()
        table.add_row(escape(r.kind), f"{r.calls_vanilla}/{r.calls}", _ms(r.time_vanilla_ms), _ms(r.time_ms),
                      f"{100 * r.share_of_oct:.0f}", f"{_rate(r.gmacs_per_s_vanilla)}/{_rate(r.gmacs_per_s)}",
                      _ms(r.excess_ms, "+"), "" if r.kind == "total" else
                      f"{BOUND_LETTERS[r.bound_vanilla]}/{BOUND_LETTERS[r.bound]}")
    return table


def losses(backend: ExplainBackend) -> list[ExplainRow]:
    """The kinds with the largest positive excess, largest first."""
    return sorted((r for r in backend.rows[:-1] if r.excess_ms > 0), key=lambda r: -r.excess_ms)[:LOSSES_NAMED]


def verdict(backend: ExplainBackend) -> str:
    """Where the Oct pass loses its saving on this backend, in one sentence computed from the rows."""
    t = backend.total
    mac_ratio = t.macs / t.macs_vanilla
    head = (f"{backend.backend}: the Oct pass takes {t.time_ms / t.time_vanilla_ms:.2f}× the vanilla time "
            f"({t.time_ms:.1f} vs {t.time_vanilla_ms:.1f} ms profiled) for {mac_ratio:.2f}× the MACs")
    lost = losses(backend)
    if not lost:
        return head + "; no kind takes longer than its MACs predict."
    named = ", ".join(f"{r.kind} ({r.excess_ms:+.1f} ms)" for r in lost)
    share = sum(r.excess_ms for r in lost) / t.excess_ms if t.excess_ms > 0 else None
    of = f", {share:.0%} of the {t.excess_ms:+.1f} ms excess" if share is not None and share <= 1 else ""
    return f"{head}; the saving is lost mostly in {named}{of}."


def explain_footer(result: ExplainResult, verbose: bool = False) -> str:
    lines = [verdict(backend) for backend in result.backends]
    for backend in result.backends:
        t = backend.total
        lines.append(f"{backend.backend} ({backend.profiler}, {backend.passes} passes): profiled pass vanilla "
                     f"{t.time_vanilla_ms:.2f} ms, oct {t.time_ms:.2f} ms; unprofiled median "
                     f"{t.unprofiled_vanilla_ms:.2f} and {t.unprofiled_ms:.2f} ms (the difference is the profiler's "
                     "own cost)")
    lines += [f"ceilings, measured now: {result.peak_gmacs_per_s:.1f} GMAC/s peak (large GEMM), "
              f"{result.bandwidth_gb_per_s:.1f} GB/s (large copy), ridge "
              f"{result.peak_gmacs_per_s / result.bandwidth_gb_per_s:.2f} MACs/byte",
              f"bound: C compute, M memory, O per-call overhead (a call under {OVERHEAD_CALL_MS * 1e3:.0f} µs "
              f"taking over {OVERHEAD_FACTOR:g}× its roofline time), · not placed; excess ms = oct ms − oct MACs × "
              "vanilla conv ms per MAC (kinds without MACs: oct ms − vanilla ms); the rows add up to the total",
              "times are means over the profiled passes; (unattributed) is pass time no profiled call covers"]
    if result.backends:
        r = result.backends[0].total
        lines.append(f"profiled on {r.device_name}, {threads_text(r.threads)}, {r.dtype}, torch {r.torch_version}")
    lines += [f"not profiled: {line}" for line in result.not_profiled]
    if verbose:
        for backend in result.backends:
            for variant in ("vanilla", "oct"):
                lines.append(f"slowest calls, {variant} on {backend.backend}:")
                lines += [f"  {node.ms:8.3f} ms  {node.kind:<18} {node.name}"
                          for node in backend.slowest if node.variant == variant]
    return "\n".join(lines + [f"warning: {w}" for w in result.warnings])


def explain_plot(result: ExplainResult, fmt: str) -> bytes:
    """Per backend: stacked ms per kind, vanilla beside Oct; and each kind with MACs on the roofline
    (achieved GMAC/s against MACs per byte), vanilla as circles, Oct as triangles. PNG or SVG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure


    count = len(result.backends)
    fig = Figure(figsize=(12, 4.6 * count), dpi=120)
    FigureCanvasAgg(fig)
    axes = fig.subplots(count, 2, squeeze=False, gridspec_kw={"wspace": 0.55, "hspace": 0.45})
    kinds = list(dict.fromkeys(r.kind for b in result.backends for r in b.rows if r.kind != "total"))
    # tab20's twenty colours, then the same again hatched, so kinds stay apart; what no call covers in grey
    from matplotlib import colormaps

    palette = colormaps["tab20"]
    colors = {kind: palette(i % 20) for i, kind in enumerate(k for k in kinds if k != UNATTRIBUTED)}
    colors[UNATTRIBUTED] = "lightgrey"
    hatches = {kind: "" if i < 20 else "//" for i, kind in enumerate(kinds)}
    for (bars, roof), backend in zip(axes, result.backends, strict=True):
        bottoms = [0.0, 0.0]
        for row in backend.rows[:-1]:
            heights = [max(row.time_vanilla_ms, 0.0), max(row.time_ms, 0.0)]
            bars.bar([0, 1], heights, bottom=bottoms, color=colors[row.kind], hatch=hatches[row.kind],
                     label=row.kind, width=0.6, edgecolor="white", linewidth=0.4)
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
        bars.set_xticks([0, 1], ["vanilla", f"oct α={result.alpha:g}"])
        bars.set_ylabel("ms per profiled pass")
        bars.set_title(f"{backend.backend}: time by kind of work", fontsize=9)
        bars.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
        _roofline(roof, backend, result, colors)
    fig.suptitle(f"{result.model}, {result.input_shape[-1]}², batch {result.input_shape[0]}, α={result.alpha:g}: "
                 "why fewer MACs are not less time", fontsize=10)
    return figure_bytes(fig, fmt)


def _roofline(ax, backend: ExplainBackend, result: ExplainResult, colors: dict[str, str]) -> None:
    peak, bandwidth = result.peak_gmacs_per_s, result.bandwidth_gb_per_s
    points = [(r, r.macs_vanilla / r.bytes_vanilla, r.gmacs_per_s_vanilla, "o") for r in backend.kinds()
              if r.gmacs_per_s_vanilla and r.bytes_vanilla] + \
             [(r, r.macs / r.bytes, r.gmacs_per_s, "^") for r in backend.kinds() if r.gmacs_per_s and r.bytes]
    intensities = [p[1] for p in points] or [1.0]
    low, high = min(intensities + [peak / bandwidth]) / 3, max(intensities + [peak / bandwidth]) * 3
    xs = [low * (high / low) ** (i / 100) for i in range(101)]
    ax.plot(xs, [min(peak, bandwidth * x) for x in xs], color="black", lw=1.2,
            label=f"roofline: {peak:.0f} GMAC/s, {bandwidth:.0f} GB/s")
    for row, intensity, rate, marker in points:
        ax.scatter([intensity], [rate], marker=marker, color=colors[row.kind], s=30, zorder=3)
    ax.scatter([], [], marker="o", color="grey", label="vanilla kind")
    ax.scatter([], [], marker="^", color="grey", label="Oct kind")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("MACs per byte moved (analytic)")
    ax.set_ylabel("achieved GMAC/s")
    ax.set_title(f"{backend.backend}: kinds with MACs under this machine's roofline", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
