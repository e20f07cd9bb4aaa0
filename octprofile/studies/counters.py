"""counters: every counter beside the analytic count (FlopCounterMode, fvcore, ptflops, thop, torchinfo,
torchvision's published figures), vanilla and Oct at batch 1, each difference explained by op kind through the
counter's own rules (``analysis/counters.py``) and the residual they leave."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

from rich.markup import escape
from rich.table import Table
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

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
from octprofile.analysis.crosscheck import fvcore_count
from octprofile.errors import MissingEngineError
from octprofile.nn import check_alpha
from octprofile.report.cells import exact
from octprofile.report.columns import Column, ColumnSet
from octprofile.studies.subject import Subject

COUNTER_TOOLS = ("ptflops", "thop", "torchinfo", "torchvision")  # what counters can run besides its own three


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


# exact element operations, so a residual of 1 shows
COUNTER_COLUMNS = ColumnSet(
    tuple(f.name for f in fields(CounterRow)),
    default=("variant", "counter", "quantity", "value", "analytic", "difference", "explained", "residual"),
    display={"counter": Column("counter", "text"), "quantity": Column("quantity", "text"),
             "value": Column("value", "int"), "analytic": Column("analytic", "int"),
             "difference": Column("difference", "int"), "as_flops": Column("+ 2nd FLOP of a MAC", "int"),
             "bn": Column("+ batch norm", "int"), "activation": Column("+ ReLU", "int"),
             "pool": Column("+ pooling", "int"), "upsample": Column("+ upsampling", "int"),
             "add": Column("+ additions", "int"), "bias": Column("+ bias", "int"),
             "rounding": Column("± rounding", "int"), "unhooked": Column("− custom modules", "int"),
             "transposed": Column("+ transposed by output", "int"), "explained": Column("explained", "int"),
             "residual": Column("residual", "int"), "reconciled": Column("reconciled", "bool"),
             "missed": Column("counted as zero", "text"), "note": Column("note", "text")})
assert COUNTER_COLUMNS[8:8 + len(KINDS)] == KINDS  # one column per op kind the counters' rules know


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


def counters(study: Subject, alpha: float, *, fvcore: bool = True,
             tools: Sequence[str] = COUNTER_TOOLS) -> CountersResult:
    """Every counter's value for vanilla and the Oct model at ``alpha`` (batch 1), each difference from the
    analytic count explained by op kind (analysis/counters.py) and the residual. ``tools``: which of
    COUNTER_TOOLS to run (analytic and FlopCounterMode always; fvcore only with ``fvcore``); an optional one
    that is not installed gets a row whose note names the extra to install."""
    alpha = check_alpha(alpha)
    shape = (1, *study.input_shape[1:])
    missing = {name: message for name, message in missing_tools().items() if name in tools}
    published = _published(study, shape) if "torchvision" in tools else None
    rows: list[CounterRow] = []
    for variant, a in (("vanilla", 0.0), ("oct", alpha))[:2 if alpha > 0 else 1]:
        model = study.build(a, device="meta")
        census, flop_counter = OpCensus(), FlopCounterMode(display=False)
        with census.watch(model):
            count = count_model(model, shape, observers=(flop_counter, census))
        row = _CounterRows(study.model.name, variant, a, count, census.calls, shape[-1])
        rows.append(row.macs("analytic", count.macs, {}, "conv + linear multiply-accumulates (rules.py)"))
        rows.append(row.params("analytic", count.params, "sum of the model's parameters"))
        rows.append(row.macs("FlopCounterMode", int(flop_counter.get_total_flops()), {"as_flops": count.macs}))
        if fvcore:
            rows.append(row.macs("fvcore", fvcore_count(study.build(a), shape).total))
        for name, run in (("ptflops", run_ptflops), ("thop", run_thop), ("torchinfo", run_torchinfo)):
            if name in tools:
                rows += row.tool(name, run, model, missing.get(name))
        if published is not None and variant == "vanilla":
            rows += row.published(published)
    reasons = {(rules.name, kind): reason for rules in RULES.values() for kind, reason in rules.reasons.items()}
    if published is not None:
        reasons["torchvision", "rounding"] = TORCHVISION_ROUNDING
    return CountersResult(study.model.name, alpha, shape, rows, reasons, missing)


def _published(study: Subject, shape: tuple[int, ...]):
    """torchvision's published counts where they describe this vanilla model: a torchvision model, built with
    its default options, at the input size the figures are for."""
    if study.model.source != "torchvision" or study.options.model_options:
        return None
    published = torchvision_published(study.model.name)
    return published if published is not None and published.input_size == shape[-1] else None


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


COUNTER_LABELS = {"analytic": "analytic MACs", "FlopCounterMode": "FlopCounterMode FLOPs", "fvcore": "fvcore total",
                  "ptflops": "ptflops total", "thop": "thop total", "torchinfo": "torchinfo mult-adds",
                  "torchvision": "torchvision GFLOPS"}


KIND_LABELS = {"as_flops": "+ 2nd FLOP of a MAC", "bn": "+ batch norm", "activation": "+ ReLU", "pool": "+ pooling",
               "upsample": "+ upsampling", "add": "+ additions", "bias": "+ bias", "rounding": "± rounding",
               "unhooked": "− custom modules", "transposed": "+ transposed by output"}


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
        return [("not run" if row.value is None and field == "value" else exact(getattr(row, field)))
                if row is not None else "" for row in rows]

    counters = list(dict.fromkeys(row.counter for row in result.rows if row.quantity == "MACs"))
    for counter in counters:
        table.add_row(COUNTER_LABELS[counter], *cells(counter, "MACs", "value"), end_section=counter == "analytic")
        if counter == "analytic":
            continue
        rows = [result.row(counter, variant) for variant in variants]
        for kind in KINDS:
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
        kinds = [kind for kind in KINDS if any(getattr(row, kind) for row in ran)]
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
