"""count → cross-check → time a list of variants: the work compare, sweep and ablate share.

Counting runs on meta models (free at any size); fvcore and timing need real ones, built only once the vanilla
count says their activations fit. Ctrl-C keeps what finished (``StudyInterrupted.result``). What counting found is
read from the study's count cache when an earlier run kept it (then nothing is built unless timed), and kept there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from octprofile.analysis.count_cache import CachedCounts, shown
from octprofile.analysis.counting import CountResult, count_model
from octprofile.analysis.crosscheck import FvcoreCount, fvcore_count
from octprofile.analysis.memory import InferenceMemory, InferenceMemoryWatch
from octprofile.convert import not_converted
from octprofile.nn import OctDesign
from octprofile.nn.meta import materialised
from octprofile.runtime.context import MachineContext
from octprofile.runtime.prepare import BACKENDS
from octprofile.runtime.timing import TimingComparison, TimingInterrupted, TimingOptions, time_variants
from octprofile.studies.subject import Progress, StudyInterrupted, Subject, Ticker


@dataclass
class Variant:
    """One variant built and counted: vanilla (alpha 0) or an Oct design at some alpha."""

    name: str
    alpha: float
    design: OctDesign
    model: nn.Module | None  # None: its counts came from the cache and nothing was built (yet)
    count: CountResult
    flops_torch: int
    memory: InferenceMemory
    fvcore: FvcoreCount | None = None
    not_converted: dict[str, str] = field(default_factory=dict)  # conv layers left vanilla: path -> reason
    cached: float | None = None  # when the cache entry its counts came from was written; None: counted now
    fvcore_cached: bool = False  # its fvcore count came from the cache too

    def counts(self) -> CachedCounts:
        return CachedCounts(self.count, self.flops_torch, self.memory, self.not_converted, self.fvcore)


def count_variant(study: Subject, name: str, alpha: float, real: bool, design: OctDesign | None = None) -> Variant:
    """Build the variant (on the meta device unless ``real``) and count it: analytic, FlopCounterMode, memory."""
    design = design or study.options.design
    model = study.build(alpha, device=None if real else "meta", design=design)
    flop_counter, memory = FlopCounterMode(display=False), InferenceMemoryWatch()
    with memory.watch(model):  # one meta pass feeds the analytic count, FlopCounterMode and the memory peak
        count = count_model(model, study.input_shape, observers=(flop_counter, memory))
    return Variant(name, alpha, design, model, count, int(flop_counter.get_total_flops()), memory.result(),
                   not_converted=not_converted(model))


def cached_variant(study: Subject, name: str, alpha: float, design: OctDesign, fvcore: bool) -> Variant | None:
    """The variant as an earlier run counted it, from the study's count cache (fvcore's count only when asked
    for, as a fresh count would have it); None when the cache is off or holds no entry for it."""
    hit = study.count_cache.load(alpha, design) if study.count_cache is not None else None
    if hit is None:
        return None
    kept = hit.fvcore if fvcore else None
    return Variant(name, alpha, design, None, hit.count, hit.flops_torch, hit.memory, kept, hit.not_converted,
                   hit.written, kept is not None)


def cache_line(study: Subject, variants: list[Variant]) -> str | None:
    """The footer's line on the cache: which variants' counts came from it, where and when they were written,
    and a directory that could not be written; None when the cache gave and lost nothing."""
    cache = study.count_cache
    hits = [v for v in variants if v.cached is not None]
    if cache is None or not (hits or cache.problem):
        return None
    parts = []
    if hits:
        written = sorted({datetime.fromtimestamp(v.cached).strftime("%Y-%m-%d %H:%M") for v in hits})
        when = written[0] if len(written) == 1 else f"{written[0]} to {written[-1]}"
        whose = "" if len(hits) == len(variants) else f" of {', '.join(v.name for v in hits)}"
        fresh = [v.name for v in hits if v.fvcore is not None and not v.fvcore_cached]
        what = "fvcore's too" if all(v.fvcore_cached for v in hits) else (
            f"fvcore counted now for {', '.join(fresh)}" if fresh else "")
        parts.append(f"counts{whose} from the cache ({shown(cache.directory)}, written {when}"
                     f"{'; ' + what if what else ''}); --no-cache recounts")
    if cache.problem:
        parts.append(cache.problem)
    return "; ".join(parts)


@dataclass
class Timed:
    """How a list of variants was timed: each backend in words, the machine, what each preparation did, warnings."""

    backends: dict[str, str]  # name -> what it does to both variants, in words; in the order timed
    context: MachineContext
    dtype: str
    rounds: int
    warnings: list[str]
    notes: dict[tuple[str, str], list[str]]  # (variant, backend) -> what its preparation did
    threads_note: str | None = None  # how the thread count was chosen: 'timed at 1 thread: 1 of 2 cores busy'
    doubt: str | None = None  # why the latency ratios are no finding (cores taken while timing); None: none
    runs: int = 1  # independent timing runs (each prepared afresh), ``rounds`` rounds each


def timed_summary(timed: TimingComparison) -> Timed:
    """How the variants were timed, for a result: each backend in words, the machine, warnings, notes."""
    backends = timed.options.backends
    choice = timed.thread_choice
    return Timed({b: BACKENDS[b].description for b in backends}, timed.context, timed.options.dtype,
                 timed.options.rounds, timed.warnings, {k: t.notes for k, t in timed.timings.items()},
                 choice.describe() if choice is not None and timed.context.device == "cpu" else None, timed.doubt,
                 timed.options.repeats)


ResultOf = Callable[[list[Variant], TimingComparison | None], object]


def measure(study: Subject, specs: list[tuple[str, float, OctDesign]], fvcore: bool, timing: TimingOptions | None,
            progress: Progress | None, what: str, result_of: ResultOf) -> tuple[list[Variant], TimingComparison | None]:
    """Count every (name, alpha, design) variant, then cross-check with fvcore and time them if asked.
    ``result_of(variants, timing)`` makes the use case's result: what a Ctrl-C keeps of the work that finished."""
    real = fvcore or timing is not None
    measurements = timing.rounds * len(specs) * len(timing.backends) if timing else 0
    steps = len(specs) * (1 + int(real)) + int(fvcore) * len(specs) + measurements
    tick = Ticker(progress, steps)
    variants: list[Variant] = []
    try:
        # counting runs on meta models (free at any size); fvcore and timing need real ones, built
        # only once the vanilla count says their activations fit
        # vanilla first: its count decides whether the rest can run at all
        for name, alpha, design in sorted(specs, key=lambda spec: spec[1] != 0):
            hit = cached_variant(study, name, alpha, design, fvcore)
            variants.append(hit or count_variant(study, name, alpha, real=False, design=design))
            tick(f"counting {name} α={alpha:g}{' (cached)' * (hit is not None)}")
            if alpha == 0:
                study.check_fits(variants[-1].model, variants[-1].count, fvcore, timing, variants[-1].memory)
        variants.sort(key=lambda v: [spec[0] for spec in specs].index(v.name))  # back in the order asked
        for variant in variants if real else ():
            # what is timed is what was built (its seeded weights); fvcore reads shapes only
            if timing is not None:
                variant.model = study.build(variant.alpha, design=variant.design)
            elif variant.fvcore is None:
                meta = variant.model or study.build(variant.alpha, device="meta", design=variant.design)
                variant.model = materialised(meta)
            tick(f"building {variant.name} α={variant.alpha:g}")
        if fvcore:
            for variant in variants:
                variant.fvcore = variant.fvcore or fvcore_count(variant.model, study.input_shape)
                tick(f"fvcore {variant.name} α={variant.alpha:g}")
        for variant in variants if study.count_cache is not None else ():  # kept: what was counted now
            if variant.cached is None or (variant.fvcore is not None and not variant.fvcore_cached):
                study.count_cache.store(variant.alpha, variant.design, variant.counts())
    except KeyboardInterrupt:
        partial = result_of(variants, None) if any(v.alpha == 0 for v in variants) else None
        checked = sum(v.fvcore is not None for v in variants)
        also = f" (fvcore on {checked})" if fvcore and checked < len(variants) else ""
        message = f"interrupted after counting {len(variants)} of {len(specs)} {what}{also}"
        raise StudyInterrupted(partial, message) from None
    timed = None
    if timing is not None:
        vanilla = next(v for v in variants if v.alpha == 0)
        tick.announce(f"preparing {len(variants)} variants on {', '.join(timing.backends)}")
        try:
            timed = time_variants({v.name: v.model for v in variants}, study.input_shape, timing,
                                  base=vanilla.name, on_progress=tick.rounds("timing", timing.rounds))
        except TimingInterrupted as stop:  # the counts are complete; keep the rounds that finished
            raise StudyInterrupted(result_of(variants, stop.comparison), str(stop), stop.comparison) from None
        except KeyboardInterrupt:  # while preparing: the counts are complete, no latency
            raise StudyInterrupted(result_of(variants, None), "interrupted while preparing to time") from None
    return variants, timed
