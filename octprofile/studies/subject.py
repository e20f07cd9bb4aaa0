"""The subject every use case works on: a model resolved once, with its options and input shape.

``Subject`` resolves the model (a custom model's code runs here, once), checks the options before any work,
builds the vanilla or Oct model on demand, and refuses up front work whose memory would not fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import torch
from torch import nn

from octprofile.analysis.count_cache import CountCache
from octprofile.analysis.counting import CountResult
from octprofile.analysis.memory import InferenceMemory, inference_memory
from octprofile.build import build_model
from octprofile.errors import BadValueError, ConversionError, CustomModelError, ResourceError
from octprofile.models.input_size import format_input_size, runs_at, smallest_input_size
from octprofile.models.resolve import ResolvedModel, resolve
from octprofile.nn import FULL, OctDesign
from octprofile.runtime.budget import available_memory
from octprofile.runtime.context import resolve_device
from octprofile.runtime.timing import TimingComparison, TimingOptions

Progress = Callable[[str, int, int], None]


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
    and the design of the octave layers (paths kept, down-sampling; ``Study.ablate`` varies it). ``cache``: read
    and keep the counts of compare, sweep and ablate in the count cache (``analysis/count_cache.py``; the command
    line's ``--no-cache`` is ``cache=False``)."""

    input_size: int | tuple[int, ...] | None = None  # a side, or every spatial size (T, H, W; L): see spatial_sizes
    batch_size: int = 1
    placement: str = "reference"
    model_options: dict = field(default_factory=dict)
    seed: int = 0
    design: OctDesign = FULL
    cache: bool = True

    def __post_init__(self) -> None:
        for name in ("input_size", "batch_size"):
            value = getattr(self, name)
            values = value if name == "input_size" and isinstance(value, tuple) and value else (value,)
            if value is not None and not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                             for v in values):
                raise BadValueError(f"{name} must be a positive integer{' or a tuple of them' * (name == 'input_size')}"
                                    f", got {value!r}")


class Subject:
    """One model, resolved once (a custom model's code runs here, once), and how to build its variants."""

    def __init__(self, model: str | ResolvedModel, options: StudyOptions = StudyOptions()) -> None:
        self.model = resolve(model)
        self.model.check_options(options.model_options)  # before any work, not at the first build
        self.options = options
        self.input_shape = self.model.input_shape(options.input_size, options.batch_size)
        self._reference = model if isinstance(model, str) else None  # a model given as an object is not cached

    @cached_property
    def count_cache(self) -> CountCache | None:
        """Where counts are kept between runs; None when off (``cache=False``, OCTPROFILE_NO_CACHE) or the model
        cannot be identified (given as a ``ResolvedModel``, or its code cannot be hashed)."""
        if not self.options.cache or self._reference is None:
            return None
        o = self.options
        study = {"placement": o.placement, "options": sorted((k, repr(v)) for k, v in o.model_options.items()),
                 "input_size": o.input_size, "input_shape": self.input_shape}
        return CountCache.open(self._reference, self.model, study)

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

    def check_fits(self, model: nn.Module, vanilla: CountResult, fvcore: bool, timing: TimingOptions | None,
                   memory: InferenceMemory | None = None) -> None:
        """Timing and fvcore allocate real activations: refuse up front, with the estimate, when they would
        not fit. The estimate is the true analytic peak of live tensors in one forward pass of the vanilla
        meta ``model`` (every op that allocates: conv, batch norm, pooling, upsampling, adds; ``memory``, when
        already measured), twice over for the allocator and conv workspaces, plus the weights of the variants;
        fvcore's tracer may keep every intermediate, so it is sized by all the bytes the pass allocates."""
        if vanilla.macs == 0:  # every ratio divides by it
            raise BadValueError(f"model {self.model.name} has no conv or linear layer: nothing to compare")
        weights = 8 * vanilla.params
        memory = memory or inference_memory(model, self.input_shape)
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


class Ticker:
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


def variant_name(alpha: float) -> str:
    return "vanilla" if alpha == 0 else f"oct-{alpha:g}"
