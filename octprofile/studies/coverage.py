"""coverage: how much of the network α touches: each conv/linear layer of the vanilla model, octave (α in→out)
or vanilla and why, with its share of the vanilla MACs."""

from __future__ import annotations

import math
import re
from collections import Counter
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


# ---- a source's zoo: which models convert, per module (``octprofile coverage --source timm``, reports/timm.md) ----

ZOO_SIDE = 64  # counts are exact at any size; a model that cannot run at this side is counted at its default
ZOO_PER_MODULE = 3  # models per module in reports/timm.md: an evenly spaced sample (0: every model)
_LAST_LAYER = re.compile(r".*'[^']*' \(([^()]+)\)(?: cannot run on the octave model)?: (.*?)\)?$")
_NAMES_AND_SIZES = re.compile(r"'[\w.]*\d[\w.]*'|\([^()]*\d[^()]*\)")


@dataclass
class ZooModelRow:
    """One model of the zoo: converts (params equal, analytic MACs = FlopCounterMode ÷ 2, some layer octave) or
    refused, with the reason in one line."""

    module: str
    model: str
    converts: bool
    params_equal: bool | None  # None where the Oct model was not built
    counts_exact: bool | None
    mac_ratio: float | None  # Oct MACs ÷ vanilla MACs
    share_reached: float | None  # the share of the vanilla MACs in the layers α made octave
    input_size: int | None  # the side it was counted at
    reason: str  # why it does not convert; empty where it does


ZOO_COLUMNS = ColumnSet(
    tuple(f.name for f in fields(ZooModelRow)),
    display={"converts": Column("converts", "bool"), "params_equal": Column("params equal", "bool"),
             "counts_exact": Column("counts exact", "bool"), "mac_ratio": Column("MACs ÷ vanilla", "ratio"),
             "share_reached": Column("share of MACs α reaches", "ratio"), "reason": Column("reason", "text")})


@dataclass
class ZooModuleRow:
    """One module of the source: how many of its (sampled) models convert, and how much of their MACs α reaches."""

    module: str
    models: int  # in the source
    surveyed: int
    converts: int
    share_reached: float | None  # mean over the converted models
    refusals: dict[str, int]  # the kind of reason (layer names left out) -> models


@dataclass
class ZooCoverageResult:
    source: str
    version: str
    alpha: float
    side: int
    per_module: int  # 0: every model
    rows: list[ZooModelRow]
    listed: dict[str, int]  # module -> models in the source

    def modules(self) -> list[ZooModuleRow]:
        found = []
        for module, listed in self.listed.items():
            rows = [row for row in self.rows if row.module == module]
            ok = [row.share_reached for row in rows if row.converts]
            found.append(ZooModuleRow(module, listed, len(rows), len(ok), sum(ok) / len(ok) if ok else None,
                                      dict(Counter(reason_kind(r.reason) for r in rows if not r.converts))))
        return found

    def refusals(self) -> dict[str, tuple[int, list[str]]]:
        """{kind of reason: (models, their modules)}, most models first."""
        found: dict[str, tuple[int, list[str]]] = {}
        for row in self.rows:
            if not row.converts:
                count, modules = found.get(reason_kind(row.reason), (0, []))
                found[reason_kind(row.reason)] = (count + 1, modules + [row.module] * (row.module not in modules))
        return dict(sorted(found.items(), key=lambda item: -item[1][0]))

    def records(self) -> list[dict]:
        return [asdict(row) for row in self.rows]


def reason_kind(reason: str) -> str:
    """A refusal in short, so that models refused alike group together: the class of the last layer it names and
    what went wrong there, or the known reason; layer names and sizes left out."""
    if found := _LAST_LAYER.match(reason):
        reason = f"{found.group(1)}: {found.group(2)}"
    elif "has no octave version: " in reason:
        reason = reason.split("has no octave version: ", 1)[1]
    return one_line(_NAMES_AND_SIZES.sub("…", reason), 160)


def zoo_coverage(source: str = "timm", alpha: float = 0.5, modules: list[str] | None = None,
                 per_module: int = ZOO_PER_MODULE, side: int = ZOO_SIDE, progress=None) -> ZooCoverageResult:
    """Which models of ``source``'s convolutional modules convert at ``alpha`` (``per_module`` evenly spaced
    models of each, 0: all), each counted on the meta device at ``side`` pixels."""
    from octprofile.models.timm_source import CNN_MODULES, import_timm

    if source != "timm":
        raise BadValueError(f"--source {source!r}: the zoo survey knows timm only")
    alpha = check_alpha(alpha)
    if alpha == 0:
        raise BadValueError("at α=0 every layer is vanilla: give an α above 0 for a coverage report")
    if per_module < 0:
        raise BadValueError(f"--per-module must be 0 (every model) or more, got {per_module}")
    timm = import_timm()
    listed = {module: timm.list_models(module=module) for module in modules or CNN_MODULES}
    if empty := [module for module, names in listed.items() if not names]:
        raise BadValueError(f"no timm module {', '.join(map(repr, empty))} with models (the CNN modules: "
                            f"{', '.join(CNN_MODULES)})")
    chosen = [(module, name) for module, names in listed.items()
              for name in names[::math.ceil(len(names) / per_module) if per_module else 1]]
    rows = []
    for index, (module, name) in enumerate(chosen):
        if progress:
            progress(f"{module}: {name}", index, len(chosen))
        rows.append(_survey(module, name, alpha, side))
    return ZooCoverageResult(source, timm.__version__, alpha, side, per_module, rows,
                             {module: len(names) for module, names in listed.items()})


def _survey(module: str, name: str, alpha: float, side: int) -> ZooModelRow:
    from octprofile.analysis.crosscheck import torch_flops
    from octprofile.build import build_model
    from octprofile.models import resolve

    reference = "timm:" + name

    def refused(reason: str, **counts) -> ZooModelRow:
        return ZooModelRow(module, name, False, counts.get("params_equal"), counts.get("counts_exact"),
                           counts.get("mac_ratio"), counts.get("share_reached"), side, one_line(reason))

    try:
        try:
            vanilla = build_model(reference, 0.0, device="meta", input_size=side)
            count_model(vanilla, (1, 3, side, side))
        except Exception:  # noqa: BLE001 - too small for it: its own input side
            side = resolve(reference).default_side
            vanilla = build_model(reference, 0.0, device="meta", input_size=side)
        shape = (1, 3, side, side)
        vanilla_count = count_model(vanilla, shape)
    except Exception as error:  # noqa: BLE001 - a survey: every failure is a row
        return refused(f"the vanilla model does not run: {error}")
    try:
        octave = build_model(reference, alpha, device="meta", input_size=side)
    except Exception as error:  # noqa: BLE001
        return refused(str(error))
    try:
        octave_count, flops = count_model(octave, shape), torch_flops(octave, shape)
    except Exception as error:  # noqa: BLE001
        return refused(f"the Oct model cannot be counted: {error}")
    modules = dict(octave.named_modules())
    reached = sum(layer.macs for layer in vanilla_count.layers
                  if isinstance(octave_layer := modules.get(layer.name), OctConvNd)
                  and (octave_layer.alpha_in, octave_layer.alpha_out) != (0.0, 0.0))
    counts = dict(params_equal=vanilla_count.params == octave_count.params, counts_exact=2 * octave_count.macs == flops,
                  mac_ratio=octave_count.macs / vanilla_count.macs, share_reached=reached / vanilla_count.macs)
    if not counts["params_equal"]:
        return refused(f"params differ: {vanilla_count.params} vanilla, {octave_count.params} Oct", **counts)
    if not counts["counts_exact"]:
        return refused(f"2 × analytic MACs {2 * octave_count.macs} ≠ FlopCounterMode {flops}", **counts)
    if reached == 0:
        return refused("α reaches no layer", **counts)
    return ZooModelRow(module, name, True, input_size=side, reason="", **counts)


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split()) or "failed"
    return text if len(text) <= limit else text[:limit - 1] + "…"


def zoo_table(result: ZooCoverageResult, title: str, width: int | None = None) -> Table:
    """One row per module: models, surveyed, converting, refused, and the mean share of the MACs α reaches."""
    cells = [[m.module, str(m.models), str(m.surveyed), str(m.converts), str(m.surveyed - m.converts),
              "–" if m.share_reached is None else f"{100 * m.share_reached:.1f}"] for m in result.modules()]
    total = sum(m.surveyed for m in result.modules())
    converts = sum(m.converts for m in result.modules())
    cells.append(["all", str(sum(result.listed.values())), str(total), str(converts), str(total - converts), ""])
    return compact_table(title, ["module", "models", "surveyed", "convert", "refused", "% of MACs\nα reaches"],
                         cells, width, set(), total=True)


def zoo_footer(result: ZooCoverageResult) -> str:
    """The refusals, grouped by the kind of reason (most models first)."""
    sample = f"{result.per_module} evenly spaced models per module" if result.per_module else "every model"
    lines = [f"timm {result.version}, α={result.alpha:g}, {sample}, counted on the meta device at {result.side} px. "
             "Converts: params equal and analytic MACs = FlopCounterMode ÷ 2. Refused, by reason:"]
    lines += [f"{count} × {kind} ({', '.join(modules)})" for kind, (count, modules) in result.refusals().items()]
    return "\n".join(lines)


def zoo_markdown(result: ZooCoverageResult) -> str:
    """reports/timm.md: the per-module table, the refusals grouped by reason, then every surveyed model."""
    from octprofile.report.formats import to_markdown

    sample = (f"an evenly spaced sample of at most {result.per_module} models per module (`names[::ceil(n / "
              f"{result.per_module})]` of `timm.list_models(module=M)`), so that the full `octprofile report` stays "
              "affordable; `octprofile coverage --source timm --per-module 0` surveys every model"
              if result.per_module else "every model of each module")
    modules = [dict(module=m.module, models=m.models, surveyed=m.surveyed, converts=m.converts,
                    refused=m.surveyed - m.converts,
                    share_reached=None if m.share_reached is None else round(m.share_reached, 4),
                    refusals="; ".join(f"{kind} ({count})" for kind, count in m.refusals.items()))
               for m in result.modules()]
    module_columns = ColumnSet(("module", "models", "surveyed", "converts", "refused", "share_reached", "refusals"),
                               display={"share_reached": Column("mean share of MACs α reaches", "ratio"),
                                        "refusals": Column("refused because (models)", "text")})
    reasons = [dict(reason=kind, models=count, modules=", ".join(found))
               for kind, (count, found) in result.refusals().items()]
    reason_columns = ColumnSet(("reason", "models", "modules"), display={"reason": Column("reason", "text"),
                                                                         "modules": Column("modules", "text")})
    rows = [asdict(row) | dict(mac_ratio=None if row.mac_ratio is None else round(row.mac_ratio, 4),
                               share_reached=None if row.share_reached is None else round(row.share_reached, 4))
            for row in result.rows]
    return (f"# timm's convolutional modules: which models convert (generated by `octprofile report`)\n\n"
            f"timm {result.version}, α = {result.alpha:g}, {sample}. Each model is built with `pretrained=False` and "
            f"counted on the meta device at {result.side} px (its default input side where it cannot run at "
            f"{result.side}; counts are exact at any size). *Converts*: the Oct model's params equal the vanilla "
            "model's, its analytic MACs equal FlopCounterMode ÷ 2 and α reaches at least one layer. *Share of MACs "
            "α reaches*: the vanilla MACs of the layers α made octave, over all the vanilla MACs (the rest stays "
            "vanilla: stem, classifier, the last stage, gates, layers that cannot take the (high, low) pair).\n\n"
            "## Per module\n\n" + to_markdown(modules, module_columns, module_columns, scale=False)
            + "\n## Refusals by reason (layer names and sizes left out)\n\n"
            + to_markdown(reasons, reason_columns, reason_columns, scale=False)
            + "\n## Every surveyed model\n\n" + to_markdown(rows, ZOO_COLUMNS, ZOO_COLUMNS, scale=False))
