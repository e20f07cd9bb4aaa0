"""ablate: the paper's ablation at one α: full OctConv, without H→L, without L→H, without both, strided
down-sampling; each design against vanilla and against the full OctConv, counted and timed alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from functools import partial

from rich.markup import escape
from rich.table import Table

from octprofile.errors import BadValueError
from octprofile.nn import ABLATIONS, FULL, OctDesign, check_alpha
from octprofile.report.cells import num, plain_ratio, scale_of, timing_warning_lines
from octprofile.report.columns import Column, ColumnSet
from octprofile.runtime.cpu_free import threads_text
from octprofile.runtime.timing import TimingComparison, TimingOptions
from octprofile.studies.compare import SweepResult, VariantRow, sweep_result
from octprofile.studies.subject import Progress, StudyInterrupted, Subject
from octprofile.studies.variants import measure


@dataclass
class AblationRow:
    """One variant of an ablation: vanilla, or an Oct design at the ablation's alpha. ``*_ratio`` divide by
    vanilla, ``*_vs_full`` by the full OctConv (None for vanilla); latency ratios are medians of per-round
    ratios on the same backend."""

    model: str
    variant: str  # "vanilla" or the design's name ("full", "no-hl", "no-lh", "no-exchange", "strided", ...)
    alpha: float
    design: str | None
    params: int
    params_dropped: int
    params_ratio: float
    macs: int
    macs_fvcore: int | None
    flops_torch: int
    counts_agree: bool
    mac_ratio: float
    mac_ratio_vs_full: float | None
    activations: int
    activation_ratio: float
    activation_ratio_vs_full: float | None
    pool_ops: int
    upsample_ops: int
    add_ops: int
    latency_ms: float | None
    latency_iqr_ms: float | None
    latency_ratio: float | None
    latency_ratio_iqr: float | None
    latency_ratio_vs_full: float | None
    latency_ratio_vs_full_iqr: float | None
    backend: str | None
    input_size: int
    batch_size: int
    placement: str
    device: str | None
    device_name: str | None
    cpu_isa: str | None
    threads: int | None
    torch_version: str | None
    dtype: str | None
    timing_rounds: int | None


ABLATION_COLUMNS = ColumnSet(
    tuple(f.name for f in fields(AblationRow)),
    default=("model", "variant", "alpha", "params", "params_ratio", "macs", "mac_ratio", "mac_ratio_vs_full",
             "activation_ratio", "backend", "latency_ms", "latency_ratio", "latency_ratio_vs_full"),
    display={"params_ratio": Column("params ÷ vanilla", "ratio"), "mac_ratio_vs_full": Column("MACs ÷ full", "ratio"),
             "activation_ratio_vs_full": Column("activations ÷ full", "ratio"),
             "latency_ratio_vs_full": Column("latency ÷ full", "ratio"),
             "latency_ratio_vs_full_iqr": Column("latency ÷ full IQR", "ratio")})


@dataclass
class AblationResult:
    """The paper's ablation at one alpha: ``rows`` one per variant (and backend, when timed on several);
    ``sweep`` holds the full compare rows of the same variants (for the tables and any other column)."""

    sweep: SweepResult
    full: str  # the variant the *_vs_full ratios divide by
    rows: list[AblationRow]

    @property
    def alpha(self) -> float:
        return next(row.alpha for row in self.rows if row.alpha > 0)

    def variant_rows(self) -> list[AblationRow]:
        """One row per variant (its counts are the same on every backend): the first backend's."""
        return [row for row in self.rows if row.backend == self.rows[0].backend]

    def row(self, variant: str, backend: str | None = None) -> AblationRow:
        backend = backend or (self.sweep.backends[0] if self.sweep.backends else None)
        return next(row for row in self.rows if row.variant == variant and row.backend == backend)

    def records(self) -> list[dict]:
        return [asdict(row) for row in self.rows]


def ablate(study: Subject, alpha: float, designs: Sequence[OctDesign] = ABLATIONS, *, fvcore: bool = True,
           timing: TimingOptions | None = None, progress: Progress | None = None) -> AblationResult:
    """The paper's ablation at one alpha: one Oct variant per design (default: full, no H->L, no L->H,
    no exchange, strided down-sampling), each against vanilla and against the full design (added
    when missing). Variants are named by their design (``OctDesign.name``)."""
    alpha = check_alpha(alpha)
    if alpha == 0:
        raise BadValueError("an ablation compares Oct designs: give an α above 0")
    designs = list(dict.fromkeys(designs))
    if FULL not in designs:
        designs.insert(0, FULL)
    specs = [("vanilla", 0.0, FULL), *((d.name, alpha, d) for d in designs)]
    try:
        variants, timed = measure(study, specs, fvcore, timing, progress, "variants", partial(sweep_result, study))
    except StudyInterrupted as stop:  # the ablation of what finished, when the full design did
        finished = stop.result is not None and any(row.variant == FULL.name for row in stop.result.rows)
        raise StudyInterrupted(_ablation(stop.result, stop.timing) if finished else None, str(stop)) from None
    return _ablation(sweep_result(study, variants, timed), timed)


def _ablation(sweep: SweepResult, timed: TimingComparison | None) -> AblationResult:
    return AblationResult(sweep, FULL.name, [_ablation_row(row, sweep, timed) for row in sweep.rows])


def _ablation_row(row: VariantRow, sweep: SweepResult, timed: TimingComparison | None) -> AblationRow:
    full = sweep.row(FULL.name, row.backend)
    octave = row.alpha > 0
    vs_full = timed.ratio(row.variant, row.backend, base=FULL.name) if timed is not None and octave else None
    return AblationRow(
        **{name: getattr(row, name) for name in ABLATION_COLUMNS if hasattr(row, name)},  # as in the compare row
        params_ratio=row.params / sweep.vanilla.params,
        mac_ratio_vs_full=row.macs / full.macs if octave else None,
        activation_ratio_vs_full=row.activations / full.activations if octave else None,
        latency_ratio_vs_full=vs_full.median if vs_full else None,
        latency_ratio_vs_full_iqr=vs_full.iqr if vs_full else None)


DESIGN_WORDS = {"full": "all four paths, average pooling (the paper's OctConv)", "no-hl": "without H→L",
                "no-lh": "without L→H", "no-exchange": "without H→L and L→H (two independent streams)",
                "strided": "down-sampling by strided convs instead of pooling"}


def ablation_table(result: AblationResult, title: str) -> Table:
    """Counts, one row per variant: against vanilla and against the full OctConv."""
    rows = result.variant_rows()
    mac_div, mac_unit = scale_of([r.macs for r in rows])
    table = Table(title=escape(title), title_justify="left")
    headers = ("variant", "params\nM", "dropped\nM", f"{mac_unit}MACs", "MACs\n÷ van.", "MACs\n÷ full",
               "act.\n÷ van.", "act.\n÷ full")
    for header in headers:
        table.add_column(header, justify="left" if header == "variant" else "right")
    for r in rows:
        table.add_row(r.variant, num(r.params, 1e6), num(r.params_dropped, 1e6), num(r.macs, mac_div),
                      plain_ratio(r.mac_ratio), plain_ratio(r.mac_ratio_vs_full), plain_ratio(r.activation_ratio),
                      plain_ratio(r.activation_ratio_vs_full))
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
            parts.append(f"{kind} ops {num(mine, 1e6, 2)} M (full {num(theirs, 1e6, 2)} M)")
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
    lines += [result.sweep.cache] if result.sweep.cache else []
    timed = result.sweep.timed
    if timed is not None:
        c = timed.context
        lines.append("latency: every variant prepared alike on each backend, timed in the same interleaved rounds:")
        lines += [f"  {name}: {description}" for name, description in timed.backends.items()]
        lines.append(f"timed on {c.device_name} ({c.device}{', ' + c.isa if c.isa else ''}), "
                     f"{threads_text(c.threads)}, {timed.dtype}, torch {c.torch_version}, "
                     f"{timed.rounds} interleaved rounds")
        lines += [timed.threads_note] if timed.threads_note else []
        lines += [f"latency inconclusive: {timed.doubt}, so no ratio is a finding"] if timed.doubt else []
        lines += timing_warning_lines(timed.warnings, verbose)
    return "\n".join(lines)
