"""Rich tables with units in the headers, and the one-line verdict. Compare and sweep tables are transposed
(counts: one column per variant; latency: one column per backend), so they fit an 80-column terminal."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from octprofile.analysis.training import MEASURED_TOLERANCE
from octprofile.results import (
    COUNTER_KINDS,
    AblationResult,
    BlocksResult,
    CheckResult,
    CountersResult,
    CoverageResult,
    LayersResult,
    SweepResult,
    TrainingResult,
    TrainingRow,
    VariantRow,
    counters_ran,
)
from octprofile.runtime.stats import NOISE_LIMIT


def _scale(values: Sequence[float | None]) -> tuple[float, str]:
    largest = max((abs(v) for v in values if v is not None), default=0)
    return (1e9, "G") if largest >= 1e9 else (1e6, "M") if largest >= 1e6 else (1e3, "K")


def _num(value, divisor: float = 1.0, digits: int = 3) -> str:
    return "" if value is None else f"{value / divisor:,.{digits}f}"


def _ratio(value) -> str:
    return "" if value is None else f"{value:.3f}×"


def _theory(row: VariantRow, field: str) -> str:
    """A theory ratio; blank for vanilla, where it is 1 by definition."""
    return "" if row.alpha == 0 else _ratio(getattr(row, field))


def _variant_label(row: VariantRow) -> str:
    return f"oct α={row.alpha:g}" if row.variant == "oct" else row.variant


def latency_verdict(ratio: float, spread: float, where: str) -> str:
    """'0.61× latency on eager (IQR 0.02)', or 'latency ≈ vanilla …' when the IQR band holds 1, or
    'latency inconclusive …' with the reason and what to do when the spread is above the noise limit."""
    if spread > NOISE_LIMIT * ratio:
        return (f"latency inconclusive {where}: {ratio:.2f}× but IQR {spread:.2f} is {spread / ratio:.0%} of it "
                f"(> {NOISE_LIMIT:.0%}); rerun with more --rounds on an otherwise idle machine")
    if ratio - spread / 2 <= 1 <= ratio + spread / 2:
        return f"latency ≈ vanilla {where} ({ratio:.2f}×, IQR {spread:.2f})"
    return f"{ratio:.2f}× latency {where} (IQR {spread:.2f})"


def _params_verdict(result: SweepResult) -> str:
    rows = result.variant_rows()
    dropped = [r.params_dropped for r in rows if r.params_dropped]
    if not all(r.params == result.vanilla.params - r.params_dropped for r in rows):
        return "PARAMS DIFFER"
    if not dropped:
        return "params equal"
    return (f"params = vanilla − {dropped[0] / 1e6:.3f} M in dropped paths" if len(dropped) == 1
            else "params = vanilla − dropped paths")


def verdict(result: SweepResult) -> str:
    """e.g. 'params equal · counts agree · 0.58× MACs · 0.67× activations · 0.61× latency on eager (IQR 0.02)'."""
    rows = result.variant_rows()
    octave = [r for r in rows if r.alpha > 0]
    parts = [_params_verdict(result),
             "counts agree" if all(r.counts_agree for r in rows) else "COUNTS DISAGREE"]
    if len(octave) == 1:
        row = octave[0]
        parts += [f"{row.mac_ratio:.2f}× MACs", f"{row.activation_ratio:.2f}× activations"]
        backends = result.backends
        if len(backends) == 1:
            parts.append(latency_verdict(row.latency_ratio, row.latency_ratio_iqr, f"on {backends[0]}"))
        elif backends:
            parts.append(latency_verdict(row.best_latency_ratio, row.best_latency_ratio_iqr, "best vs best"))
    return " · ".join(parts)


def headline(result: SweepResult) -> list[str]:
    """Per Oct variant: Oct on its fastest backend ÷ vanilla on its fastest backend, timed in the same rounds."""
    if len(result.backends) < 2:
        return []
    vanilla = result.fastest(result.vanilla.variant)
    lines = []
    for row in result.variant_rows():
        if row.alpha == 0:
            continue
        best = result.fastest(row.variant)
        lines.append(f"best vs best: {_variant_label(row)} on {best.backend} ({best.latency_ms:.2f} ms) ÷ vanilla on "
                     f"{vanilla.backend} ({vanilla.latency_ms:.2f} ms) = {row.best_latency_ratio:.3f}× "
                     f"(IQR {row.best_latency_ratio_iqr:.3f})")
    return lines


def _timing_warnings(warnings: Sequence[str], verbose: bool) -> list[str]:
    """Every warning with --verbose; otherwise one line that counts them and says where they are."""
    if verbose or len(warnings) <= 1:
        return [f"warning: {warning}" for warning in warnings]
    return [f"warning: {warnings[0]} (+{len(warnings) - 1} more: --verbose, or the timing_warnings column)"]


def not_converted_lines(layers: dict[str, str], model: str | None = None) -> list[str]:
    """'not converted: features.3.conv — WSConv2d has its own forward', one line per conv layer the converter
    left vanilla (``model`` prefixes the layer where several models share one output)."""
    prefix = f"{model} " if model else ""
    return [f"not converted: {prefix}{name} — {reason}" for name, reason in layers.items()]


def peak_place(result: SweepResult) -> str:
    """Where each variant's activation peak is reached, and why α may leave it unchanged."""
    rows = list({row.variant: row for row in result.rows}.values())
    places = {row.activation_peak_at for row in rows}
    where = (f"in '{places.pop()}' for every variant" if len(places) == 1 else
             ", ".join(f"{row.variant} in '{row.activation_peak_at}'" for row in rows))
    flat = [row.variant for row in rows if row.alpha > 0 and not row.activation_peak_low_bytes]
    why = (f"; {', '.join(flat)}: no low-frequency map is alive at the peak, so a part α leaves vanilla sets it"
           if flat else "")
    return f"Activation peak reached: {where}{why}."


def footer(result: SweepResult, verbose: bool = False) -> str:
    """The verdict, what the counts and theory mean, then what the timing compared, where it ran, and any
    warning about its noise. Without ``verbose``: one line each for units, theory and the machine, and at
    most one warning line."""
    fvcore = any(r.macs_fvcore is not None for r in result.rows)
    lines = [verdict(result), *not_converted_lines(result.not_converted),
             f"MACs: multiply-accumulates of conv + linear layers; activations: the values they output (all "
             f"summed); activation peak: the most bytes alive at once in one inference pass, every op followed "
             f"(analytic, meta device); counts agree: analytic = torch FLOPs ÷ 2{' = fvcore' if fvcore else ''}.",
             peak_place(result)]
    if verbose:
        lines.append("Theory, this network: each layer's closed form weighted by its vanilla MACs (activations: "
                     "outputs); it differs from the count only where floor(α·c) or an odd map size rounds. One "
                     "layer: 1−¾α(2−α) (activations 1−¾α), a single octave layer's ratio, not a target for the "
                     "network, whose stem, last stage and classifier stay vanilla.")
    else:
        lines.append("Theory, this network: each layer's closed form weighted by its vanilla MACs (equal to the "
                     "count unless floor(α·c) rounds); one layer: 1−¾α(2−α), a single layer's ratio, which no "
                     "network reaches.")
    timed = result.timed
    if timed is not None:
        c = timed.context
        isa = f", {c.isa}" if c.isa else ""
        # what was compared stays in every footer: both sides prepared alike, and how
        lines.append("latency: vanilla and Oct prepared alike on each backend, timed in the same interleaved rounds:")
        lines += [f"  {name}: {description}" for name, description in timed.backends.items()]
        lines += headline(result)
        if sum(r.alpha > 0 for r in result.variant_rows()) > 1:
            lines += [f"break-even α on {b}: {result.break_even(b).describe()}" for b in result.backends]
        lines.append(f"timed on {c.device_name} ({c.device}{isa}), {c.threads} threads, {timed.dtype}, "
                     f"torch {c.torch_version}, {timed.rounds} interleaved rounds; ratios: medians of per-round "
                     "ratios, same backend")
        lines += _timing_warnings(timed.warnings, verbose)
    return "\n".join(lines)


def profile_table(result: SweepResult, title: str, wide: bool = False) -> Table:
    """Counts, one column per variant; params in millions unless ``wide`` (then exact)."""
    rows = result.variant_rows()
    mac_div, mac_unit = _scale([r.macs for r in rows])
    act_div, act_unit = _scale([r.activations for r in rows])
    param_div, param_unit = _scale([r.params for r in rows])
    table = Table(title=escape(title), title_justify="left")
    table.add_column("", justify="left")
    for r in rows:  # the header names the variant and its α, so no row repeats it
        table.add_column(_variant_label(r), justify="right")
    lines = [
        ("params", [f"{r.params:,}" for r in rows]) if wide
        else (f"params ({param_unit})", [_num(r.params, param_div) for r in rows]),
        (f"{mac_unit}MACs, analytic", [_num(r.macs, mac_div) for r in rows]),
        (f"{mac_unit}MACs, fvcore", [_num(r.macs_fvcore, mac_div) for r in rows]),
        (f"{mac_unit}MACs, torch FLOPs ÷ 2", [_num(r.flops_torch / 2, mac_div) for r in rows]),
        ("MACs ÷ vanilla", [_ratio(r.mac_ratio) for r in rows]),
        ("  theory, this network", [_theory(r, "network_theory_mac_ratio") for r in rows]),
        ("  theory, one layer", [_theory(r, "theory_mac_ratio") for r in rows]),
        (f"activations ({act_unit} values)", [_num(r.activations, act_div) for r in rows]),
        ("activations ÷ vanilla", [_ratio(r.activation_ratio) for r in rows]),
        ("  theory, this network", [_theory(r, "network_theory_activation_ratio") for r in rows]),
        ("  theory, one layer", [_theory(r, "theory_activation_ratio") for r in rows]),
        ("activation peak MiB", [_num(r.activation_peak_bytes, 2**20, 2) for r in rows]),
        ("  of which low", [_num(r.activation_peak_low_bytes, 2**20, 2) if r.alpha else "" for r in rows]),
        ("  ÷ vanilla", [_ratio(r.activation_peak_ratio) for r in rows]),
    ]
    for label, cells in lines:
        if any(cells):
            table.add_row(label, *cells)
    return table


def latency_table(result: SweepResult) -> Table:
    """Latency, one column per backend: each variant's median, its ratio to vanilla on the same backend,
    peak memory and one-off preparation; break-even α for a sweep."""
    backends = result.backends
    table = Table(title="latency, median (IQR); ratios to vanilla on the same backend", title_justify="left")
    table.add_column("", justify="left")
    for backend in backends:
        table.add_column(backend, justify="right")

    def cells(variant: str, value) -> list[str]:
        return [value(result.row(variant, b)) for b in backends]

    for row in result.variant_rows():
        label = _variant_label(row)
        lines = [(f"{label}, ms", cells(row.variant, lambda r: f"{r.latency_ms:.2f} ({r.latency_iqr_ms:.2f})"))]
        if row.alpha > 0:
            lines.append(("  ÷ vanilla", cells(row.variant,
                                               lambda r: f"{r.latency_ratio:.3f} ({r.latency_ratio_iqr:.3f})")))
        lines += [("  peak memory MiB", cells(row.variant, lambda r: _num(r.peak_memory_bytes, 2**20, 1))),
                  ("  preparation s", cells(row.variant, lambda r: _num(r.prepare_s, digits=2)))]
        for text, values in lines:
            if any(values):
                table.add_row(text, *values)
    if sum(r.alpha > 0 for r in result.variant_rows()) > 1:
        table.add_row("break-even α", *(result.break_even(b).short() for b in backends))
    return table


DESIGN_WORDS = {"full": "all four paths, average pooling (the paper's OctConv)", "no-hl": "without H→L",
                "no-lh": "without L→H", "no-exchange": "without H→L and L→H (two independent streams)",
                "strided": "down-sampling by strided convs instead of pooling"}


def _plain_ratio(value) -> str:
    return "" if value is None else f"{value:.3f}"


def ablation_table(result: AblationResult, title: str) -> Table:
    """Counts, one row per variant: against vanilla and against the full OctConv."""
    rows = result.variant_rows()
    mac_div, mac_unit = _scale([r.macs for r in rows])
    table = Table(title=escape(title), title_justify="left")
    headers = ("variant", "params\nM", "dropped\nM", f"{mac_unit}MACs", "MACs\n÷ van.", "MACs\n÷ full",
               "act.\n÷ van.", "act.\n÷ full")
    for header in headers:
        table.add_column(header, justify="left" if header == "variant" else "right")
    for r in rows:
        table.add_row(r.variant, _num(r.params, 1e6), _num(r.params_dropped, 1e6), _num(r.macs, mac_div),
                      _plain_ratio(r.mac_ratio), _plain_ratio(r.mac_ratio_vs_full), _plain_ratio(r.activation_ratio),
                      _plain_ratio(r.activation_ratio_vs_full))
    return table


def ablation_latency_table(result: AblationResult) -> Table:
    """Latency, one row per variant and backend: median (IQR), ÷ vanilla and ÷ full on the same backend."""
    table = Table(title="latency, median (IQR); ratios on the same backend, per-round medians",
                  title_justify="left")
    for header in ("variant", "backend", "ms", "÷ vanilla", "÷ full"):
        table.add_column(header, justify="left" if header in ("variant", "backend") else "right")
    for backend in result.sweep.backends:
        for r in (row for row in result.rows if row.backend == backend):
            table.add_row(r.variant, backend, f"{r.latency_ms:.2f} ({r.latency_iqr_ms:.2f})",
                          "" if r.alpha == 0 else f"{r.latency_ratio:.3f} ({r.latency_ratio_iqr:.3f})",
                          "" if r.alpha == 0 else f"{r.latency_ratio_vs_full:.3f} ({r.latency_ratio_vs_full_iqr:.3f})")
        table.add_section()
    return table


def _other_work_change(row, full) -> str:
    """'; pool ops 2.81 M (full 7.50 M)' for each kind of parameter-free work that differs from full."""
    parts = []
    for kind in ("pool", "upsample", "add"):
        mine, theirs = getattr(row, f"{kind}_ops"), getattr(full, f"{kind}_ops")
        if mine != theirs:
            parts.append(f"{kind} ops {_num(mine, 1e6, 2)} M (full {_num(theirs, 1e6, 2)} M)")
    return "; " + ", ".join(parts) if parts else ""


def ablation_footer(result: AblationResult, verbose: bool = False) -> str:
    rows = result.variant_rows()
    vanilla = next(r for r in rows if r.alpha == 0)
    full = next(r for r in rows if r.variant == result.full)
    params_ok = all(r.params == vanilla.params - r.params_dropped for r in rows)
    lines = [" · ".join([
        "params = vanilla − dropped paths" if params_ok else "PARAMS DIFFER from vanilla − dropped paths",
        "counts agree" if all(r.counts_agree for r in rows) else "COUNTS DISAGREE"])]
    for r in rows:
        if r.alpha == 0:
            continue
        words = " + ".join(DESIGN_WORDS.get(part, part) for part in r.variant.split("+"))
        same = r is not full and "no-" in r.variant and r.macs == full.macs
        lines.append(f"  {r.variant}: {words}{_other_work_change(r, full)}"
                     + (" — identical to full here (no layer is octave on both sides)" if same else ""))
    lines.append("MACs: multiply-accumulates of conv + linear layers; act.: the values they output; dropped: weights "
                 "of the dropped paths (absent, not zeroed). The layers entering and leaving the octave keep the "
                 "H→L / L→H path that makes or reads the low-frequency map.")
    timed = result.sweep.timed
    if timed is not None:
        c = timed.context
        lines.append("latency: every variant prepared alike on each backend, timed in the same interleaved rounds:")
        lines += [f"  {name}: {description}" for name, description in timed.backends.items()]
        lines.append(f"timed on {c.device_name} ({c.device}{', ' + c.isa if c.isa else ''}), {c.threads} threads, "
                     f"{timed.dtype}, torch {c.torch_version}, {timed.rounds} interleaved rounds")
        lines += _timing_warnings(timed.warnings, verbose)
    return "\n".join(lines)


def _alphas(row) -> str:
    return "" if row.alpha_in is None else f"{row.alpha_in:g}→{row.alpha_out:g}"


def layers_table(result: LayersResult, title: str, depth: int = 0, wide: bool = False,
                 width: int | None = None) -> Table:
    """One row per layer (or per group of layers at ``depth``) and a total. The default columns fit 80
    terminal columns (MACs to 0.1 M; a long layer name folds where ``width`` is too small for it); ``wide``
    adds the vanilla MACs, theory, share, activations, params and output shape, and a second decimal, and
    is as wide as it needs (print it without a width limit)."""
    rows = result.rollup(depth) if depth else result.rows
    div, unit = _scale([r.macs_vanilla for r in rows])
    digits = 2 if wide or div > 1e6 else 1
    act_div, act_unit = _scale([r.activations for r in rows])
    columns = [("layer", lambda r: r.layer), ("α in→out", _alphas),
               ("s", lambda r: "" if r.stride is None else str(r.stride)),
               (f"{unit}MACs", lambda r: _num(r.macs, div, digits)), ("÷ van.", lambda r: _plain_ratio(r.mac_ratio))]
    if wide:
        columns += [(f"vanilla\n{unit}MACs", lambda r: _num(r.macs_vanilla, div, digits)),
                    ("theory", lambda r: _plain_ratio(r.theory_mac_ratio)),
                    ("% of\nMACs", lambda r: f"{100 * r.share_of_macs:.1f}")]
    columns += [(label, lambda r, p=path: _num(getattr(r, f"macs_{p}"), div, digits))
                for label, path in (("H→H", "hh"), ("H→L", "hl"), ("L→H", "lh"), ("L→L", "ll"))]
    if wide:
        columns += [(f"act.\n{act_unit}", lambda r: _num(r.activations, act_div, 3)),
                    ("params", lambda r: f"{r.params:,}"), ("output C×H×W", lambda r: r.output_shape)]
    cells = [[cell(r) for _, cell in columns] for r in [*rows, result.total]]
    return _compact_table(title, [header for header, _ in columns], cells, width, {"output C×H×W"}, total=True)


def _compact_table(title: str, headers: list[str], cells: list[list[str]], width: int | None,
                   left: set[str], total: bool = False) -> Table:
    """No vertical rules, one space between columns, every column exactly as wide as its text, so that a table
    fits 80 columns; the first column (layer names) folds where ``width`` leaves too little room for it.
    Columns are right-aligned but those in ``left``; ``total``: the last row is a total, under a rule."""
    table = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 0, 0, 1), pad_edge=False,
                  show_edge=False)
    widths = [max(len(line) for text in [header, *(row[i] for row in cells)] for line in text.split("\n"))
              for i, header in enumerate(headers)]
    room = (width or 10**6) - sum(widths[1:]) - 2 * (len(widths) - 1)  # what the layer names may take
    table.add_column(headers[0], overflow="fold", min_width=max(12, min(widths[0], room)))
    for header, column_width in zip(headers[1:], widths[1:]):
        table.add_column(header, justify="left" if header in left else "right", width=column_width, no_wrap=True)
    for index, row in enumerate(cells):
        if total and index == len(cells) - 1:
            table.add_section()
        table.add_row(*row)
    return table


def blocks_table(result: BlocksResult, title: str) -> Table:
    """Per block: MAC ratio beside time ratio, and the milliseconds the MAC saving does not explain."""
    table = Table(title=escape(title), title_justify="left")
    for header in ("block", "MACs\n÷", "vanilla\nms", "oct\nms", "time ÷\n(IQR)", "excess\nms", "% of\ntime"):
        table.add_column(header, justify="left" if header == "block" else "right")
    for r in result.rows:
        if r.block == "total":
            table.add_section()
        table.add_row(r.block, "" if r.mac_ratio is None else f"{r.mac_ratio:.3f}", f"{r.latency_vanilla_ms:.2f}",
                      f"{r.latency_ms:.2f}", f"{r.latency_ratio:.2f} ({r.latency_ratio_iqr:.2f})",
                      f"{r.excess_ms:+.2f}", f"{100 * r.share_of_vanilla:.1f}")
    return table


def blocks_footer(result: BlocksResult, verbose: bool = False) -> str:
    r = result.total
    lines = [f"total: {r.mac_ratio:.3f}× MACs, {r.latency_ratio:.3f}× time (IQR {r.latency_ratio_iqr:.3f}); "
             f"{r.excess_ms:+.2f} ms beyond what the MAC ratio predicts",
             "excess ms = oct ms − vanilla ms × MACs ÷ (blocks without MACs: oct ms − vanilla ms); % of time: share "
             "of the vanilla model's time; times are medians of per-block wall time measured by hooks",
             f"timed on {r.device_name} ({r.device}{', ' + r.cpu_isa if r.cpu_isa else ''}), {r.threads} threads, "
             f"torch {r.torch_version}, backend {r.backend} for both, {result.passes} interleaved passes each"]
    return "\n".join(lines + _timing_warnings(result.warnings, verbose))


COUNTER_WORDS = {"analytic": "analytic", "FlopCounterMode": "FlopCounterMode FLOPs ÷ 2", "fvcore": "fvcore"}
COUNTER_SHORT = {"analytic": "analytic", "FlopCounterMode": "FLOPs ÷ 2", "fvcore": "fvcore"}  # narrow layout


def _macs_cell(value: int | float | None) -> str:
    if value is None:
        return ""
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"  # an odd FLOP count halves to .5


def _check_result_cell(result: CheckResult) -> str:
    return "ok" if result.ok else "FAIL: " + "; ".join(result.failures)


def _wide_check_table(results: Sequence[CheckResult], title: str) -> Table:
    """One line per model and alpha, a column per counter that ran."""
    ablated = any(r.design != "full" for r in results)
    counters = counters_ran(results)
    table = Table(title=escape(title), title_justify="left")
    headers = ("model", "α", *(("design", "dropped") if ablated else ()), "params vanilla", "params oct",
               *(f"MACs {name}" if name != "FlopCounterMode" else COUNTER_WORDS[name] for name in counters), "result")
    for header in headers:
        table.add_column(header, justify="left" if header in ("model", "design", "result") else "right")
    for r in results:
        design = (r.design, f"{r.params_dropped:,}") if ablated else ()
        given = r.counter_macs
        table.add_row(r.model, f"{r.alpha:g}", *design, f"{r.params_vanilla:,}", f"{r.params_oct:,}",
                      *(_macs_cell(given.get(name)) for name in counters), _check_result_cell(r))
    return table


def _narrow_check_table(results: Sequence[CheckResult], title: str) -> Table:
    """The same values stacked, for 80 columns: params and each counter's MACs one per line; the failures
    are left to the summary line, which names them in full."""
    ablated = any(r.design != "full" for r in results)
    table = Table(title=escape(title), title_justify="left", show_lines=True)
    table.add_column("model")
    for header in ("α", "params", "MACs by counter"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("result")
    for r in results:
        params = [f"{r.params_oct:,} oct", f"{r.params_vanilla:,} vanilla",
                  *([f"−{r.params_dropped:,} dropped"] if ablated else [])]
        macs = [f"{_macs_cell(value)} {COUNTER_SHORT[name]}" for name, value in r.counter_macs.items()]
        table.add_row(r.model + (f"\n{r.design}" if ablated else ""), f"{r.alpha:g}", "\n".join(params),
                      "\n".join(macs), "ok" if r.ok else "FAIL")
    return table


class _CheckTable:
    """The wide layout where it fits the console, else the narrow one."""

    def __init__(self, results: Sequence[CheckResult]) -> None:
        counters = counters_ran(results)
        words = ", ".join(COUNTER_WORDS[name] for name in counters)
        skipped = "" if "fvcore" in counters else " (fvcore not run)"
        title = f"octprofile check: params, and MACs by {len(counters)} counters: {words}{skipped}"
        self.wide = _wide_check_table(results, title)
        self.narrow = _narrow_check_table(results, title)

    def __rich_console__(self, console: Console, options: ConsoleOptions):
        # measured without a limit: a table's measurement is otherwise clamped to the console's width
        natural = Measurement.get(console, options.update_width(10**6), self.wide).maximum
        yield self.wide if natural <= options.max_width else self.narrow


def check_table(results: Sequence[CheckResult]) -> RenderableType:
    """One row per model and alpha: params vanilla and oct, what each MAC counter that ran gave, ok or the
    failures; the design and the dropped paths' weights when a design drops paths. On a narrow console
    (80 columns) the values of a row are stacked in its cells."""
    return _CheckTable(results)


def check_summary(results: Sequence[CheckResult]) -> str:
    """The last line of check: how many cases passed, over which models, alphas and counters, and what failed.

    e.g. 'check: 4 of 4 passed (resnet50, mobilenet_v2 × α 0.25, 0.5; 3 counters agree: analytic,
    FlopCounterMode, fvcore)'."""
    counters = counters_ran(results)
    models = ", ".join(dict.fromkeys(r.model for r in results))
    alphas = ", ".join(dict.fromkeys(f"{r.alpha:g}" for r in results))
    designs = ", ".join(dict.fromkeys(r.design for r in results if r.design != "full"))
    scope = f"{models} × α {alphas}" + (f", design {designs}" if designs else "")
    skipped = "" if "fvcore" in counters else "; fvcore not run"
    failed = [r for r in results if not r.ok]
    if not failed:
        return (f"check: {len(results)} of {len(results)} passed ({scope}; {len(counters)} counters agree: "
                f"{', '.join(counters)}{skipped}{_cross_check_words(results)})")
    what = " · ".join(f"{r.label}: {'; '.join(r.failures)}" for r in failed)
    return (f"check: {len(failed)} of {len(results)} FAILED: {what} ({scope}; counters: {', '.join(counters)}"
            f"{skipped}{_cross_check_words(results)})")


def coverage_table(result: CoverageResult, title: str, width: int | None = None) -> Table:
    """One row per conv/linear layer of the vanilla model: octave (with its α in→out) or vanilla (with the kind of
    reason, explained in the footer), and its share of the vanilla MACs. Fits 80 columns (long layer names fold)."""
    div, unit = _scale([r.macs_vanilla for r in result.rows])
    columns = [("layer", lambda r: r.layer), ("kind", lambda r: r.kind),
               ("α in→out", lambda r: f"{r.alpha_in:g}→{r.alpha_out:g}" if r.converted else "vanilla"),
               (f"vanilla\n{unit}MACs", lambda r: _num(r.macs_vanilla, div, 2)),
               ("% of\nMACs", lambda r: f"{100 * r.share_of_vanilla_macs:.1f}"),
               ("vanilla because", lambda r: r.vanilla_reason)]
    cells = [[cell(r) for _, cell in columns] for r in result.rows]
    return _compact_table(title, [header for header, _ in columns], cells, width, {"kind", "α in→out",
                                                                                    "vanilla because"})


def coverage_footer(result: CoverageResult) -> str:
    """What α touches, in one line, then one line per kind of reason a layer stayed vanilla."""
    total = result.macs_vanilla
    div, unit = _scale([total])
    converted = sum(row.macs_vanilla for row in result.converted)
    lines = [f"α={result.alpha:g} touches {len(result.converted)} of {len(result.rows)} conv/linear layers: "
             f"{100 * result.converted_share:.1f}% of the vanilla MACs ({converted / div:,.2f} of "
             f"{total / div:,.2f} {unit}MACs, multiply-accumulates)."]
    lines += [f"vanilla, {kind}: {layers} layer{'s' if layers > 1 else ''}, {100 * share:.1f}% of the MACs — {text}"
              for kind, (layers, share, text) in result.vanilla_by_reason().items()]
    return "\n".join(lines)


def _cross_check_words(results: Sequence[CheckResult]) -> str:
    """'; cross-checked: torchvision, ptflops, thop' and why any were skipped, for the summary line."""
    ran = list(dict.fromkeys(name for r in results for name in r.cross_checks))
    skipped = "; ".join(dict.fromkeys(r.cross_checks_skipped for r in results if r.cross_checks_skipped))
    return ((f"; cross-checked: {', '.join(ran)}" if ran else "")
            + (f"; not cross-checked: {skipped}" if skipped else ""))


COUNTER_LABELS = {"analytic": "analytic MACs", "FlopCounterMode": "FlopCounterMode FLOPs", "fvcore": "fvcore total",
                  "ptflops": "ptflops total", "thop": "thop total", "torchinfo": "torchinfo mult-adds",
                  "torchvision": "torchvision GFLOPS"}
KIND_LABELS = {"as_flops": "+ 2nd FLOP of a MAC", "bn": "+ batch norm", "activation": "+ ReLU", "pool": "+ pooling",
               "upsample": "+ upsampling", "add": "+ additions", "bias": "+ bias", "rounding": "± rounding",
               "unhooked": "− custom modules", "transposed": "+ transposed by output"}


def _exact(value) -> str:
    return "" if value is None else f"{value:,}"


def counters_table(result: CountersResult, title: str) -> Table:
    """Every counter's total for vanilla and Oct, in exact element operations, each followed by what its own
    rules add per op kind and the residual they leave; then the params each counter gave."""
    variants = list(dict.fromkeys(row.variant for row in result.rows))
    table = Table(title=escape(title), title_justify="left")
    table.add_column("batch 1, exact counts")
    for variant in variants:
        table.add_column("vanilla" if variant == "vanilla" else f"oct α={result.alpha:g}", justify="right")

    def cells(counter: str, quantity: str, field: str) -> list[str]:
        rows = [result.row(counter, variant, quantity) for variant in variants]
        return [("not run" if row.value is None and field == "value" else _exact(getattr(row, field)))
                if row is not None else "" for row in rows]

    counters = list(dict.fromkeys(row.counter for row in result.rows if row.quantity == "MACs"))
    for counter in counters:
        table.add_row(COUNTER_LABELS[counter], *cells(counter, "MACs", "value"), end_section=counter == "analytic")
        if counter == "analytic":
            continue
        rows = [result.row(counter, variant) for variant in variants]
        for kind in COUNTER_KINDS:
            if any(row is not None and getattr(row, kind) for row in rows):
                table.add_row(f"  {KIND_LABELS[kind]}", *cells(counter, "MACs", kind))
        ran = any(row is not None and row.value is not None for row in rows)
        table.add_row("  = residual" if ran else "", *(cells(counter, "MACs", "residual") if ran else ()),
                      end_section=True)
    for counter in dict.fromkeys(row.counter for row in result.rows if row.quantity == "params"):
        label = "params" + ("" if counter == "analytic" else f", {counter}")
        table.add_row(label, *cells(counter, "params", "value"))
    return table


def counters_footer(result: CountersResult) -> str:
    """How each counter counts, what it counts as zero, why any did not run, and whether all were reconciled."""
    lines = ["Each total = analytic conv + linear MACs + that counter's own rules per op kind (its source, "
             "applied to the ops this model runs); residual = what they leave unexplained (0: understood)."]
    counters = dict.fromkeys(row.counter for row in result.rows if row.counter != "analytic")
    for counter in counters:
        rows = [row for row in result.rows if row.counter == counter]
        ran = [row for row in rows if row.value is not None and row.quantity == "MACs"]
        if not ran:
            lines.append(f"{counter}: {rows[0].note}")
            continue
        kinds = [kind for kind in COUNTER_KINDS if any(getattr(row, kind) for row in ran)]
        rules = "; ".join(result.reasons[counter, kind] for kind in kinds if (counter, kind) in result.reasons)
        missed = ", ".join(dict.fromkeys(item for row in ran for item in row.missed.split(", ") if item))
        said = [f"{counter}: {rules}" if rules else f"{counter}: conv + linear only",
                *([f"counts as zero: {missed}"] if missed else []),
                *(f"{row.variant}: {row.note}" for row in rows if row.value is None)]
        lines.append("; ".join(said))
    params = [row for row in result.rows if row.quantity == "params" and row.value is not None]
    unequal = [f"{row.counter} {row.variant} {row.value:,} ({row.difference:+,}"
               + (", a custom module's own parameters uncounted)" if row.unhooked else ")")
               for row in params if row.difference]
    lines.append("params: " + ("every counter gives the analytic count" if not unequal else
                               "differ from the analytic count: " + ", ".join(unequal)))
    open_rows = result.unreconciled()
    lines.append("reconciled: every residual is 0" if not open_rows else
                 "NOT reconciled: " + ", ".join(f"{r.counter} {r.quantity} {r.variant} ({r.residual:+,})"
                                                for r in open_rows))
    return "\n".join(lines)



def _mib(value) -> str:
    return _num(value, 2**20, 1)


def _training_label(row: TrainingRow) -> str:
    return f"oct α={row.alpha:g}" if row.variant == "oct" else row.variant


def training_table(result: TrainingResult, title: str) -> Table:
    """One training step, one column per variant: MACs of forward + backward, step time, memory."""
    rows = result.rows
    div, unit = _scale([r.train_macs for r in rows])
    table = Table(title=escape(title), title_justify="left")
    table.add_column("", justify="left")
    for r in rows:
        table.add_column(_training_label(r), justify="right")
    budget = rows[0].memory_budget_bytes
    lines = [
        (f"{unit}MACs fwd+bwd, analytic", [_num(r.train_macs, div) for r in rows]),
        (f"{unit}MACs, torch FLOPs ÷ 2", [_num(r.train_flops_torch / 2, div) for r in rows]),
        ("MACs ÷ vanilla", [_ratio(r.train_mac_ratio) for r in rows]),
        ("  theory, this network", ["" if r.alpha == 0 else _ratio(r.theory_train_mac_ratio) for r in rows]),
        ("step ms (IQR)", ["" if r.step_ms is None else f"{r.step_ms:.0f} ({r.step_iqr_ms:.0f})" for r in rows]),
        ("step ÷ vanilla (IQR)", ["" if r.step_ms is None or r.alpha == 0
                                  else f"{r.step_ratio:.2f} ({r.step_ratio_iqr:.2f})" for r in rows]),
        ("weights+buffers MiB", [_mib(r.param_bytes) for r in rows]),
        ("gradients MiB", [_mib(r.gradient_bytes) for r in rows]),
        ("optimizer state MiB", [_mib(r.optimizer_state_bytes) for r in rows]),
        ("kept for bwd: high MiB", [_mib(r.saved_high_bytes) for r in rows]),
        ("  measured (hooks)", [_mib(r.measured_saved_high_bytes) for r in rows]),
        ("kept for bwd: low MiB", [_mib(r.saved_low_bytes) for r in rows]),
        ("  measured (hooks)", [_mib(r.measured_saved_low_bytes) for r in rows]),
        ("peak MiB, analytic", [_mib(r.peak_train_bytes) for r in rows]),
        ("peak MiB, measured", [_mib(r.measured_peak_train_bytes) for r in rows]),
        ("  measured ÷ analytic", [_ratio(r.measured_peak_vs_analytic) for r in rows]),
        ("peak ÷ vanilla", [_ratio(r.peak_train_ratio) for r in rows]),
        (f"largest batch, {budget / 2**30:.1f} GiB", [str(r.max_batch_size) for r in rows]),
        ("  measured peak MiB", [_mib(r.max_batch_measured_peak_bytes) for r in rows]),
        ("inference peak MiB", [_mib(r.inference_peak_bytes) for r in rows]),
    ]
    for label, cells in lines:
        if any(cells):
            table.add_row(label, *cells)
    return table


def training_footer(result: TrainingResult, verbose: bool = False) -> str:
    """The verdict, what each figure covers, the tolerance of measured memory, and where it ran."""
    rows = result.rows
    octave = [r for r in rows if r.alpha > 0]
    parts = ["training counts agree" if all(r.train_counts_agree for r in rows) else "TRAINING COUNTS DISAGREE"]
    if len(octave) == 1:
        row = octave[0]
        parts += [f"{row.train_mac_ratio:.2f}× training MACs", f"{row.peak_train_ratio:.2f}× peak memory"]
        if row.step_ratio is not None:
            parts.append(latency_verdict(row.step_ratio, row.step_ratio_iqr, "per step").replace("latency", "time"))
    low, high = MEASURED_TOLERANCE
    lines = [" · ".join(parts),
             "MACs fwd+bwd: conv + linear forward, weight gradients, and input gradients of every layer but the "
             "first (its input needs none); torch FLOPs ÷ 2: FlopCounterMode over forward + backward (a grouped "
             "conv's weight gradient counted once). Kept for bwd: activations autograd saves (each storage once); "
             "low: on the low-frequency grid of octave layers. Peak: weights + optimizer state + batch + the most "
             "a step holds above them; analytic: every op followed on the meta device."]
    measured = [r for r in rows if r.measured_peak_vs_analytic is not None]
    if measured:
        outside = [r for r in measured if not low <= r.measured_peak_vs_analytic <= high]
        lines.append(f"peak measured by {measured[0].memory_measured_by}; expected within {low:.2f}–{high:.2f}× "
                     "the analytic peak (the analytic pass sees no library workspace; the real allocator may free "
                     "earlier than the last reference goes)"
                     + ("" if not outside else "; OUTSIDE for " + ", ".join(_training_label(r) for r in outside)))
    if verbose:
        lines.append("largest batch: the largest whose analytic peak fits the budget (peak memory grows linearly "
                     "in the batch once activations dominate); inference peak: the most bytes live at once in one "
                     "forward pass without autograd, above weights and input.")
    timed = next((r for r in rows if r.step_ms is not None), None)
    if timed is not None:
        isa = f", {timed.cpu_isa}" if timed.cpu_isa else ""
        lines.append(f"steps (forward, loss, backward, {timed.optimizer} update) on {timed.device_name} "
                     f"({timed.device}{isa}), {timed.threads} threads, torch {timed.torch_version}, float32, "
                     f"{timed.timing_rounds} interleaved rounds; ratios: medians of per-round ratios")
        lines += _timing_warnings(result.warnings, verbose)
    return "\n".join(lines)
