"""compare (and sweep, its general form): vanilla and Oct variants side by side, counted, cross-checked and timed.

``compare`` puts one Oct model beside vanilla; ``sweep`` one row per α. Both return a ``SweepResult`` whose
rows (``VariantRow``) are written under ``COMPARE_COLUMNS``; the terminal shows ``profile_table`` (counts, one
column per variant), ``latency_table`` (one column per backend) and ``footer`` (the verdict, then what was
compared and where).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import partial

from rich.markup import escape
from rich.table import Table

from octprofile.analysis.crosscheck import counter_disagreements
from octprofile.analysis.theory import (
    network_activation_ratio,
    network_mac_ratio,
    theory_activation_ratio,
    theory_mac_ratio,
)
from octprofile.errors import BadValueError
from octprofile.nn import OctDesign, check_alpha, rounding_note
from octprofile.report.cells import (
    latency_verdict,
    not_converted_lines,
    num,
    ratio_cell,
    runs_verdict,
    scale_of,
    timing_warning_lines,
    vector_block_note,
)
from octprofile.report.columns import Column, ColumnSet
from octprofile.runtime.context import vector_floats
from octprofile.runtime.timing import TimingComparison, TimingOptions
from octprofile.studies.subject import Progress, Subject, variant_name
from octprofile.studies.variants import Timed, Variant, cache_line, measure, timed_summary


@dataclass
class VariantRow:
    """One model variant (vanilla at alpha 0, or Oct at some alpha); ratios are against the vanilla row."""

    # counts (always present)
    model: str
    variant: str
    alpha: float
    input_size: int
    batch_size: int
    params: int
    macs: int
    macs_fvcore: int | None
    fvcore_total: int | None
    flops_torch: int
    mac_ratio: float
    theory_mac_ratio: float
    activations: int
    # timing (None when not timed)
    latency_ms: float | None
    latency_iqr_ms: float | None
    device: str | None
    threads: int | None
    # more counts
    activation_bytes: int
    activation_ratio: float
    theory_activation_ratio: float
    latency_ratio: float | None
    latency_ratio_iqr: float | None
    peak_memory_bytes: int | None
    peak_memory_ratio: float | None
    pool_ops: int
    upsample_ops: int
    add_ops: int
    bn_ops: int
    fvcore_unsupported: str | None
    params_equal: bool
    counts_agree: bool
    placement: str
    # how the timing was taken
    backend: str | None
    prepare_s: float | None
    dtype: str | None
    device_name: str | None
    cpu_isa: str | None
    torch_version: str | None
    timing_rounds: int | None
    timing_warnings: str | None
    # the headline: this variant on its fastest backend ÷ vanilla on its fastest backend, same rounds
    best_backend: str | None
    best_latency_ratio: float | None
    best_latency_ratio_iqr: float | None
    # how the octave layers are wired (OctDesign.name; None for vanilla) and the weights that removes
    design: str | None
    params_dropped: int  # weights of the dropped paths: params = vanilla params − params_dropped
    # what theory predicts for this network: each layer's closed form weighted by its vanilla MACs / outputs
    network_theory_mac_ratio: float
    network_theory_activation_ratio: float
    activation_peak_bytes: int  # analytic: the most bytes alive at once in one inference forward pass
    activation_peak_low_bytes: int  # of which low-frequency maps (OctPair.low) passed between layers
    activation_peak_ratio: float
    activation_peak_at: str  # the module whose output reached the peak
    # with --repeat: independent timing runs, how far apart their median ratios lie (largest − smallest),
    # whether they lie within a typical run's IQR of each other, and the lowest and highest run's median ratio
    timing_runs: int | None = None
    latency_ratio_between_runs: float | None = None
    best_latency_ratio_between_runs: float | None = None
    latency_ratio_reproduces: bool | None = None
    latency_ratio_lowest_run: float | None = None
    latency_ratio_highest_run: float | None = None


COMPARE_COLUMNS = ColumnSet(
    tuple(f.name for f in fields(VariantRow)),
    default=("model", "variant", "alpha", "design", "params", "macs", "mac_ratio", "activation_ratio", "backend",
             "latency_ms", "latency_ratio"),
    display={
        "fvcore_total": Column("fvcore total", "count"), "activation_bytes": Column("activation memory", "bytes"),
        "peak_memory_bytes": Column("peak memory", "bytes"),
        "peak_memory_ratio": Column("peak memory ÷ vanilla", "ratio"),
        "bn_ops": Column("BN ops", "count"), "fvcore_unsupported": Column("fvcore unsupported", "text"),
        "prepare_s": Column("preparation (s)"),
        "best_backend": Column("best backend", "text"),
        "best_latency_ratio": Column("best latency ÷ best vanilla", "ratio"),
        "best_latency_ratio_iqr": Column("best latency ratio IQR", "ratio"),
        "activation_peak_bytes": Column("activation peak", "bytes"),
        "activation_peak_low_bytes": Column("activation peak, low", "bytes"),
        "activation_peak_ratio": Column("activation peak ÷ vanilla", "ratio"),
        "activation_peak_at": Column("activation peak in", "text"),
        "latency_ratio_between_runs": Column("latency ratio between runs", "ratio"),
        "best_latency_ratio_between_runs": Column("best latency ratio between runs", "ratio"),
        "latency_ratio_lowest_run": Column("latency ratio, lowest run", "ratio"),
        "latency_ratio_highest_run": Column("latency ratio, highest run", "ratio"),
    })


@dataclass(frozen=True)
class BreakEven:
    """From which α Oct beats vanilla on one backend, read off the measured α values."""

    backend: str
    faster_from: float | None  # smallest measured α from which every larger measured α is faster; None: never
    estimate: float | None  # where the ratio crosses 1, interpolated between the two α values around it
    slower_at: float | None  # the largest measured α that is not faster (None: faster at every α measured)

    def describe(self) -> str:
        if self.faster_from is None:
            return "slower at every α measured"
        if self.slower_at is None:
            return f"faster at every α measured (from {self.faster_from:g})"
        return f"≈{self.estimate:.2f} (slower at {self.slower_at:g}, faster from {self.faster_from:g})"

    def short(self) -> str:
        """For a table cell: '≈0.38', '≤0.125' (faster at every α measured) or '>0.75' (never faster)."""
        if self.faster_from is None:
            return f">{self.slower_at:g}" if self.slower_at is not None else ""
        return f"≤{self.faster_from:g}" if self.slower_at is None else f"≈{self.estimate:.2f}"


@dataclass
class SweepResult:
    """Rows of ``compare`` (vanilla, oct) or ``sweep`` (one per alpha), in the order asked; when timed on
    several backends, one row per variant and backend, grouped by backend in the order timed."""

    model: str
    input_shape: tuple[int, ...]
    rows: list[VariantRow]
    timed: Timed | None = None
    not_converted: dict[str, str] = field(default_factory=dict)  # conv layers left vanilla: path -> reason
    low_channels: dict[str, tuple[int, ...]] = field(default_factory=dict)  # Oct variant -> its low channel counts
    cache: str | None = None  # the footer's line on the count cache (which counts came from it); None: not used

    @property
    def backends(self) -> list[str]:
        """The backends timed, in order (empty when not timed)."""
        return list(self.timed.backends) if self.timed else []

    @property
    def vanilla(self) -> VariantRow:
        return next(row for row in self.rows if row.alpha == 0)

    def variant_rows(self) -> list[VariantRow]:
        """One row per variant (its counts are the same on every backend): the first backend's."""
        first = self.rows[0].backend
        return [row for row in self.rows if row.backend == first]

    def row(self, variant: str, backend: str | None = None) -> VariantRow:
        """``variant``'s row on ``backend`` (default: the first backend timed, or the only row)."""
        backend = backend or (self.backends[0] if self.backends else None)
        return next(row for row in self.rows if row.variant == variant and row.backend == backend)

    def on(self, backend: str) -> list[VariantRow]:
        """Every variant's row on ``backend``."""
        return [row for row in self.rows if row.backend == backend]

    def on_variant(self, variant: str) -> list[VariantRow]:
        """``variant``'s row on every backend."""
        return [row for row in self.rows if row.variant == variant]

    def fastest(self, variant: str) -> VariantRow:
        """``variant``'s row on the backend where it ran fastest (its ``best_backend``)."""
        return self.row(variant, self.on_variant(variant)[0].best_backend)

    def break_even(self, backend: str) -> BreakEven:
        """From which measured α Oct is faster than vanilla on ``backend``."""
        measured = sorted((row for row in self.on(backend) if row.alpha > 0), key=lambda row: row.alpha)
        slower = [row for row in measured if row.latency_ratio >= 1]
        faster = [row for row in measured if not slower or row.alpha > slower[-1].alpha]
        if not faster:
            return BreakEven(backend, None, None, slower[-1].alpha if slower else None)
        if not slower:
            return BreakEven(backend, faster[0].alpha, None, None)
        before, after = slower[-1], faster[0]
        share = (before.latency_ratio - 1) / (before.latency_ratio - after.latency_ratio)
        return BreakEven(backend, after.alpha, before.alpha + share * (after.alpha - before.alpha), before.alpha)

    def records(self) -> list[dict]:
        """The rows as dicts in column order: what the file formats write."""
        return [asdict(row) for row in self.rows]


def compare(study: Subject, alpha: float, *, fvcore: bool = True, timing: TimingOptions | None = None,
            progress: Progress | None = None) -> SweepResult:
    """Rows ``vanilla`` and ``oct`` for one alpha (above 0)."""
    if check_alpha(alpha) == 0:
        raise BadValueError("compare puts an Oct model beside vanilla: give an α above 0")
    return sweep(study, [0.0, alpha], fvcore=fvcore, timing=timing, progress=progress,
                      variant_names=("vanilla", "oct"))


def sweep(study: Subject, alphas: Sequence[float], *, fvcore: bool = True, timing: TimingOptions | None = None,
          progress: Progress | None = None, variant_names: Sequence[str] | None = None) -> SweepResult:
    """One row per alpha, in the order given (alpha 0, the vanilla model, is added first when
    missing); every ratio is against the alpha-0 row."""
    alphas = [check_alpha(a) for a in alphas]
    if len(set(alphas)) != len(alphas):
        raise BadValueError(f"alpha values repeat: {alphas}")
    if 0.0 not in alphas:
        alphas = [0.0, *alphas]
    names = list(variant_names) if variant_names else [variant_name(a) for a in alphas]
    specs = [(name, alpha, study.options.design) for name, alpha in zip(names, alphas, strict=True)]
    variants, timed = measure(study, specs, fvcore, timing, progress, "α values", partial(sweep_result, study))
    return sweep_result(study, variants, timed)


def sweep_result(study: Subject, variants: list[Variant], timed: TimingComparison | None = None) -> SweepResult:
    base = next(v for v in variants if v.alpha == 0)
    backends = timed.options.backends if timed else (None,)
    rows = [_row(study, v, base, timed, backend) for backend in backends for v in variants]
    summary = None
    if timed is not None:
        summary = timed_summary(timed)
    skipped = {name: reason for v in variants for name, reason in v.not_converted.items()}
    return SweepResult(study.model.name, study.input_shape, rows, summary, skipped,
                       {v.name: v.count.low_channels for v in variants if v.alpha}, cache_line(study, variants))


def _row(study: Subject, v: Variant, base: Variant, timed: TimingComparison | None, backend: str | None) -> VariantRow:
    count, fv = v.count, v.fvcore
    other = count.other
    row = VariantRow(
        model=study.model.name, variant=v.name, alpha=v.alpha, input_size=study.input_shape[-1],
        batch_size=study.input_shape[0], params=count.params, macs=count.macs,
        macs_fvcore=fv.macs if fv else None, fvcore_total=fv.total if fv else None, flops_torch=v.flops_torch,
        mac_ratio=count.macs / base.count.macs,
        theory_mac_ratio=theory_mac_ratio(v.alpha, v.alpha, exchange_hl=v.design.hl, exchange_lh=v.design.lh),
        activations=count.activations, latency_ms=None, latency_iqr_ms=None, device=None, threads=None,
        activation_bytes=count.activation_bytes(), activation_ratio=count.activations / base.count.activations,
        theory_activation_ratio=theory_activation_ratio(v.alpha), latency_ratio=None, latency_ratio_iqr=None,
        peak_memory_bytes=None, peak_memory_ratio=None, pool_ops=other["pool"], upsample_ops=other["upsample"],
        add_ops=other["add"], bn_ops=other["bn"],
        fvcore_unsupported="; ".join(f"{op}×{n}" for op, n in sorted(fv.unsupported.items())) if fv else None,
        params_equal=count.params == base.count.params,
        counts_agree=not counter_disagreements(count.macs, v.flops_torch, fv.macs if fv else None),
        placement=study.options.placement, backend=None, prepare_s=None, dtype=None, device_name=None,
        cpu_isa=None, torch_version=None, timing_rounds=None, timing_warnings=None, best_backend=None,
        best_latency_ratio=None, best_latency_ratio_iqr=None,
        design=v.design.name if v.alpha > 0 else None, params_dropped=count.params_dropped,
        network_theory_mac_ratio=network_mac_ratio(count.layers, {la.name: la.macs for la in base.count.layers}),
        network_theory_activation_ratio=network_activation_ratio(
            count.layers, {la.name: la.activations for la in base.count.layers}),
        activation_peak_bytes=v.memory.peak_bytes, activation_peak_low_bytes=v.memory.peak_low_bytes,
        activation_peak_ratio=v.memory.peak_bytes / base.memory.peak_bytes, activation_peak_at=v.memory.peak_at,
    )
    if timed is not None:
        timing, base_timing = timed.timing(v.name, backend), timed.timing(base.name, backend)
        context = timed.context
        row.latency_ms, row.latency_iqr_ms = timing.latency_ms, timing.latency_iqr_ms
        ratio = timed.ratio(v.name, backend)
        row.latency_ratio, row.latency_ratio_iqr = ratio.median, ratio.iqr
        row.timing_runs, row.latency_ratio_between_runs = timed.options.repeats, ratio.between_runs
        if ratio.run_medians:
            row.latency_ratio_reproduces = ratio.reproduces()
            row.latency_ratio_lowest_run, row.latency_ratio_highest_run = min(ratio.run_medians), max(ratio.run_medians)
        row.peak_memory_bytes = timing.peak_memory_bytes
        if timing.peak_memory_bytes is not None and base_timing.peak_memory_bytes:
            row.peak_memory_ratio = timing.peak_memory_bytes / base_timing.peak_memory_bytes
        row.device, row.threads, row.device_name = context.device, context.threads, context.device_name
        row.cpu_isa, row.torch_version = context.isa or None, context.torch_version
        row.backend, row.prepare_s, row.dtype = backend, timing.prepare_s, timed.options.dtype
        row.timing_rounds = timed.options.rounds
        row.timing_warnings = "; ".join(timed.warnings) or None
        best = timed.best_ratio(v.name)
        row.best_backend, row.best_latency_ratio, row.best_latency_ratio_iqr = best.backend, best.median, best.iqr
        row.best_latency_ratio_between_runs = best.between_runs
    return row


def _theory(row: VariantRow, field: str) -> str:
    """A theory ratio; blank for vanilla, where it is 1 by definition."""
    return "" if row.alpha == 0 else ratio_cell(getattr(row, field))


def _variant_label(row: VariantRow) -> str:
    return f"oct α={row.alpha:g}" if row.variant == "oct" else row.variant


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
        backends, doubt = result.backends, result.timed.doubt if result.timed else None
        several_threads = bool(result.timed) and result.timed.context.threads > 1
        if len(backends) == 1 and not doubt and row.latency_ratio_reproduces is False:
            parts.append(runs_verdict(row.latency_ratio_lowest_run, row.latency_ratio_highest_run, row.timing_runs,
                                      f"on {backends[0]}", several_threads))
        elif len(backends) == 1:
            parts.append(latency_verdict(row.latency_ratio, row.latency_ratio_iqr, f"on {backends[0]}", doubt,
                                         several_threads))
        elif backends:
            parts.append(latency_verdict(row.best_latency_ratio, row.best_latency_ratio_iqr, "best vs best", doubt,
                                         several_threads))
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
        # the measured times stay; a ratio the timing cannot support is not stated as a finding
        ratio = ("inconclusive (see the verdict)" if result.timed.doubt else
                 f"{row.best_latency_ratio:.3f}× (IQR {row.best_latency_ratio_iqr:.3f})")
        lines.append(f"best vs best: {_variant_label(row)} on {best.backend} ({best.latency_ms:.2f} ms) ÷ vanilla on "
                     f"{vanilla.backend} ({vanilla.latency_ms:.2f} ms) = {ratio}")
    return lines


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
    lines += [note for n in sorted({OctDesign.parse(r.design).low_multiple for r in result.rows if r.design})
              if (note := rounding_note(n))]
    lines += [result.cache] if result.cache else []
    timed = result.timed
    if timed is not None:
        c = timed.context
        isa = f", {c.isa}" if c.isa else ""
        # what was compared stays in every footer: both sides prepared alike, and how
        lines.append("latency: vanilla and Oct prepared alike on each backend, timed in the same interleaved rounds:")
        lines += [f"  {name}: {description}" for name, description in timed.backends.items()]
        lines += headline(result)
        if c.device == "cpu":
            lines += vector_block_note(vector_floats(c.isa), c.isa, {_variant_label(row): result.low_channels.get(
                row.variant, ()) for row in result.variant_rows() if row.alpha})
        if sum(r.alpha > 0 for r in result.variant_rows()) > 1:
            lines += [f"break-even α on {b}: " + (f"inconclusive ({timed.doubt})" if timed.doubt else
                                                  result.break_even(b).describe()) for b in result.backends]
        threads = f"{c.threads} thread{'s' * (c.threads != 1)}"
        runs = f"{timed.runs} independent runs (each prepared afresh) of " if timed.runs > 1 else ""
        lines.append(f"timed on {c.device_name} ({c.device}{isa}), {threads}, {timed.dtype}, "
                     f"torch {c.torch_version}, {runs}{timed.rounds} interleaved rounds; ratios: medians of "
                     "per-round ratios, same backend")
        lines += [timed.threads_note] if timed.threads_note else []
        lines += timing_warning_lines(timed.warnings, verbose)
    return "\n".join(lines)


def profile_table(result: SweepResult, title: str, wide: bool = False) -> Table:
    """Counts, one column per variant; params in millions unless ``wide`` (then exact)."""
    rows = result.variant_rows()
    mac_div, mac_unit = scale_of([r.macs for r in rows])
    act_div, act_unit = scale_of([r.activations for r in rows])
    param_div, param_unit = scale_of([r.params for r in rows])
    table = Table(title=escape(title), title_justify="left")
    table.add_column("", justify="left")
    for r in rows:  # the header names the variant and its α, so no row repeats it
        table.add_column(_variant_label(r), justify="right")
    lines = [
        ("params", [f"{r.params:,}" for r in rows]) if wide
        else (f"params ({param_unit})", [num(r.params, param_div) for r in rows]),
        (f"{mac_unit}MACs, analytic", [num(r.macs, mac_div) for r in rows]),
        (f"{mac_unit}MACs, fvcore", [num(r.macs_fvcore, mac_div) for r in rows]),
        (f"{mac_unit}MACs, torch FLOPs ÷ 2", [num(r.flops_torch / 2, mac_div) for r in rows]),
        ("MACs ÷ vanilla", [ratio_cell(r.mac_ratio) for r in rows]),
        ("  theory, this network", [_theory(r, "network_theory_mac_ratio") for r in rows]),
        ("  theory, one layer", [_theory(r, "theory_mac_ratio") for r in rows]),
        (f"activations ({act_unit} values)", [num(r.activations, act_div) for r in rows]),
        ("activations ÷ vanilla", [ratio_cell(r.activation_ratio) for r in rows]),
        ("  theory, this network", [_theory(r, "network_theory_activation_ratio") for r in rows]),
        ("  theory, one layer", [_theory(r, "theory_activation_ratio") for r in rows]),
        ("activation peak MiB", [num(r.activation_peak_bytes, 2**20, 2) for r in rows]),
        ("  of which low", [num(r.activation_peak_low_bytes, 2**20, 2) if r.alpha else "" for r in rows]),
        ("  peak ÷ vanilla", [ratio_cell(r.activation_peak_ratio) for r in rows]),
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
            lines.append((f"  {row.timing_runs} runs, max − min", cells(
                row.variant, lambda r: num(r.latency_ratio_between_runs, digits=3))))
        lines += [("  peak memory MiB", cells(row.variant, lambda r: num(r.peak_memory_bytes, 2**20, 1))),
                  ("  preparation s", cells(row.variant, lambda r: num(r.prepare_s, digits=2)))]
        for text, values in lines:
            if any(values):
                table.add_row(text, *values)
    if sum(r.alpha > 0 for r in result.variant_rows()) > 1:
        table.add_row("break-even α", *(result.break_even(b).short() for b in backends))
    return table
