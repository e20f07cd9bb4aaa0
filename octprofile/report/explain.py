"""``explain``'s terminal tables (one per backend, within 80 columns), its footer, whose one sentence per
backend is computed from the rows, and its plot (stacked time per kind, and the roofline scatter)."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table

from octprofile.analysis.op_kinds import UNATTRIBUTED
from octprofile.analysis.roofline import OVERHEAD_CALL_MS, OVERHEAD_FACTOR
from octprofile.results import ExplainBackend, ExplainResult, ExplainRow

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
        lines.append(f"profiled on {r.device_name}, {r.threads} threads, {r.dtype}, torch {r.torch_version}")
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

    from octprofile.report.plots import figure_bytes

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
