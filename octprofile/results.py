"""Typed results of a study, and the stable column names they are written under (CSV, JSON, Markdown, LaTeX).

Scripts and papers depend on the column names and their order: add new columns at the end of a group,
never rename one. A value that was not measured (timing off, fvcore off) is ``None``, never 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields

from octprofile.analysis.counters import KINDS as COUNTER_KINDS
from octprofile.analysis.crosscheck import counter_disagreements
from octprofile.runtime.context import MachineContext


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


COMPARE_COLUMNS = tuple(f.name for f in fields(VariantRow))


@dataclass
class Timed:
    """How a sweep was timed: each backend in words, the machine, what each preparation did, warnings."""

    backends: dict[str, str]  # name -> what it does to both variants, in words; in the order timed
    context: MachineContext
    dtype: str
    rounds: int
    warnings: list[str]
    notes: dict[tuple[str, str], list[str]]  # (variant, backend) -> what its preparation did


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


ABLATION_COLUMNS = (
    "model", "variant", "alpha", "design", "params", "params_dropped", "params_ratio", "macs", "macs_fvcore",
    "flops_torch", "counts_agree", "mac_ratio", "mac_ratio_vs_full", "activations", "activation_ratio",
    "activation_ratio_vs_full", "pool_ops", "upsample_ops", "add_ops", "latency_ms", "latency_iqr_ms",
    "latency_ratio", "latency_ratio_iqr", "latency_ratio_vs_full", "latency_ratio_vs_full_iqr", "backend",
    "input_size", "batch_size", "placement", "device", "device_name", "cpu_isa", "threads", "torch_version",
    "dtype", "timing_rounds")


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


assert tuple(f.name for f in fields(AblationRow)) == ABLATION_COLUMNS


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


LAYER_COLUMNS = ("layer", "kind", "alpha_in", "alpha_out", "stride", "macs", "macs_vanilla", "mac_ratio",
                 "theory_mac_ratio", "macs_hh", "macs_hl", "macs_lh", "macs_ll", "activations",
                 "activations_vanilla", "activation_ratio", "theory_activation_ratio", "params", "share_of_macs",
                 "output_shape")


@dataclass
class LayerRow:
    """One conv/linear layer of the Oct model beside the same layer of the vanilla model."""

    layer: str
    kind: str  # "conv", "octconv" or "linear"
    alpha_in: float | None  # None for a rollup or total row
    alpha_out: float | None
    stride: int | None
    macs: int
    macs_vanilla: int
    mac_ratio: float
    theory_mac_ratio: float
    macs_hh: int | None
    macs_hl: int | None
    macs_lh: int | None
    macs_ll: int | None
    activations: int
    activations_vanilla: int
    activation_ratio: float
    theory_activation_ratio: float
    params: int
    share_of_macs: float  # this layer's share of the Oct model's MACs (of the group's, for a rollup: its total)
    output_shape: str  # C×H×W of the output map, "high + low" for an octave layer; empty for a rollup row


assert tuple(f.name for f in fields(LayerRow)) == LAYER_COLUMNS


@dataclass
class LayersResult:
    """One row per conv/linear layer of the Oct model, in execution order; ``total`` and ``rollup`` sum them."""

    model: str
    alpha: float
    input_shape: tuple[int, ...]
    rows: list[LayerRow]
    not_converted: dict[str, str] = field(default_factory=dict)  # conv layers left vanilla: path -> reason

    @property
    def total(self) -> LayerRow:
        return _sum_rows("total", self.rows)

    def rollup(self, depth: int) -> list[LayerRow]:
        """Rows summed by the first ``depth`` parts of their names (depth 1: conv1, layer1, …, fc; depth 2:
        layer1.0, …), in order of first appearance. Ratios are of the sums; theory is weighted by vanilla MACs."""
        groups: dict[str, list[LayerRow]] = {}
        for row in self.rows:
            groups.setdefault(".".join(row.layer.split(".")[:depth]), []).append(row)
        return [rows[0] if len(rows) == 1 and rows[0].layer == name else _sum_rows(name, rows)
                for name, rows in groups.items()]

    def records(self) -> list[dict]:
        return [asdict(row) for row in self.rows]


def _sum_rows(name: str, rows: list[LayerRow]) -> LayerRow:
    def total(field: str) -> int | None:
        values = [getattr(row, field) for row in rows if getattr(row, field) is not None]
        return sum(values) if values else None

    macs, vanilla, activations, activations_vanilla = (total(f) for f in ("macs", "macs_vanilla", "activations",
                                                                          "activations_vanilla"))
    theory = sum(row.theory_mac_ratio * row.macs_vanilla for row in rows) / vanilla
    activation_theory = sum(row.theory_activation_ratio * row.activations_vanilla for row in rows) / activations_vanilla
    return LayerRow(layer=name, kind="group", alpha_in=None, alpha_out=None, stride=None, macs=macs,
                    macs_vanilla=vanilla, mac_ratio=macs / vanilla, theory_mac_ratio=theory,
                    macs_hh=total("macs_hh"), macs_hl=total("macs_hl"), macs_lh=total("macs_lh"),
                    macs_ll=total("macs_ll"), activations=activations, activations_vanilla=activations_vanilla,
                    activation_ratio=activations / activations_vanilla, theory_activation_ratio=activation_theory,
                    params=total("params"), share_of_macs=sum(row.share_of_macs for row in rows), output_shape="")


BLOCK_COLUMNS = ("model", "alpha", "block", "macs_vanilla", "macs", "mac_ratio", "latency_vanilla_ms", "latency_ms",
                 "latency_ratio", "latency_ratio_iqr", "excess_ms", "share_of_vanilla", "share_of_oct", "backend",
                 "input_size", "batch_size", "device", "device_name", "cpu_isa", "threads", "torch_version")


@dataclass
class BlockRow:
    """One block (e.g. ``layer3.2``, a bottleneck) of the vanilla and the Oct model, counted and timed.

    ``excess_ms`` is the time the MAC saving does not explain: Oct ms − vanilla ms × MAC ratio (blocks
    without MACs, such as pooling, are expected to take the vanilla time). Positive: overhead.
    """

    model: str
    alpha: float
    block: str  # a block name, "(between)" (work outside every block) or "total"
    macs_vanilla: int
    macs: int
    mac_ratio: float | None  # None where the block has no MACs
    latency_vanilla_ms: float  # median over passes
    latency_ms: float
    latency_ratio: float  # median of per-pass ratios (vanilla and Oct take turns pass by pass)
    latency_ratio_iqr: float
    excess_ms: float
    share_of_vanilla: float  # this block's share of the vanilla model's total time
    share_of_oct: float
    backend: str
    input_size: int
    batch_size: int
    device: str
    device_name: str
    cpu_isa: str | None
    threads: int
    torch_version: str


assert tuple(f.name for f in fields(BlockRow)) == BLOCK_COLUMNS


@dataclass
class BlocksResult:
    """Where the time goes, block by block; the last two rows are "(between)" and "total"."""

    model: str
    alpha: float
    input_shape: tuple[int, ...]
    rows: list[BlockRow]
    passes: int  # timed forward passes per model
    warnings: list[str]

    @property
    def total(self) -> BlockRow:
        return self.rows[-1]

    def records(self) -> list[dict]:
        return [asdict(row) for row in self.rows]


CHECK_COUNTERS = ("analytic", "FlopCounterMode", "fvcore")  # every MAC counter check can run, in order

CHECK_COLUMNS = ("model", "alpha", "design", "passed", "params_vanilla", "params_dropped", "params_expected",
                 "params_oct", "counters", "macs", "flops_torch", "macs_fvcore", "counts_agree", "failures",
                 "input_size", "cross_checks", "cross_checks_skipped")


@dataclass(frozen=True)
class CheckResult:
    """The CI gate for one model, alpha and design: params equal vanilla (less exactly the weights of the
    paths the design drops), and the MAC counters that ran agree (analytic; FlopCounterMode, whose FLOPs are
    2 x MACs; fvcore's conv + linear MACs unless it was switched off)."""

    model: str
    alpha: float
    params_vanilla: int
    params_oct: int
    macs: int
    flops_torch: int
    macs_fvcore: int | None
    failures: list[str] = field(default_factory=list)
    design: str = "full"
    params_dropped: int = 0  # weights of the dropped paths, from their shapes
    input_size: int | None = None  # the input side the counters ran at
    not_converted: dict[str, str] = field(default_factory=dict)  # conv layers left vanilla: path -> reason
    cross_checks: tuple[str, ...] = ()  # the cross-checks that ran (Study._cross_checks): torchvision, ptflops, thop
    cross_checks_skipped: str = ""  # why some did not run (a package to install), '' when none was skipped

    @classmethod
    def of(cls, model: str, alpha: float, params_vanilla: int, params_oct: int, macs: int, flops_torch: int,
           macs_fvcore: int | None, design: str = "full", params_dropped: int = 0,
           input_size: int | None = None) -> CheckResult:
        expected = params_vanilla - params_dropped
        failures = []
        if params_oct != expected:
            dropped = f" − {params_dropped:,} in dropped paths = {expected:,}" if params_dropped else ""
            failures.append(f"params {params_oct:,} ≠ vanilla {params_vanilla:,}{dropped}")
        failures += counter_disagreements(macs, flops_torch, macs_fvcore)
        return cls(model, alpha, params_vanilla, params_oct, macs, flops_torch, macs_fvcore, failures, design,
                   params_dropped, input_size)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def label(self) -> str:
        """Names the case: 'resnet50 α=0.5', with the design unless it is the full OctConv."""
        return f"{self.model} α={self.alpha:g}" + ("" if self.design == "full" else f" {self.design}")

    @property
    def params_expected(self) -> int:
        return self.params_vanilla - self.params_dropped

    @property
    def counters(self) -> tuple[str, ...]:
        """The MAC counters that ran, in CHECK_COUNTERS order."""
        return CHECK_COUNTERS if self.macs_fvcore is not None else CHECK_COUNTERS[:2]

    @property
    def counter_macs(self) -> dict[str, int | float]:
        """What each counter that ran gave, in MACs (FlopCounterMode's FLOPs ÷ 2)."""
        torch_macs = self.flops_torch // 2 if self.flops_torch % 2 == 0 else self.flops_torch / 2
        given = {"analytic": self.macs, "FlopCounterMode": torch_macs, "fvcore": self.macs_fvcore}
        return {name: given[name] for name in self.counters}

    @property
    def counts_agree(self) -> bool:
        return not counter_disagreements(self.macs, self.flops_torch, self.macs_fvcore)

    def record(self) -> dict:
        """One row under CHECK_COLUMNS, what --format json/csv writes: counters joined by ',', failures by
        '; ' (empty when passed)."""
        return dict(model=self.model, alpha=self.alpha, design=self.design, passed=self.ok,
                    params_vanilla=self.params_vanilla, params_dropped=self.params_dropped,
                    params_expected=self.params_expected, params_oct=self.params_oct,
                    counters=",".join(self.counters), macs=self.macs, flops_torch=self.flops_torch,
                    macs_fvcore=self.macs_fvcore, counts_agree=self.counts_agree, failures="; ".join(self.failures),
                    input_size=self.input_size, cross_checks=",".join(self.cross_checks),
                    cross_checks_skipped=self.cross_checks_skipped)


assert tuple(CheckResult.of("", 0.5, 0, 0, 0, 0, None).record()) == CHECK_COLUMNS


def counters_ran(results: Sequence[CheckResult]) -> tuple[str, ...]:
    """The MAC counters that ran in any of ``results``, in CHECK_COUNTERS order."""
    return tuple(name for name in CHECK_COUNTERS if any(name in r.counters for r in results))


COUNTER_COLUMNS = ("model", "variant", "alpha", "counter", "quantity", "value", "analytic", "difference",
                   *COUNTER_KINDS, "explained", "residual", "reconciled", "missed", "note", "input_size")


@dataclass
class CounterRow:
    """What one counter gave for one variant, beside the analytic count, and the difference explained by op kind:
    each kind column is what the counter's own rule adds for that kind of op (None where it adds nothing);
    ``residual`` = difference − explained, 0 when the difference is understood. ``value`` None: not run (``note``
    says why)."""

    model: str
    variant: str  # "vanilla" or "oct"
    alpha: float
    counter: str  # analytic, FlopCounterMode, fvcore, ptflops, thop, torchinfo, torchvision
    quantity: str  # "MACs" (the counter's total, in its own unit) or "params"
    value: int | None
    analytic: int  # the analytic MACs (conv + linear) or params
    difference: int | None  # value − analytic
    as_flops: int | None  # FlopCounterMode: the second FLOP of every multiply-accumulate
    bn: int | None
    activation: int | None
    pool: int | None
    upsample: int | None
    add: int | None
    bias: int | None
    rounding: int | None  # torchvision: the published figure's rounding (GFLOPS to 3 decimals)
    unhooked: int | None  # minus what a conv/linear subclass it has no hook for (exact type) would add: counted as 0
    transposed: int | None  # what counting a transposed conv by its output (thop), not its input, adds
    explained: int | None  # the sum of the kind columns
    residual: int | None
    reconciled: bool | None  # residual == 0
    missed: str  # parameter-free ops the counter counts as zero ("max pool", "avg pool in OctConv2d", ...)
    note: str  # how the counter ran, or why it did not
    input_size: int


assert tuple(f.name for f in fields(CounterRow)) == COUNTER_COLUMNS


@dataclass
class CountersResult:
    """Every counter's value for vanilla and Oct at one alpha, reconciled with the analytic count (batch 1);
    ``reasons``: per (counter, kind), how that counter counts that kind of op."""

    model: str
    alpha: float
    input_shape: tuple[int, ...]
    rows: list[CounterRow]
    reasons: dict[tuple[str, str], str]
    missing: dict[str, str]  # optional counters not installed -> the one-line message naming the extra

    def row(self, counter: str, variant: str, quantity: str = "MACs") -> CounterRow | None:
        return next((r for r in self.rows if (r.counter, r.variant, r.quantity) == (counter, variant, quantity)),
                    None)

    def unreconciled(self) -> list[CounterRow]:
        """Rows whose difference from the analytic count is not explained (residual ≠ 0)."""
        return [row for row in self.rows if row.reconciled is False]

    def records(self) -> list[dict]:
        return [asdict(row) for row in self.rows]


COVERAGE_COLUMNS = ("layer", "kind", "converted", "alpha_in", "alpha_out", "macs_vanilla", "share_of_vanilla_macs",
                    "vanilla_reason", "reason")


@dataclass
class CoverageRow:
    """One conv/linear layer of the vanilla model: whether the Oct model made it octave, and if not, why."""

    layer: str
    kind: str  # "conv", "grouped", "depthwise" or "linear"
    converted: bool
    alpha_in: float | None  # None where the layer stayed vanilla
    alpha_out: float | None
    macs_vanilla: int
    share_of_vanilla_macs: float  # this layer's share of the vanilla model's MACs
    vanilla_reason: str  # the kind of reason it stayed vanilla (stem, last stage, ...); empty where converted
    reason: str  # the reason in words; empty where converted


assert tuple(f.name for f in fields(CoverageRow)) == COVERAGE_COLUMNS


@dataclass
class CoverageResult:
    """How much of a network α touches: every conv/linear layer of the vanilla model, in execution order."""

    model: str
    alpha: float
    input_shape: tuple[int, ...]
    placement: str
    rows: list[CoverageRow]

    @property
    def converted(self) -> list[CoverageRow]:
        return [row for row in self.rows if row.converted]

    @property
    def converted_share(self) -> float:
        """The share of the vanilla model's MACs that the converted layers hold."""
        return sum(row.share_of_vanilla_macs for row in self.converted)

    @property
    def macs_vanilla(self) -> int:
        return sum(row.macs_vanilla for row in self.rows)

    def vanilla_by_reason(self) -> dict[str, tuple[int, float, str]]:
        """{reason kind: (layers, share of the vanilla MACs, the reason in words)} of the layers left vanilla,
        in order of first appearance (the words of the first layer of each kind)."""
        found: dict[str, tuple[int, float, str]] = {}
        for row in self.rows:
            if not row.converted:
                layers, share, text = found.get(row.vanilla_reason, (0, 0.0, row.reason))
                found[row.vanilla_reason] = (layers + 1, share + row.share_of_vanilla_macs, text)
        return found

    def records(self) -> list[dict]:
        return [asdict(row) for row in self.rows]


TRAINING_COLUMNS = (
    "model", "variant", "alpha", "design", "input_size", "batch_size", "optimizer", "params",
    "train_macs", "forward_macs", "backward_macs", "train_flops_torch", "train_counts_agree", "train_mac_ratio",
    "theory_train_mac_ratio", "step_ms", "step_iqr_ms", "step_ratio", "step_ratio_iqr", "param_bytes",
    "gradient_bytes", "optimizer_state_bytes", "saved_high_bytes", "saved_low_bytes", "saved_bytes",
    "peak_train_bytes", "peak_train_ratio", "measured_saved_high_bytes", "measured_saved_low_bytes",
    "measured_peak_train_bytes", "measured_peak_vs_analytic", "memory_measured_by", "memory_budget_bytes",
    "max_batch_size", "max_batch_peak_bytes", "max_batch_measured_peak_bytes", "inference_peak_bytes",
    "placement", "device", "device_name", "cpu_isa", "threads", "torch_version", "timing_rounds",
    "timing_warnings")


@dataclass
class TrainingRow:
    """One variant's training step: MACs of forward + backward (analytic; FlopCounterMode's FLOPs, 2 x MACs),
    step time, and memory (analytic from shapes; measured on the real step). Ratios are against vanilla.
    Bytes are float32; ``peak_train_bytes`` = parameters and buffers + optimizer state + the batch + the most the
    step holds above them (saved activations, gradients, the backward pass's working tensors)."""

    model: str
    variant: str
    alpha: float
    design: str | None
    input_size: int
    batch_size: int
    optimizer: str
    params: int
    train_macs: int  # forward + backward, analytic
    forward_macs: int
    backward_macs: int  # weight gradients, and input gradients of every layer but the first
    train_flops_torch: int  # FlopCounterMode over forward + backward (grouped weight gradients counted once)
    train_counts_agree: bool  # train_flops_torch == 2 x train_macs
    train_mac_ratio: float
    theory_train_mac_ratio: float  # each layer's closed form weighted by its vanilla training MACs
    step_ms: float | None
    step_iqr_ms: float | None
    step_ratio: float | None  # median of per-round ratios
    step_ratio_iqr: float | None
    param_bytes: int  # parameters and buffers
    gradient_bytes: int
    optimizer_state_bytes: int
    saved_high_bytes: int  # activations autograd keeps for backward, high-frequency grid (and vanilla layers)
    saved_low_bytes: int  # ... on the low-frequency grid of octave layers
    saved_bytes: int
    peak_train_bytes: int  # analytic peak of a step
    peak_train_ratio: float
    measured_saved_high_bytes: int | None  # saved tensors recorded on the real step
    measured_saved_low_bytes: int | None
    measured_peak_train_bytes: int | None  # resident bytes + the step's measured peak above them
    measured_peak_vs_analytic: float | None
    memory_measured_by: str | None
    memory_budget_bytes: int
    max_batch_size: int  # the largest batch whose analytic peak fits the budget (0: none)
    max_batch_peak_bytes: int  # the analytic peak at that batch
    max_batch_measured_peak_bytes: int | None  # a real step at that batch, when confirmed
    inference_peak_bytes: int  # analytic peak of live activations of one inference forward pass
    placement: str
    device: str | None
    device_name: str | None
    cpu_isa: str | None
    threads: int | None
    torch_version: str | None
    timing_rounds: int | None
    timing_warnings: str | None


assert tuple(f.name for f in fields(TrainingRow)) == TRAINING_COLUMNS


@dataclass
class TrainingResult:
    """``Study.train``: rows vanilla and oct (or one per α of ``Study.train_sweep``), vanilla first."""

    model: str
    input_shape: tuple[int, ...]
    rows: list[TrainingRow]
    warnings: list[str] = field(default_factory=list)

    @property
    def vanilla(self) -> TrainingRow:
        return next(row for row in self.rows if row.alpha == 0)

    def row(self, variant: str) -> TrainingRow:
        return next(row for row in self.rows if row.variant == variant)

    def records(self) -> list[dict]:
        return [asdict(row) for row in self.rows]


EXPLAIN_COLUMNS = ("model", "alpha", "backend", "kind", "calls_vanilla", "calls", "time_vanilla_ms", "time_ms",
                   "share_of_vanilla", "share_of_oct", "macs_vanilla", "macs", "gmacs_per_s_vanilla", "gmacs_per_s",
                   "bytes_vanilla", "bytes", "excess_ms", "bound_vanilla", "bound", "unprofiled_vanilla_ms",
                   "unprofiled_ms", "input_size", "batch_size", "dtype", "threads", "device_name", "torch_version")


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


assert tuple(f.name for f in fields(ExplainRow)) == EXPLAIN_COLUMNS


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
