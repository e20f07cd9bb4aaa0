"""The use cases over one model: ``Study`` is the facade, one line per use case (each lives whole in its module
under ``octprofile/studies/``).

    from octprofile.study import Study, StudyOptions
    study = Study("resnet50", StudyOptions(batch_size=8))
    result = study.compare(0.5, fvcore=False)            # SweepResult: rows vanilla and oct
    result.row("oct").mac_ratio

The command line, ``octprofile report`` and ``benchmarks/`` all go through here.
"""

from __future__ import annotations

from collections.abc import Sequence

from octprofile.models.resolve import ResolvedModel
from octprofile.runtime.timing import TimingOptions
from octprofile.runtime.training import StepOptions
from octprofile.studies import ablate as ablate_
from octprofile.studies import blocks as blocks_
from octprofile.studies import check as check_
from octprofile.studies import compare as compare_
from octprofile.studies import counters as counters_
from octprofile.studies import coverage as coverage_
from octprofile.studies import explain as explain_
from octprofile.studies import layers as layers_
from octprofile.studies import sweep as sweep_
from octprofile.studies import train as train_
from octprofile.studies.check import CheckResult
from octprofile.studies.compare import SweepResult
from octprofile.studies.layers import LayersResult
from octprofile.studies.subject import Progress, StudyInterrupted, StudyOptions, Subject  # noqa: F401 - public here
from octprofile.studies.train import TrainingResult


class Study(Subject):
    """One model (resolved once: a custom model's code runs here, once) and the use cases over it."""

    compare = compare_.compare
    sweep = sweep_.sweep
    ablate = ablate_.ablate
    layers = layers_.layers
    coverage = coverage_.coverage
    blocks = blocks_.blocks
    explain = explain_.explain
    check = check_.check
    counters = counters_.counters
    train = train_.train
    train_sweep = train_.train_sweep


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
