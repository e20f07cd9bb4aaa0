"""The use cases: a model resolved once, its variants built once each, and typed results out.

    from octprofile.study import Study, StudyOptions
    study = Study("resnet50", StudyOptions(batch_size=8))
    result = study.compare(0.5, fvcore=False)            # SweepResult: rows vanilla and oct
    result.row("oct").mac_ratio

The command line, ``octprofile report`` and ``benchmarks/`` all go through here.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from octprofile.analysis.breakdown import kind_lines, kind_times
from octprofile.analysis.census import OpCensus
from octprofile.analysis.counters import (
    KINDS,
    RULES,
    TORCHINFO_ON_PAIRS,
    TORCHVISION_OPS_TOLERANCE,
    TORCHVISION_ROUNDING,
    CounterFailed,
    missing_tools,
    run_ptflops,
    run_thop,
    run_torchinfo,
    thop_unhooked_params,
    torchvision_published,
)
from octprofile.analysis.counting import CountResult, count_model
from octprofile.analysis.crosscheck import FvcoreCount, fvcore_count
from octprofile.analysis.memory import InferenceMemory, inference_memory
from octprofile.analysis.op_kinds import KindMap
from octprofile.analysis.op_work import model_work
from octprofile.analysis.roofline import measure_ceilings
from octprofile.analysis.theory import (
    layer_mac_ratio,
    network_activation_ratio,
    network_mac_ratio,
    theory_activation_ratio,
    theory_mac_ratio,
)
from octprofile.analysis.training import (
    HEADROOM,
    OPTIMIZERS,
    BatchFit,
    TrainingCount,
    count_training,
    largest_batch,
    network_training_mac_ratio,
)
from octprofile.build import build_model
from octprofile.convert import BETWEEN, CLASSIFIER, not_converted, vanilla_reasons_of
from octprofile.errors import BadValueError, ConversionError, CustomModelError, MissingEngineError, ResourceError
from octprofile.models.input_size import format_input_size, runs_at, smallest_input_size
from octprofile.models.resolve import ResolvedModel, resolve
from octprofile.nn import ABLATIONS, FULL, PATHS, OctConvNd, OctDesign, check_alpha
from octprofile.results import (
    ABLATION_COLUMNS,
    AblationResult,
    AblationRow,
    BlockRow,
    BlocksResult,
    CheckResult,
    CounterRow,
    CountersResult,
    CoverageResult,
    CoverageRow,
    ExplainBackend,
    ExplainResult,
    ExplainRow,
    LayerRow,
    LayersResult,
    SlowNode,
    SweepResult,
    Timed,
    TrainingResult,
    TrainingRow,
    VariantRow,
    counter_disagreements,
)
from octprofile.runtime.block_timing import BETWEEN_BLOCKS, block_names, time_blocks
from octprofile.runtime.budget import available_memory, gib
from octprofile.runtime.context import machine_context, resolve_device
from octprofile.runtime.prepare import BACKENDS
from octprofile.runtime.profiling import merged_paths, profiler_for
from octprofile.runtime.stats import iqr, noise_warning
from octprofile.runtime.timing import (
    DTYPES,
    TimingComparison,
    TimingInterrupted,
    TimingOptions,
    median_latencies,
    prepare_warm,
    runtime_settings,
    time_variants,
    timing_input,
)
from octprofile.runtime.training import StepComparison, StepOptions, measured_peak_at, time_steps

Progress = Callable[[str, int, int], None]
COUNTER_TOOLS = ("ptflops", "thop", "torchinfo", "torchvision")  # what Study.counters can run besides its own three
CROSS_CHECKS = ("torchvision", "ptflops", "thop")  # what check cross-checks, when it applies and is installed


class StudyInterrupted(KeyboardInterrupt):
    """Ctrl-C during a study. ``result`` holds what finished (same type as the study's result, its rows or
    rounds cut short; None when nothing did), ``timing`` the rounds of timing that finished; the message says
    how far it got."""

    def __init__(self, result, message: str, timing: TimingComparison | None = None) -> None:
        super().__init__(message)
        self.result = result
        self.timing = timing


@dataclass(frozen=True)
class StudyOptions:
    """What to build: input, placement, builder options (e.g. width_mult), the seed of the random weights,
    and the design of the octave layers (paths kept, down-sampling; ``Study.ablate`` varies it)."""

    input_size: int | tuple[int, ...] | None = None  # a side, or every spatial size (T, H, W; L): see spatial_sizes
    batch_size: int = 1
    placement: str = "reference"
    model_options: dict = field(default_factory=dict)
    seed: int = 0
    design: OctDesign = FULL

    def __post_init__(self) -> None:
        for name in ("input_size", "batch_size"):
            value = getattr(self, name)
            values = value if name == "input_size" and isinstance(value, tuple) and value else (value,)
            if value is not None and not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                             for v in values):
                raise BadValueError(f"{name} must be a positive integer{' or a tuple of them' * (name == 'input_size')}"
                                    f", got {value!r}")


@dataclass
class _Variant:
    name: str
    alpha: float
    design: OctDesign
    model: nn.Module
    count: CountResult
    flops_torch: int
    memory: InferenceMemory
    fvcore: FvcoreCount | None = None


class Study:
    """One model (resolved once: a custom model's code runs here, once) and the use cases over it."""

    def __init__(self, model: str | ResolvedModel, options: StudyOptions = StudyOptions()) -> None:
        self.model = resolve(model)
        self.model.check_options(options.model_options)  # before any work, not at the first build
        self.options = options
        self.input_shape = self.model.input_shape(options.input_size, options.batch_size)

    def build(self, alpha: float, device=None, design: OctDesign | None = None) -> nn.Module:
        """The vanilla (alpha 0) or Oct model, with this study's seed, placement, options and design
        (``design`` overrides the study's)."""
        o = self.options
        try:
            model = build_model(self.model, alpha, placement=o.placement, device=device, input_size=o.input_size,
                                design=design or o.design, seed=o.seed, **o.model_options)
        except ConversionError:
            self._check_input_size()
            raise
        if device != "meta" and any(t.is_meta for t in (*model.parameters(), *model.buffers())):
            raise CustomModelError(f"model {self.model.name} is on the meta device (its tensors hold no data); "
                                   "build it on a real device (cpu or cuda) to run it")
        return model

    def _check_input_size(self) -> None:
        """When the vanilla model cannot run at the asked size, say so and name the smallest that runs."""
        size = self.options.input_size
        if size is None:
            return
        with torch.device("meta"):
            vanilla = self.model.build_vanilla(**self.options.model_options)
        if runs_at(vanilla, self.model.input_shape, size):
            return  # the size is fine: the conversion failed for another reason
        if isinstance(size, tuple):
            raise BadValueError(f"input size {format_input_size(size)} does not work for {self.model.name}") from None
        smallest = smallest_input_size(vanilla, self.model.input_shape, max(size, self.model.default_side))
        if smallest is None:
            raise BadValueError(f"input size {size} does not work for {self.model.name}") from None
        if smallest > size:
            raise BadValueError(f"input size {size} is too small for {self.model.name}; "
                                f"the smallest that runs is {smallest}") from None

    def _variant(self, name: str, alpha: float, real: bool, design: OctDesign | None = None) -> _Variant:
        design = design or self.options.design
        model = self.build(alpha, device=None if real else "meta", design=design)
        flop_counter = FlopCounterMode(display=False)
        count = count_model(model, self.input_shape, observers=(flop_counter,))
        return _Variant(name, alpha, design, model, count, int(flop_counter.get_total_flops()),
                        inference_memory(model, self.input_shape))

    # ---- compare and sweep ----

    def compare(self, alpha: float, *, fvcore: bool = True, timing: TimingOptions | None = None,
                progress: Progress | None = None) -> SweepResult:
        """Rows ``vanilla`` and ``oct`` for one alpha (above 0)."""
        if check_alpha(alpha) == 0:
            raise BadValueError("compare puts an Oct model beside vanilla: give an α above 0")
        return self.sweep([0.0, alpha], fvcore=fvcore, timing=timing, progress=progress,
                          variant_names=("vanilla", "oct"))

    def sweep(self, alphas: Sequence[float], *, fvcore: bool = True, timing: TimingOptions | None = None,
              progress: Progress | None = None, variant_names: Sequence[str] | None = None) -> SweepResult:
        """One row per alpha, in the order given (alpha 0, the vanilla model, is added first when
        missing); every ratio is against the alpha-0 row."""
        alphas = [check_alpha(a) for a in alphas]
        if len(set(alphas)) != len(alphas):
            raise BadValueError(f"alpha values repeat: {alphas}")
        if 0.0 not in alphas:
            alphas = [0.0, *alphas]
        names = list(variant_names) if variant_names else [_variant_name(a) for a in alphas]
        specs = [(name, alpha, self.options.design) for name, alpha in zip(names, alphas, strict=True)]
        variants, timed = self._measure(specs, fvcore, timing, progress, "α values")
        return self._result(variants, timed)

    def ablate(self, alpha: float, designs: Sequence[OctDesign] = ABLATIONS, *, fvcore: bool = True,
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
            variants, timed = self._measure(specs, fvcore, timing, progress, "variants")
        except StudyInterrupted as stop:  # the ablation of what finished, when the full design did
            finished = stop.result is not None and any(row.variant == FULL.name for row in stop.result.rows)
            raise StudyInterrupted(self._ablation(stop.result, stop.timing) if finished else None, str(stop)) from None
        return self._ablation(self._result(variants, timed), timed)

    def _ablation(self, sweep: SweepResult, timed: TimingComparison | None) -> AblationResult:
        return AblationResult(sweep, FULL.name, [self._ablation_row(row, sweep, timed) for row in sweep.rows])

    def _ablation_row(self, row: VariantRow, sweep: SweepResult, timed: TimingComparison | None) -> AblationRow:
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

    def _measure(self, specs: list[tuple[str, float, OctDesign]], fvcore: bool, timing: TimingOptions | None,
                 progress: Progress | None, what: str) -> tuple[list[_Variant], TimingComparison | None]:
        """Count every (name, alpha, design) variant, then cross-check with fvcore and time them if asked."""
        real = fvcore or timing is not None
        measurements = timing.rounds * len(specs) * len(timing.backends) if timing else 0
        steps = len(specs) * (1 + int(real)) + int(fvcore) * len(specs) + measurements
        tick = _Ticker(progress, steps)
        variants: list[_Variant] = []
        try:
            # counting runs on meta models (free at any size); fvcore and timing need real ones, built
            # only once the vanilla count says their activations fit
            # vanilla first: its count decides whether the rest can run at all
            for name, alpha, design in sorted(specs, key=lambda spec: spec[1] != 0):
                variants.append(self._variant(name, alpha, real=False, design=design))
                tick(f"counting {name} α={alpha:g}")
                if alpha == 0:
                    self._check_fits(variants[-1].model, variants[-1].count, fvcore, timing)
            variants.sort(key=lambda v: [spec[0] for spec in specs].index(v.name))  # back in the order asked
            for variant in variants if real else ():
                variant.model = self.build(variant.alpha, design=variant.design)
                tick(f"building {variant.name} α={variant.alpha:g}")
            if fvcore:
                for variant in variants:
                    variant.fvcore = fvcore_count(variant.model, self.input_shape)
                    tick(f"fvcore {variant.name} α={variant.alpha:g}")
        except KeyboardInterrupt:
            partial = self._result(variants) if any(v.alpha == 0 for v in variants) else None
            checked = sum(v.fvcore is not None for v in variants)
            also = f" (fvcore on {checked})" if fvcore and checked < len(variants) else ""
            message = f"interrupted after counting {len(variants)} of {len(specs)} {what}{also}"
            raise StudyInterrupted(partial, message) from None
        timed = None
        if timing is not None:
            vanilla = next(v for v in variants if v.alpha == 0)
            tick.announce(f"preparing {len(variants)} variants on {', '.join(timing.backends)}")
            try:
                timed = time_variants({v.name: v.model for v in variants}, self.input_shape, timing,
                                      base=vanilla.name, on_progress=tick.rounds("timing", timing.rounds))
            except TimingInterrupted as stop:  # the counts are complete; keep the rounds that finished
                raise StudyInterrupted(self._result(variants, stop.comparison), str(stop), stop.comparison) from None
            except KeyboardInterrupt:  # while preparing: the counts are complete, no latency
                raise StudyInterrupted(self._result(variants), "interrupted while preparing to time") from None
        return variants, timed

    def _result(self, variants: list[_Variant], timed: TimingComparison | None = None) -> SweepResult:
        base = next(v for v in variants if v.alpha == 0)
        backends = timed.options.backends if timed else (None,)
        rows = [self._row(v, base, timed, backend) for backend in backends for v in variants]
        summary = None
        if timed is not None:
            summary = Timed({b: BACKENDS[b].description for b in backends}, timed.context, timed.options.dtype,
                            timed.options.rounds, timed.warnings, {k: t.notes for k, t in timed.timings.items()})
        skipped = {name: reason for v in variants for name, reason in not_converted(v.model).items()}
        return SweepResult(self.model.name, self.input_shape, rows, summary, skipped)

    def _row(self, v: _Variant, base: _Variant, timed: TimingComparison | None, backend: str | None) -> VariantRow:
        count, fv = v.count, v.fvcore
        other = count.other
        row = VariantRow(
            model=self.model.name, variant=v.name, alpha=v.alpha, input_size=self.input_shape[-1],
            batch_size=self.input_shape[0], params=count.params, macs=count.macs,
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
            placement=self.options.placement, backend=None, prepare_s=None, dtype=None, device_name=None,
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
        return row

    def _check_fits(self, model: nn.Module, vanilla: CountResult, fvcore: bool, timing: TimingOptions | None) -> None:
        """Timing and fvcore allocate real activations: refuse up front, with the estimate, when they would
        not fit. The estimate is the true analytic peak of live tensors in one forward pass of the vanilla
        meta ``model`` (every op that allocates: conv, batch norm, pooling, upsampling, adds), twice over for
        the allocator and conv workspaces, plus the weights of the variants; fvcore's tracer may keep every
        intermediate, so it is sized by all the bytes the pass allocates."""
        if vanilla.macs == 0:  # every ratio divides by it
            raise BadValueError(f"model {self.model.name} has no conv or linear layer: nothing to compare")
        weights = 8 * vanilla.params
        memory = inference_memory(model, self.input_shape)
        ram = available_memory(torch.device("cpu"))
        needs = []
        if timing is not None:
            on_gpu = resolve_device(timing.device).type == "cuda"
            available = available_memory(resolve_device(timing.device))
            needs.append((f"timing at batch {self.input_shape[0]}", 2 * memory.peak_bytes + weights,
                          available, "GPU memory" if on_gpu else "free RAM",
                          "lower --batch-size or --input-size, or skip timing (--no-time)"))
        if fvcore:
            needs.append(("fvcore's traced forward pass (batch 1)",
                          memory.allocated_bytes // self.input_shape[0] + weights, ram, "free RAM",
                          "lower --input-size or skip fvcore (--no-fvcore)"))
        for what, needed, available, where, advice in needs:
            if needed > available:
                raise ResourceError(f"{what} needs about {needed / 2**30:.1f} GiB but only "
                                    f"{available / 2**30:.1f} GiB of {where} is available; {advice}")

    # ---- layers and check ----

    def layers(self, alpha: float) -> LayersResult:
        """One row per conv/linear layer of the Oct model, beside the same layer of the vanilla model."""
        alpha = check_alpha(alpha)
        vanilla = count_model(self.build(0.0, device="meta"), self.input_shape).by_name()
        octave_model = self.build(alpha, device="meta")
        octave = count_model(octave_model, self.input_shape)
        rows = []
        for layer in octave.layers:
            base = vanilla[layer.name]
            octconv = layer.kind == "octconv"
            rows.append(LayerRow(
                layer=layer.name, kind=layer.kind, alpha_in=layer.alpha_in, alpha_out=layer.alpha_out,
                stride=layer.stride, macs=layer.macs, macs_vanilla=base.macs, mac_ratio=layer.macs / base.macs,
                theory_mac_ratio=layer_mac_ratio(layer),
                **{f"macs_{p}": layer.paths.get(p) if octconv else None for p in PATHS},
                activations=layer.activations, activations_vanilla=base.activations,
                activation_ratio=layer.activations / base.activations,
                theory_activation_ratio=theory_activation_ratio(layer.alpha_out), params=layer.params,
                share_of_macs=layer.macs / octave.macs,
                output_shape=" + ".join("×".join(map(str, shape)) for shape in layer.output_shapes)))
        return LayersResult(self.model.name, alpha, self.input_shape, rows, not_converted(octave_model))

    def blocks(self, alpha: float, timing: TimingOptions = TimingOptions(), *, passes: int = 5,
               progress: Progress | None = None) -> BlocksResult:
        """Where the time goes: per block, vanilla and Oct MACs and times (``timing``'s first backend, which
        must run module by module: plain or eager), each model timed ``timing.rounds × passes`` times."""
        alpha = check_alpha(alpha)
        if alpha == 0:
            raise BadValueError("per-block timing compares an Oct model with vanilla: give an α above 0")
        if passes < 1:
            raise BadValueError(f"passes must be a positive integer, got {passes}")
        metas = {name: self.build(a, device="meta") for name, a in (("vanilla", 0.0), ("oct", alpha))}
        counts = {name: count_model(model, self.input_shape) for name, model in metas.items()}
        self._check_fits(metas["vanilla"], counts["vanilla"], False, timing)
        models = {"vanilla": self.build(0.0), "oct": self.build(alpha)}
        blocks = block_names(models["vanilla"])
        tick = _Ticker(progress, timing.rounds * passes * 2)
        tick.announce(f"preparing vanilla and oct on {timing.backends[0]}")
        samples = time_blocks(models, self.input_shape, timing, passes,
                              on_progress=tick.rounds("timing blocks", timing.rounds))
        context = machine_context(resolve_device(timing.device), timing.threads or torch.get_num_threads(), None)
        macs = {name: _macs_by_block(count, blocks) for name, count in counts.items()}
        totals = {name: statistics.median(samples[name]["total"]) for name in samples}
        rows = []
        for block in [*blocks, BETWEEN_BLOCKS, "total"]:
            vanilla_ms, oct_ms = (statistics.median(samples[name][block]) for name in ("vanilla", "oct"))
            per_pass = [o / v for o, v in zip(samples["oct"][block], samples["vanilla"][block], strict=True) if v > 0]
            mac_v, mac_o = macs["vanilla"][block], macs["oct"][block]
            mac_ratio = mac_o / mac_v if mac_v else None
            rows.append(BlockRow(
                model=self.model.name, alpha=alpha, block=block, macs_vanilla=mac_v, macs=mac_o, mac_ratio=mac_ratio,
                latency_vanilla_ms=vanilla_ms, latency_ms=oct_ms,
                latency_ratio=statistics.median(per_pass) if per_pass else float("nan"),
                latency_ratio_iqr=iqr(per_pass), excess_ms=oct_ms - vanilla_ms * (mac_ratio or 1.0),
                share_of_vanilla=vanilla_ms / totals["vanilla"], share_of_oct=oct_ms / totals["oct"],
                backend=timing.backends[0], input_size=self.input_shape[-1], batch_size=self.input_shape[0],
                device=context.device, device_name=context.device_name, cpu_isa=context.isa or None,
                threads=context.threads, torch_version=context.torch_version))
        total = rows[-1]
        warnings = [w for w in [noise_warning("total vanilla", total.latency_vanilla_ms,
                                              iqr(samples["vanilla"]["total"])),
                                noise_warning("total oct/vanilla ratio", total.latency_ratio, total.latency_ratio_iqr)]
                    if w]
        return BlocksResult(self.model.name, alpha, self.input_shape, rows, timing.rounds * passes, warnings)

    def explain(self, alpha: float, timing: TimingOptions = TimingOptions(), *, passes: int = 5,
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
        metas = {name: self.build(a, device="meta") for name, a in (("vanilla", 0.0), ("oct", alpha))}
        self._check_fits(metas["vanilla"], count_model(metas["vanilla"], self.input_shape), False, timing)
        dtype = DTYPES[timing.dtype]
        work = {name: model_work(model, self.input_shape, dtype) for name, model in metas.items()}
        models = {"vanilla": self.build(0.0), "oct": self.build(alpha)}
        x = timing_input(self.input_shape, timing)
        threads = timing.threads or torch.get_num_threads()
        context = machine_context(x.device, threads, None)
        tick = _Ticker(progress, 2 * len(profilers) + 1)
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
                breakdowns.append(self._explain_backend(alpha, backend, profiler.engine, times, unprofiled, ceilings,
                                                        context, timing.dtype, passes))
        return ExplainResult(self.model.name, alpha, self.input_shape, breakdowns, ceilings.peak_gmacs_per_s,
                             ceilings.bandwidth_gb_per_s, not_profiled)

    def _explain_backend(self, alpha, backend, engine, times, unprofiled, ceilings, context, dtype, passes):
        (vanilla, vanilla_costs), (octave, octave_costs) = times["vanilla"], times["oct"]
        lines = kind_lines((vanilla, octave), (vanilla_costs, octave_costs), ceilings)
        common = dict(model=self.model.name, alpha=alpha, backend=backend, input_size=self.input_shape[-1],
                      batch_size=self.input_shape[0], dtype=dtype, threads=context.threads,
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

    def check(self, alpha: float, *, fvcore: bool = True, cross_checks: bool = True) -> CheckResult:
        """The CI gate for one alpha: params equal vanilla's (less the weights of paths the design drops,
        computed from their shapes), and the three MAC counts agree; with ``cross_checks``, also ptflops and
        thop reconciled with the analytic count (when installed) and, for a vanilla torchvision model, its
        published params and GFLOPS (see ``_cross_checks``)."""
        alpha = check_alpha(alpha)
        vanilla_params = sum(p.numel() for p in self.build(0.0, device="meta").parameters())
        variant = self._variant("oct", alpha, real=fvcore)
        fv = fvcore_count(variant.model, self.input_shape).macs if fvcore else None
        result = CheckResult.of(self.model.name, alpha, vanilla_params, variant.count.params, variant.count.macs,
                                variant.flops_torch, fv, variant.design.name, variant.count.params_dropped,
                                self.input_shape[-1])
        if cross_checks:
            ran, failures, skipped = self._cross_checks(alpha)
            result = dataclasses.replace(result, failures=result.failures + failures, cross_checks=ran,
                                         cross_checks_skipped=skipped)
        return dataclasses.replace(result, not_converted=not_converted(variant.model))

    # ---- train ----

    def train(self, alpha: float, *, optimizer: str = "sgd", steps: StepOptions | None = StepOptions(),
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
        return self.train_sweep([0.0, alpha], optimizer=optimizer, steps=steps, memory_budget=memory_budget,
                                confirm_batch=confirm_batch, progress=progress, variant_names=("vanilla", "oct"))

    def train_sweep(self, alphas: Sequence[float], *, optimizer: str = "sgd",
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
        names = list(variant_names) if variant_names else [_variant_name(a) for a in alphas]
        device = resolve_device(steps.device if steps else "auto")
        free = available_memory(device)
        budget = memory_budget or free
        measured_steps = len(alphas) * (1 + 2 * steps.memory) + steps.rounds if steps else 0
        tick = _Ticker(progress, 2 * len(alphas) + measured_steps + int(confirm_batch) * len(alphas))
        metas, counts, training = {}, {}, {}
        for name, alpha in zip(names, alphas, strict=True):
            metas[name] = self.build(alpha, device="meta")
            counts[name] = count_model(metas[name], self.input_shape)
            training[name] = count_training(metas[name], counts[name], optimizer)
            tick(f"counting a training step of {name}")

        def fit(name: str) -> BatchFit:
            return largest_batch(lambda b: self._training_peak(metas[name], b, optimizer), budget)

        if steps is not None:
            self._check_step_fits(training, fit, budget, free)
        fits = {}
        for name in names:
            fits[name] = fit(name)
            tick(f"solving the largest batch of {name}")
        compared = None
        if steps is not None:
            models = {name: self.build(alpha) for name, alpha in zip(names, alphas, strict=True)}
            compared = time_steps(models, self.input_shape, steps, optimizer, on_progress=tick)
        confirmed = {}
        for name, alpha in zip(names, alphas, strict=True) if confirm_batch else ():
            fit = fits[name]
            if fit.batch_size and fit.peak_bytes > free:
                raise ResourceError(f"confirming batch {fit.batch_size} of {name} needs about {gib(fit.peak_bytes)} "
                                    f"but only {gib(free)} is free; lower the budget or skip the confirmation")
            if fit.batch_size:
                shape = (fit.batch_size, *self.input_shape[1:])
                confirmed[name] = measured_peak_at(self.build(alpha), shape, steps or StepOptions(), optimizer)
            tick(f"confirming the largest batch of {name}")
        inference = {name: inference_memory(metas[name], self.input_shape).peak_bytes for name in names}
        base = training[names[alphas.index(0.0)]]
        rows = [self._training_row(name, alpha, counts[name], training[name], base, fits[name], optimizer,
                                   compared, confirmed.get(name), inference[name])
                for name, alpha in zip(names, alphas, strict=True)]
        return TrainingResult(self.model.name, self.input_shape, rows, compared.warnings if compared else [])

    def _training_peak(self, meta_model: nn.Module, batch: int, optimizer: str) -> int:
        shape = (batch, *self.input_shape[1:])
        return count_training(meta_model, count_model(meta_model, shape), optimizer).peak_bytes

    def _check_step_fits(self, training: dict[str, TrainingCount], fit: Callable[[str], BatchFit], budget: int,
                         free: int) -> None:
        """Refuse, before anything is allocated, real steps that would not fit: every variant is resident at
        once (weights, optimizer state, batch) and the steps run one after another."""
        for name, count in training.items():
            if count.peak_bytes * HEADROOM > budget:
                batch = fit(name).batch_size
                largest = f"the largest batch that fits is {batch}" if batch else "not even batch 1 fits"
                raise ResourceError(f"a training step of {name} at batch {self.input_shape[0]} needs about "
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

    def _training_row(self, name: str, alpha: float, count: CountResult, training: TrainingCount,
                      base: TrainingCount, fit: BatchFit, optimizer: str, compared: StepComparison | None,
                      confirmed: int | None, inference_peak: int) -> TrainingRow:
        measured = compared.measurements[name] if compared else None
        ratio = compared.ratio(name) if compared else (None, None)
        context = compared.context if compared else None
        saved = measured.saved if measured and measured.saved else None
        design = self.options.design
        return TrainingRow(
            model=self.model.name, variant=name, alpha=alpha, design=design.name if alpha > 0 else None,
            input_size=self.input_shape[-1], batch_size=self.input_shape[0], optimizer=optimizer,
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
            placement=self.options.placement, device=context.device if context else None,
            device_name=context.device_name if context else None, cpu_isa=(context.isa or None) if context else None,
            threads=context.threads if context else None, torch_version=context.torch_version if context else None,
            timing_rounds=compared.options.rounds if compared else None,
            timing_warnings="; ".join(compared.warnings) or None if compared else None)

    # ---- counters ----

    def counters(self, alpha: float, *, fvcore: bool = True, tools: Sequence[str] = COUNTER_TOOLS) -> CountersResult:
        """Every counter's value for vanilla and the Oct model at ``alpha`` (batch 1), each difference from the
        analytic count explained by op kind (analysis/counters.py) and the residual. ``tools``: which of
        COUNTER_TOOLS to run (analytic and FlopCounterMode always; fvcore only with ``fvcore``); an optional one
        that is not installed gets a row whose note names the extra to install."""
        alpha = check_alpha(alpha)
        shape = (1, *self.input_shape[1:])
        missing = {name: message for name, message in missing_tools().items() if name in tools}
        published = self._published(shape) if "torchvision" in tools else None
        rows: list[CounterRow] = []
        for variant, a in (("vanilla", 0.0), ("oct", alpha))[:2 if alpha > 0 else 1]:
            model = self.build(a, device="meta")
            census, flop_counter = OpCensus(), FlopCounterMode(display=False)
            with census.watch(model):
                count = count_model(model, shape, observers=(flop_counter, census))
            row = _CounterRows(self.model.name, variant, a, count, census.calls, shape[-1])
            rows.append(row.macs("analytic", count.macs, {}, "conv + linear multiply-accumulates (rules.py)"))
            rows.append(row.params("analytic", count.params, "sum of the model's parameters"))
            rows.append(row.macs("FlopCounterMode", int(flop_counter.get_total_flops()), {"as_flops": count.macs}))
            if fvcore:
                rows.append(row.macs("fvcore", fvcore_count(self.build(a), shape).total))
            for name, run in (("ptflops", run_ptflops), ("thop", run_thop), ("torchinfo", run_torchinfo)):
                if name in tools:
                    rows += row.tool(name, run, model, missing.get(name))
            if published is not None and variant == "vanilla":
                rows += row.published(published)
        reasons = {(rules.name, kind): reason for rules in RULES.values() for kind, reason in rules.reasons.items()}
        if published is not None:
            reasons["torchvision", "rounding"] = TORCHVISION_ROUNDING
        return CountersResult(self.model.name, alpha, shape, rows, reasons, missing)

    def _published(self, shape: tuple[int, ...]):
        """torchvision's published counts where they describe this vanilla model: a torchvision model, built with
        its default options, at the input size the figures are for."""
        if self.model.source != "torchvision" or self.options.model_options:
            return None
        published = torchvision_published(self.model.name)
        return published if published is not None and published.input_size == shape[-1] else None

    def _cross_checks(self, alpha: float) -> tuple[tuple[str, ...], list[str], str]:
        """check's cross-checks: ptflops and thop reconciled with the analytic count for vanilla and Oct, and
        torchvision's published params (exact) and GFLOPS (within rounding) for a vanilla torchvision model.
        Returns the checks that ran, their failures, and why any did not run ('' when all that apply did): a
        package to install, or what the tool raised on this model."""
        result = self.counters(alpha, fvcore=False, tools=CROSS_CHECKS)
        rows = [row for row in result.rows if row.counter in CROSS_CHECKS]
        ran = tuple(name for name in CROSS_CHECKS if any(r.counter == name and r.value is not None for r in rows))
        failures = [_unreconciled(row) for row in rows if row.reconciled is False]
        return ran, failures, "; ".join(dict.fromkeys(row.note for row in rows if row.value is None))

    def coverage(self, alpha: float) -> CoverageResult:
        """Which conv/linear layers the Oct model at ``alpha`` made octave (with their alphas), which stayed
        vanilla and why, and the share of the vanilla MACs each holds."""
        alpha = check_alpha(alpha)
        if alpha == 0:
            raise BadValueError("at α=0 every layer is vanilla: give an α above 0 for a coverage report")
        vanilla = count_model(self.build(0.0, device="meta"), self.input_shape)
        octave_model = self.build(alpha, device="meta")
        modules = dict(octave_model.named_modules())
        reasons = vanilla_reasons_of(octave_model)
        rows = []
        for layer in vanilla.layers:
            octave = modules.get(layer.name)
            # a (0, 0) octave conv is a vanilla conv that pools before running at stride 1, as the reference's do
            converted = isinstance(octave, OctConvNd) and (octave.alpha_in, octave.alpha_out) != (0.0, 0.0)
            reason = None if converted else CLASSIFIER if layer.kind == "linear" else reasons.get(layer.name, BETWEEN)
            rows.append(CoverageRow(
                layer=layer.name, kind=_layer_kind(octave, layer),
                converted=converted, alpha_in=octave.alpha_in if converted else None,
                alpha_out=octave.alpha_out if converted else None, macs_vanilla=layer.macs,
                share_of_vanilla_macs=layer.macs / vanilla.macs if vanilla.macs else 0.0,
                vanilla_reason=reason.kind if reason else "", reason=reason.text if reason else ""))
        return CoverageResult(self.model.name, alpha, self.input_shape, self.options.placement, rows)


def _layer_kind(module: nn.Module, layer) -> str:
    """linear, depthwise, grouped or conv: ``layer`` is the vanilla count, ``module`` the layer in the Oct model."""
    if layer.kind == "linear" or layer.depthwise:
        return "linear" if layer.kind == "linear" else "depthwise"
    groups = module.geometry.groups if isinstance(module, OctConvNd) else module.groups
    return "grouped" if groups > 1 else "conv"


def _macs_by_block(count: CountResult, blocks: list[str]) -> dict[str, int]:
    """MACs of each block's layers; layers outside every block go to BETWEEN_BLOCKS; and the total."""
    found = dict.fromkeys([*blocks, BETWEEN_BLOCKS], 0)
    for layer in count.layers:
        owner = next((b for b in blocks if layer.name == b or layer.name.startswith(b + ".")), BETWEEN_BLOCKS)
        found[owner] += layer.macs
    found["total"] = count.macs
    return found


class _Ticker:
    def __init__(self, progress: Progress | None, steps: int) -> None:
        self.progress, self.steps, self.done = progress, steps, 0

    def __call__(self, what: str) -> None:
        self.done += 1
        self.announce(what)

    def announce(self, what: str) -> None:
        """Say what runs now, without counting a step (e.g. before a long preparation)."""
        if self.progress:
            self.progress(what, self.done, self.steps)

    def rounds(self, what: str, rounds: int) -> Callable[[int, int], None]:
        """``on_progress(done, total)`` for a timing loop of ``rounds`` rounds: a step per call, described by
        the round that runs next ("timing round 2/10"), so the label never lags behind the work."""
        def on_progress(done: int, total: int) -> None:
            self(f"{what} round {min(done * rounds // total + 1, rounds)}/{rounds}")

        return on_progress


def _variant_name(alpha: float) -> str:
    return "vanilla" if alpha == 0 else f"oct-{alpha:g}"


class _CounterRows:
    """Builds the CounterRows of one variant: a counter's value, its difference from the analytic count, and that
    difference explained by the counter's rules over the variant's op census."""

    def __init__(self, model: str, variant: str, alpha: float, count: CountResult, calls, input_size: int) -> None:
        self.model, self.variant, self.alpha, self.count, self.calls = model, variant, alpha, count, calls
        self.input_size = input_size

    def _row(self, counter: str, quantity: str, value: int | None, analytic: int, terms: dict[str, int] | None,
             missed: str = "", note: str = "") -> CounterRow:
        terms, missed = (terms, missed) if value is not None else (None, "")
        explained = sum(terms.values()) if terms is not None else None
        difference = value - analytic if value is not None else None
        residual = difference - explained if value is not None else None
        kinds = {kind: (terms or {}).get(kind) or None for kind in KINDS}
        return CounterRow(model=self.model, variant=self.variant, alpha=self.alpha, counter=counter,
                          quantity=quantity, value=value, analytic=analytic, difference=difference, **kinds,
                          explained=explained, residual=residual, reconciled=None if value is None else residual == 0,
                          missed=missed, note=note, input_size=self.input_size)

    def macs(self, counter: str, value: int | None, terms: dict[str, int] | None = None, note: str = "") -> CounterRow:
        """A MAC counter's row; ``terms`` default to its rules (analysis/counters.py) over the census."""
        rules = RULES.get(counter)
        if terms is None and rules is not None:
            terms = rules.terms(self.calls)
        missed = ", ".join(rules.missed(self.calls)) if rules is not None else ""
        return self._row(counter, "MACs", value, self.count.macs, terms, missed, note or (rules.how if rules else ""))

    def params(self, counter: str, value: int | None, note: str = "") -> CounterRow:
        return self._row(counter, "params", value, self.count.params, {}, note=note)

    def tool(self, name: str, run, model: nn.Module, missing: str | None) -> list[CounterRow]:
        """An optional tool's MACs and params rows: not run (the note says why) when it is missing or fails."""
        if missing is None:
            try:
                macs, params = run(model, self.count.input_shape)
            except (CounterFailed, MissingEngineError) as error:
                missing = str(error)
            except Exception as error:  # noqa: BLE001 - a third-party tool failing on a model is a finding, not a crash
                missing = f"{name} raised {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        if missing is not None:
            return [self.macs(name, None, note=missing), self.params(name, None, note=missing)]
        unhooked = {"unhooked": -thop_unhooked_params(model)} if name == "thop" else {}
        return [self.macs(name, macs, note="" if macs is not None else TORCHINFO_ON_PAIRS),
                self._row(name, "params", params, self.count.params, unhooked)]

    def published(self, published) -> list[CounterRow]:
        """torchvision's published figures: params exactly; GFLOPS within their rounding."""
        difference = published.macs - self.count.macs
        rounding = {"rounding": difference} if abs(difference) <= TORCHVISION_OPS_TOLERANCE else {}
        note = f"{published.weights}.meta"
        return [self._row("torchvision", "MACs", published.macs, self.count.macs, rounding, note=note),
                self.params("torchvision", published.params, note=note)]


def _unreconciled(row: CounterRow) -> str:
    """A cross-check failure in one line."""
    explained = f" + {row.explained:,} explained" if row.explained else ""
    return (f"{row.counter} {row.quantity} {row.variant}: {row.value:,} ≠ analytic {row.analytic:,}{explained} "
            f"(residual {row.residual:+,})")


# ---- one-call shortcuts ----

def compare(model: str | ResolvedModel, alpha: float, *, fvcore: bool = True, timing: TimingOptions | None = None,
            **options) -> SweepResult:
    """``Study(model, StudyOptions(**options)).compare(alpha, ...)``."""
    return Study(model, StudyOptions(**options)).compare(alpha, fvcore=fvcore, timing=timing)


def sweep(model: str | ResolvedModel, alphas: Sequence[float], *, fvcore: bool = True,
          timing: TimingOptions | None = None, **options) -> SweepResult:
    return Study(model, StudyOptions(**options)).sweep(alphas, fvcore=fvcore, timing=timing)


def layers(model: str | ResolvedModel, alpha: float, **options) -> LayersResult:
    return Study(model, StudyOptions(**options)).layers(alpha)


def check(model: str | ResolvedModel, alpha: float, *, fvcore: bool = True, **options) -> CheckResult:
    return Study(model, StudyOptions(**options)).check(alpha, fvcore=fvcore)


def train(model: str | ResolvedModel, alpha: float, *, optimizer: str = "sgd",
          steps: StepOptions | None = StepOptions(), memory_budget: int | None = None, **options) -> TrainingResult:
    """``Study(model, StudyOptions(**options)).train(alpha, ...)``."""
    return Study(model, StudyOptions(**options)).train(alpha, optimizer=optimizer, steps=steps,
                                                       memory_budget=memory_budget)
