"""coverage: how much of the network α touches: each conv/linear layer of the vanilla model, octave (α in→out)
or vanilla and why, with its share of the vanilla MACs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from rich.table import Table
from torch import nn

from octprofile.analysis.counting import count_model
from octprofile.convert import BETWEEN, CLASSIFIER, vanilla_reasons_of
from octprofile.errors import BadValueError
from octprofile.nn import OctConvNd, check_alpha
from octprofile.report.cells import compact_table, num, scale_of
from octprofile.report.columns import Column, ColumnSet
from octprofile.studies.subject import Subject


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


COVERAGE_COLUMNS = ColumnSet(
    tuple(f.name for f in fields(CoverageRow)),
    default=("layer", "kind", "converted", "alpha_in", "alpha_out", "macs_vanilla", "share_of_vanilla_macs",
             "vanilla_reason"),
    display={"converted": Column("converted", "bool"),
             "share_of_vanilla_macs": Column("share of vanilla MACs", "ratio"),
             "vanilla_reason": Column("vanilla because", "text"), "reason": Column("reason", "text")})


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


def coverage(study: Subject, alpha: float) -> CoverageResult:
    """Which conv/linear layers the Oct model at ``alpha`` made octave (with their alphas), which stayed
    vanilla and why, and the share of the vanilla MACs each holds."""
    alpha = check_alpha(alpha)
    if alpha == 0:
        raise BadValueError("at α=0 every layer is vanilla: give an α above 0 for a coverage report")
    vanilla = count_model(study.build(0.0, device="meta"), study.input_shape)
    octave_model = study.build(alpha, device="meta")
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
    return CoverageResult(study.model.name, alpha, study.input_shape, study.options.placement, rows)


def _layer_kind(module: nn.Module, layer) -> str:
    """linear, depthwise, grouped or conv: ``layer`` is the vanilla count, ``module`` the layer in the Oct model."""
    if layer.kind == "linear" or layer.depthwise:
        return "linear" if layer.kind == "linear" else "depthwise"
    groups = module.geometry.groups if isinstance(module, OctConvNd) else module.groups
    return "grouped" if groups > 1 else "conv"


def coverage_table(result: CoverageResult, title: str, width: int | None = None) -> Table:
    """One row per conv/linear layer of the vanilla model: octave (with its α in→out) or vanilla (with the kind of
    reason, explained in the footer), and its share of the vanilla MACs. Fits 80 columns (long layer names fold)."""
    div, unit = scale_of([r.macs_vanilla for r in result.rows])
    columns = [("layer", lambda r: r.layer), ("kind", lambda r: r.kind),
               ("α in→out", lambda r: f"{r.alpha_in:g}→{r.alpha_out:g}" if r.converted else "vanilla"),
               (f"vanilla\n{unit}MACs", lambda r: num(r.macs_vanilla, div, 2)),
               ("% of\nMACs", lambda r: f"{100 * r.share_of_vanilla_macs:.1f}"),
               ("vanilla because", lambda r: r.vanilla_reason)]
    cells = [[cell(r) for _, cell in columns] for r in result.rows]
    return compact_table(title, [header for header, _ in columns], cells, width, {"kind", "α in→out",
                                                                                    "vanilla because"})


def coverage_footer(result: CoverageResult) -> str:
    """What α touches, in one line, then one line per kind of reason a layer stayed vanilla."""
    total = result.macs_vanilla
    div, unit = scale_of([total])
    converted = sum(row.macs_vanilla for row in result.converted)
    lines = [f"α={result.alpha:g} touches {len(result.converted)} of {len(result.rows)} conv/linear layers: "
             f"{100 * result.converted_share:.1f}% of the vanilla MACs ({converted / div:,.2f} of "
             f"{total / div:,.2f} {unit}MACs, multiply-accumulates)."]
    lines += [f"vanilla, {kind}: {layers} layer{'s' if layers > 1 else ''}, {100 * share:.1f}% of the MACs — {text}"
              for kind, (layers, share, text) in result.vanilla_by_reason().items()]
    return "\n".join(lines)
