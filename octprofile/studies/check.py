"""check: the CI gate. Per model and α: params equal vanilla's (less the weights of the paths a design drops),
the MAC counters agree (analytic, FlopCounterMode, fvcore), and the cross-checks pass (ptflops and thop
reconciled, a vanilla torchvision model's published figures). A table, one summary line, and JUnit XML."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console, ConsoleOptions, RenderableType
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from octprofile.analysis.crosscheck import counter_disagreements, fvcore_count
from octprofile.convert import not_converted
from octprofile.nn import check_alpha
from octprofile.report.columns import Column, ColumnSet
from octprofile.report.junit import JUnitCase, junit_xml
from octprofile.studies.counters import CounterRow, counters
from octprofile.studies.subject import Subject
from octprofile.studies.variants import count_variant

CROSS_CHECKS = ("torchvision", "ptflops", "thop")  # what check cross-checks, when it applies and is installed
CHECK_COUNTERS = ("analytic", "FlopCounterMode", "fvcore")  # every MAC counter check can run, in order

CHECK_COLUMNS = ColumnSet(
    ("model", "alpha", "design", "passed", "params_vanilla", "params_dropped", "params_expected", "params_oct",
     "counters", "macs", "flops_torch", "macs_fvcore", "counts_agree", "failures", "input_size", "cross_checks",
     "cross_checks_skipped"),
    display={"cross_checks": Column("cross-checks", "text"),
             "cross_checks_skipped": Column("not cross-checked", "text")})


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


def check(study: Subject, alpha: float, *, fvcore: bool = True, cross_checks: bool = True) -> CheckResult:
    """The CI gate for one alpha: params equal vanilla's (less the weights of paths the design drops,
    computed from their shapes), and the three MAC counts agree; with ``cross_checks``, also ptflops and
    thop reconciled with the analytic count (when installed) and, for a vanilla torchvision model, its
    published params and GFLOPS (see ``_cross_checks``)."""
    alpha = check_alpha(alpha)
    vanilla_params = sum(p.numel() for p in study.build(0.0, device="meta").parameters())
    variant = count_variant(study, "oct", alpha, real=fvcore)  # real: a model on the meta device is refused
    fv = fvcore_count(variant.model, study.input_shape).macs if fvcore else None
    result = CheckResult.of(study.model.name, alpha, vanilla_params, variant.count.params, variant.count.macs,
                            variant.flops_torch, fv, variant.design.name, variant.count.params_dropped,
                            study.input_shape[-1])
    if cross_checks:
        ran, failures, skipped = _cross_checks(study, alpha)
        result = dataclasses.replace(result, failures=result.failures + failures, cross_checks=ran,
                                     cross_checks_skipped=skipped)
    return dataclasses.replace(result, not_converted=not_converted(variant.model))


def _cross_checks(study: Subject, alpha: float) -> tuple[tuple[str, ...], list[str], str]:
    """check's cross-checks: ptflops and thop reconciled with the analytic count for vanilla and Oct, and
    torchvision's published params (exact) and GFLOPS (within rounding) for a vanilla torchvision model.
    Returns the checks that ran, their failures, and why any did not run ('' when all that apply did): a
    package to install, or what the tool raised on this model."""
    result = counters(study, alpha, fvcore=False, tools=CROSS_CHECKS)
    rows = [row for row in result.rows if row.counter in CROSS_CHECKS]
    ran = tuple(name for name in CROSS_CHECKS if any(r.counter == name and r.value is not None for r in rows))
    failures = [_unreconciled(row) for row in rows if row.reconciled is False]
    return ran, failures, "; ".join(dict.fromkeys(row.note for row in rows if row.value is None))


def _unreconciled(row: CounterRow) -> str:
    """A cross-check failure in one line."""
    explained = f" + {row.explained:,} explained" if row.explained else ""
    return (f"{row.counter} {row.quantity} {row.variant}: {row.value:,} ≠ analytic {row.analytic:,}{explained} "
            f"(residual {row.residual:+,})")


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


def _cross_check_words(results: Sequence[CheckResult]) -> str:
    """'; cross-checked: torchvision, ptflops, thop' and why any were skipped, for the summary line."""
    ran = list(dict.fromkeys(name for r in results for name in r.cross_checks))
    skipped = "; ".join(dict.fromkeys(r.cross_checks_skipped for r in results if r.cross_checks_skipped))
    return ((f"; cross-checked: {', '.join(ran)}" if ran else "")
            + (f"; not cross-checked: {skipped}" if skipped else ""))


def _junit_output(result: CheckResult) -> str:
    """What was compared, for the testcase's system-out."""
    given = ", ".join(f"{name} {value:,}" for name, value in result.counter_macs.items())
    dropped = f" − {result.params_dropped:,} dropped = {result.params_expected:,}" if result.params_dropped else ""
    cross = (f"\ncross-checked: {', '.join(result.cross_checks) or 'none'}"
             + (f"; not cross-checked: {result.cross_checks_skipped}" if result.cross_checks_skipped else ""))
    return (f"params: oct {result.params_oct:,}, vanilla {result.params_vanilla:,}{dropped}\n"
            f"MACs (FlopCounterMode: FLOPs ÷ 2): {given}\ndesign: {result.design}"
            + (f"; input size: {result.input_size}" if result.input_size else "") + cross)


def check_junit(results: Sequence[CheckResult]) -> str:
    """The JUnit XML document: one test case per model and α; failures carry the failure text."""
    cases = [JUnitCase(r.model, r.label, r.failures, _junit_output(r)) for r in results]
    cross_checks = dict.fromkeys(name for r in results for name in r.cross_checks)
    return junit_xml("octprofile check", cases, {"counters": ",".join(counters_ran(results)),
                                                 "cross_checks": ",".join(cross_checks)})
