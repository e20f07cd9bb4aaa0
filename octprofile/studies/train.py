"""train: the cost of one training step, vanilla vs Oct: forward + backward MACs (analytic and traced), step
time, memory (what autograd keeps per frequency, weights, gradients, optimizer state; analytic and measured)
and the largest batch that fits a memory budget; over several α with a plot against α."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields

from rich.markup import escape
from rich.table import Table

from octprofile.analysis.counting import CountResult, count_model
from octprofile.analysis.memory import InferenceMemoryWatch
from octprofile.analysis.training import (
    HEADROOM,
    MEASURED_TOLERANCE,
    OPTIMIZERS,
    BatchFit,
    TrainingCount,
    TrainingPeaks,
    count_training,
    largest_batch_of,
    network_training_mac_ratio,
)
from octprofile.errors import BadValueError, ResourceError
from octprofile.nn import check_alpha
from octprofile.report.cells import latency_verdict, mib, num, ratio_cell, scale_of, timing_warning_lines
from octprofile.report.columns import Column, ColumnSet
from octprofile.report.plots import figure_bytes
from octprofile.runtime.budget import available_memory, gib
from octprofile.runtime.context import resolve_device
from octprofile.runtime.cpu_free import threads_text
from octprofile.runtime.training import StepComparison, StepOptions, measured_peak_at, time_steps
from octprofile.studies.subject import Progress, Subject, Ticker, variant_name


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


TRAINING_COLUMNS = ColumnSet(
    tuple(f.name for f in fields(TrainingRow)),
    default=("model", "variant", "alpha", "batch_size", "train_macs", "train_mac_ratio", "step_ms", "step_ratio",
             "saved_high_bytes", "saved_low_bytes", "peak_train_bytes", "measured_peak_train_bytes",
             "peak_train_ratio", "max_batch_size"),
    display={
        "optimizer": Column("optimizer", "text"), "train_macs": Column("train {unit}MACs", "count"),
        "forward_macs": Column("forward {unit}MACs", "count"), "backward_macs": Column("backward {unit}MACs", "count"),
        "train_flops_torch": Column("train torch {unit}FLOPs", "count"),
        "train_counts_agree": Column("train counts agree", "bool"),
        "train_mac_ratio": Column("train MACs ÷ vanilla", "ratio"),
        "theory_train_mac_ratio": Column("theory train MACs ÷ vanilla", "ratio"), "step_ms": Column("step (ms)"),
        "step_iqr_ms": Column("step IQR (ms)"), "step_ratio": Column("step ÷ vanilla", "ratio"),
        "step_ratio_iqr": Column("step ratio IQR", "ratio"), "param_bytes": Column("weights + buffers", "bytes"),
        "gradient_bytes": Column("gradients", "bytes"), "optimizer_state_bytes": Column("optimizer state", "bytes"),
        "saved_high_bytes": Column("kept for backward, high", "bytes"),
        "saved_low_bytes": Column("kept for backward, low", "bytes"),
        "saved_bytes": Column("kept for backward", "bytes"),
        "peak_train_bytes": Column("peak training memory", "bytes"),
        "peak_train_ratio": Column("peak ÷ vanilla", "ratio"),
        "measured_saved_high_bytes": Column("measured kept, high", "bytes"),
        "measured_saved_low_bytes": Column("measured kept, low", "bytes"),
        "measured_peak_train_bytes": Column("measured peak", "bytes"),
        "measured_peak_vs_analytic": Column("measured ÷ analytic peak", "ratio"),
        "memory_measured_by": Column("measured by", "text"), "memory_budget_bytes": Column("memory budget", "bytes"),
        "max_batch_size": Column("largest batch", "int"),
        "max_batch_peak_bytes": Column("peak at largest batch", "bytes"),
        "max_batch_measured_peak_bytes": Column("measured peak at largest batch", "bytes"),
        "inference_peak_bytes": Column("inference peak", "bytes"),
    })


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


def train(study: Subject, alpha: float, *, optimizer: str = "sgd", steps: StepOptions | None = StepOptions(),
          memory_budget: int | None = None, confirm_batch: bool = False,
          progress: Progress | None = None) -> TrainingResult:
    """Rows ``vanilla`` and ``oct``: one training step each (forward, loss, backward, ``optimizer`` update).
    MACs of forward + backward, analytic and traced; memory analytic (from shapes) and, with ``steps``,
    measured on real steps, which are also timed in interleaved rounds (None: analytic only). The largest
    batch that fits ``memory_budget`` bytes (default: the device's free memory) is solved analytically and,
    with ``confirm_batch``, confirmed by a measured step at that batch. A real step whose analytic peak does
    not fit the budget is refused before anything is allocated."""
    alpha = check_alpha(alpha)
    if alpha == 0:
        raise BadValueError("a training comparison puts an Oct model beside vanilla: give an α above 0")
    return train_sweep(study, [0.0, alpha], optimizer=optimizer, steps=steps, memory_budget=memory_budget,
                            confirm_batch=confirm_batch, progress=progress, variant_names=("vanilla", "oct"))


def train_sweep(study: Subject, alphas: Sequence[float], *, optimizer: str = "sgd",
                steps: StepOptions | None = StepOptions(), memory_budget: int | None = None,
                confirm_batch: bool = False, progress: Progress | None = None,
                variant_names: Sequence[str] | None = None) -> TrainingResult:
    """``train`` over several α (vanilla added first when missing); ratios against vanilla."""
    alphas = [check_alpha(a) for a in alphas]
    if len(set(alphas)) != len(alphas):
        raise BadValueError(f"alpha values repeat: {alphas}")
    if optimizer not in OPTIMIZERS:
        raise BadValueError(f"optimizer {optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
    if 0.0 not in alphas:
        alphas = [0.0, *alphas]
    names = list(variant_names) if variant_names else [variant_name(a) for a in alphas]
    device = resolve_device(steps.device if steps else "auto")
    free = available_memory(device)
    budget = memory_budget or free
    measured_steps = len(alphas) * (1 + 2 * steps.memory) + steps.rounds if steps else 0
    tick = Ticker(progress, 2 * len(alphas) + measured_steps + int(confirm_batch) * len(alphas))
    metas, counts, training, inference = {}, {}, {}, {}
    for name, alpha in zip(names, alphas, strict=True):
        metas[name] = study.build(alpha, device="meta")
        memory = InferenceMemoryWatch()
        with memory.watch(metas[name]):  # the count's meta pass gives the inference peak too
            counts[name] = count_model(metas[name], study.input_shape, observers=(memory,))
        inference[name] = memory.result().peak_bytes
        training[name] = count_training(metas[name], counts[name], optimizer)
        tick(f"counting a training step of {name}")

    peaks: dict[str, TrainingPeaks] = {}

    def fit(name: str) -> BatchFit:
        if name not in peaks:
            peaks[name] = TrainingPeaks(metas[name], study.input_shape[1:], optimizer)
        return largest_batch_of(peaks[name], budget)

    if steps is not None:
        _check_step_fits(study, training, fit, budget, free)
    fits = {}
    for name in names:
        fits[name] = fit(name)
        tick(f"solving the largest batch of {name}")
    compared = None
    if steps is not None:
        models = {name: study.build(alpha) for name, alpha in zip(names, alphas, strict=True)}
        compared = time_steps(models, study.input_shape, steps, optimizer, on_progress=tick)
    confirmed = {}
    for name, alpha in zip(names, alphas, strict=True) if confirm_batch else ():
        fit = fits[name]
        if fit.batch_size and fit.peak_bytes > free:
            raise ResourceError(f"confirming batch {fit.batch_size} of {name} needs about {gib(fit.peak_bytes)} "
                                f"but only {gib(free)} is free; lower the budget or skip the confirmation")
        if fit.batch_size:
            shape = (fit.batch_size, *study.input_shape[1:])
            confirmed[name] = measured_peak_at(study.build(alpha), shape, steps or StepOptions(), optimizer)
        tick(f"confirming the largest batch of {name}")
    base = training[names[alphas.index(0.0)]]
    rows = [_training_row(study, name, alpha, counts[name], training[name], base, fits[name], optimizer,
                               compared, confirmed.get(name), inference[name])
            for name, alpha in zip(names, alphas, strict=True)]
    return TrainingResult(study.model.name, study.input_shape, rows, compared.warnings if compared else [])


def _check_step_fits(study: Subject, training: dict[str, TrainingCount], fit: Callable[[str], BatchFit], budget: int,
                     free: int) -> None:
    """Refuse, before anything is allocated, real steps that would not fit: every variant is resident at
    once (weights, optimizer state, batch) and the steps run one after another."""
    for name, count in training.items():
        if count.peak_bytes * HEADROOM > budget:
            batch = fit(name).batch_size
            largest = f"the largest batch that fits is {batch}" if batch else "not even batch 1 fits"
            raise ResourceError(f"a training step of {name} at batch {study.input_shape[0]} needs about "
                                f"{gib(count.peak_bytes)} (analytic peak; {HEADROOM:.2f}× that with headroom) "
                                f"but the budget is {gib(budget)}; "
                                f"{largest}; lower --batch-size or --input-size, raise --memory, or count "
                                "only (--no-measure)")
    needed = sum(c.resident_bytes for c in training.values()) + max(c.step_peak_bytes for c in training.values())
    needed = int(needed * HEADROOM)
    if needed > min(budget, free):
        raise ResourceError(f"the {len(training)} variants' steps need about {gib(needed)} together (each "
                            f"resident, one step at a time) but only {gib(min(budget, free))} is available; "
                            "lower --batch-size or --input-size, or count only (--no-measure)")


def _training_row(study: Subject, name: str, alpha: float, count: CountResult, training: TrainingCount,
                  base: TrainingCount, fit: BatchFit, optimizer: str, compared: StepComparison | None,
                  confirmed: int | None, inference_peak: int) -> TrainingRow:
    measured = compared.measurements[name] if compared else None
    ratio = compared.ratio(name) if compared else (None, None)
    context = compared.context if compared else None
    saved = measured.saved if measured and measured.saved else None
    design = study.options.design
    return TrainingRow(
        model=study.model.name, variant=name, alpha=alpha, design=design.name if alpha > 0 else None,
        input_size=study.input_shape[-1], batch_size=study.input_shape[0], optimizer=optimizer,
        params=count.params, train_macs=training.macs, forward_macs=training.forward_macs,
        backward_macs=training.backward_macs, train_flops_torch=training.flops_traced,
        train_counts_agree=training.flops_traced == 2 * training.macs,
        train_mac_ratio=training.macs / base.macs,
        theory_train_mac_ratio=network_training_mac_ratio(training, base, count.layers),
        step_ms=measured.step_ms if measured else None, step_iqr_ms=measured.step_iqr_ms if measured else None,
        step_ratio=ratio[0], step_ratio_iqr=ratio[1], param_bytes=training.param_bytes,
        gradient_bytes=training.gradient_bytes, optimizer_state_bytes=training.optimizer_state_bytes,
        saved_high_bytes=training.saved.high_bytes, saved_low_bytes=training.saved.low_bytes,
        saved_bytes=training.saved.total_bytes, peak_train_bytes=training.peak_bytes,
        peak_train_ratio=training.peak_bytes / base.peak_bytes,
        measured_saved_high_bytes=saved.high_bytes if saved else None,
        measured_saved_low_bytes=saved.low_bytes if saved else None,
        measured_peak_train_bytes=measured.peak_bytes if measured else None,
        measured_peak_vs_analytic=measured.peak_bytes / training.peak_bytes
        if measured and measured.peak_bytes is not None else None,
        memory_measured_by=compared.measured_by if compared and compared.options.memory else None,
        memory_budget_bytes=fit.budget_bytes, max_batch_size=fit.batch_size, max_batch_peak_bytes=fit.peak_bytes,
        max_batch_measured_peak_bytes=confirmed, inference_peak_bytes=inference_peak,
        placement=study.options.placement, device=context.device if context else None,
        device_name=context.device_name if context else None, cpu_isa=(context.isa or None) if context else None,
        threads=context.threads if context else None, torch_version=context.torch_version if context else None,
        timing_rounds=compared.options.rounds if compared else None,
        timing_warnings="; ".join(compared.warnings) or None if compared else None)


def _training_label(row: TrainingRow) -> str:
    return f"oct α={row.alpha:g}" if row.variant == "oct" else row.variant


def training_table(result: TrainingResult, title: str) -> Table:
    """One training step, one column per variant: MACs of forward + backward, step time, memory."""
    rows = result.rows
    div, unit = scale_of([r.train_macs for r in rows])
    table = Table(title=escape(title), title_justify="left")
    table.add_column("", justify="left")
    for r in rows:
        table.add_column(_training_label(r), justify="right")
    budget = rows[0].memory_budget_bytes
    lines = [
        (f"{unit}MACs fwd+bwd, analytic", [num(r.train_macs, div) for r in rows]),
        (f"{unit}MACs, torch FLOPs ÷ 2", [num(r.train_flops_torch / 2, div) for r in rows]),
        ("MACs ÷ vanilla", [ratio_cell(r.train_mac_ratio) for r in rows]),
        ("  theory, this network", ["" if r.alpha == 0 else ratio_cell(r.theory_train_mac_ratio) for r in rows]),
        ("step ms (IQR)", ["" if r.step_ms is None else f"{r.step_ms:.0f} ({r.step_iqr_ms:.0f})" for r in rows]),
        ("step ÷ vanilla (IQR)", ["" if r.step_ms is None or r.alpha == 0
                                  else f"{r.step_ratio:.2f} ({r.step_ratio_iqr:.2f})" for r in rows]),
        ("weights+buffers MiB", [mib(r.param_bytes) for r in rows]),
        ("gradients MiB", [mib(r.gradient_bytes) for r in rows]),
        ("optimizer state MiB", [mib(r.optimizer_state_bytes) for r in rows]),
        ("kept for bwd: high MiB", [mib(r.saved_high_bytes) for r in rows]),
        ("  measured (hooks)", [mib(r.measured_saved_high_bytes) for r in rows]),
        ("kept for bwd: low MiB", [mib(r.saved_low_bytes) for r in rows]),
        ("  measured (hooks)", [mib(r.measured_saved_low_bytes) for r in rows]),
        ("peak MiB, analytic", [mib(r.peak_train_bytes) for r in rows]),
        ("peak MiB, measured", [mib(r.measured_peak_train_bytes) for r in rows]),
        ("  measured ÷ analytic", [ratio_cell(r.measured_peak_vs_analytic) for r in rows]),
        ("peak ÷ vanilla", [ratio_cell(r.peak_train_ratio) for r in rows]),
        (f"largest batch, {budget / 2**30:.1f} GiB", [str(r.max_batch_size) for r in rows]),
        ("  measured peak MiB", [mib(r.max_batch_measured_peak_bytes) for r in rows]),
        ("inference peak MiB", [mib(r.inference_peak_bytes) for r in rows]),
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
                     f"({timed.device}{isa}), {threads_text(timed.threads)}, torch {timed.torch_version}, float32, "
                     f"{timed.timing_rounds} interleaved rounds; ratios: medians of per-round ratios")
        lines += timing_warning_lines(result.warnings, verbose)
    return "\n".join(lines)


def training_plot(result: TrainingResult, title: str, fmt: str) -> bytes:
    """Peak memory of a training step (analytic, measured, and the saved activations per frequency) and step
    time (median, bar spanning the IQR, beside what the MAC ratio predicts) against α; PNG or SVG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = sorted(result.rows, key=lambda r: r.alpha)
    alphas = [r.alpha for r in rows]
    fig = Figure(figsize=(10, 4.8), dpi=120)
    FigureCanvasAgg(fig)
    memory, time = fig.subplots(1, 2, gridspec_kw={"wspace": 0.3})
    memory.plot(alphas, [r.peak_train_bytes / 2**30 for r in rows], "o-", color="tab:blue", label="peak: analytic")
    if any(r.measured_peak_train_bytes is not None for r in rows):
        memory.plot(alphas, [r.measured_peak_train_bytes / 2**30 for r in rows], "x--", color="navy", ms=8,
                    label=f"peak: measured ({rows[0].memory_measured_by})")
    memory.plot(alphas, [r.saved_high_bytes / 2**30 for r in rows], "s-", color="tab:orange",
                label="kept for backward: high")
    memory.plot(alphas, [r.saved_low_bytes / 2**30 for r in rows], "^-", color="tab:green",
                label="kept for backward: low")
    memory.set_ylabel("GiB")
    memory.set_ylim(bottom=0)
    memory.set_title("memory of one training step", fontsize=9)
    timed = [r for r in rows if r.step_ms is not None]
    if timed:
        time.errorbar([r.alpha for r in timed], [r.step_ms for r in timed], yerr=[r.step_iqr_ms / 2 for r in timed],
                      fmt="o-", color="tab:red", capsize=3, label="step time: median, bar spans the IQR")
        vanilla = result.vanilla.step_ms
        time.plot([r.alpha for r in timed], [vanilla * r.train_mac_ratio for r in timed], "--", color="grey",
                  label="vanilla × training-MAC ratio")
        time.set_ylim(bottom=0)
    else:
        time.text(0.5, 0.5, "steps not measured", ha="center", va="center", transform=time.transAxes)
    time.set_ylabel("ms per step")
    time.set_title("time of one training step", fontsize=9)
    for ax in (memory, time):
        ax.set_xlabel("α (low-frequency ratio)")
        ax.set_xlim(-0.02, 1)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
    fig.suptitle(title, fontsize=10)
    return figure_bytes(fig, fmt)


def training_plot_title(result: TrainingResult) -> str:
    size, batch = result.input_shape[-1], result.input_shape[0]
    row = result.rows[0]
    title = f"{result.model}, {size}², batch {batch}, {row.optimizer}: one training step against α"
    if row.device_name:
        title += (f"\n{row.device_name} ({row.cpu_isa or row.device}), {threads_text(row.threads)}, "
                  f"torch {row.torch_version}")
    return title
