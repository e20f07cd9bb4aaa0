"""layers: one row per conv/linear layer of the Oct model, MACs per path (H→H, H→L, L→H, L→L) beside the same
layer of the vanilla model and its closed-form theory; rolled up by name depth on demand."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from rich.table import Table

from octprofile.analysis.counting import count_model
from octprofile.analysis.theory import layer_mac_ratio, theory_activation_ratio
from octprofile.convert import not_converted
from octprofile.nn import PATHS, check_alpha
from octprofile.report.cells import compact_table, num, plain_ratio, scale_of
from octprofile.report.columns import Column, ColumnSet
from octprofile.studies.subject import Subject


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


LAYER_COLUMNS = ColumnSet(
    tuple(f.name for f in fields(LayerRow)),
    default=("layer", "kind", "alpha_in", "alpha_out", "stride", "macs", "macs_vanilla", "mac_ratio",
             "theory_mac_ratio", "params"),
    display={"stride": Column("stride", "int"), "macs_hh": Column("H→H {unit}MACs", "count"),
             "macs_hl": Column("H→L {unit}MACs", "count"), "macs_lh": Column("L→H {unit}MACs", "count"),
             "macs_ll": Column("L→L {unit}MACs", "count"),
             "activations_vanilla": Column("vanilla activations", "count")})


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


def layers(study: Subject, alpha: float) -> LayersResult:
    """One row per conv/linear layer of the Oct model, beside the same layer of the vanilla model."""
    alpha = check_alpha(alpha)
    vanilla = count_model(study.build(0.0, device="meta"), study.input_shape).by_name()
    octave_model = study.build(alpha, device="meta")
    octave = count_model(octave_model, study.input_shape)
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
    return LayersResult(study.model.name, alpha, study.input_shape, rows, not_converted(octave_model))


def _alphas(row) -> str:
    return "" if row.alpha_in is None else f"{row.alpha_in:g}→{row.alpha_out:g}"


def layers_table(result: LayersResult, title: str, depth: int = 0, wide: bool = False,
                 width: int | None = None) -> Table:
    """One row per layer (or per group of layers at ``depth``) and a total. The default columns fit 80
    terminal columns (MACs to 0.1 M; a long layer name folds where ``width`` is too small for it); ``wide``
    adds the vanilla MACs, theory, share, activations, params and output shape, and a second decimal, and
    is as wide as it needs (print it without a width limit)."""
    rows = result.rollup(depth) if depth else result.rows
    div, unit = scale_of([r.macs_vanilla for r in rows])
    digits = 2 if wide or div > 1e6 else 1
    act_div, act_unit = scale_of([r.activations for r in rows])
    columns = [("layer", lambda r: r.layer), ("α in→out", _alphas),
               ("s", lambda r: "" if r.stride is None else str(r.stride)),
               (f"{unit}MACs", lambda r: num(r.macs, div, digits)), ("÷ van.", lambda r: plain_ratio(r.mac_ratio))]
    if wide:
        columns += [(f"vanilla\n{unit}MACs", lambda r: num(r.macs_vanilla, div, digits)),
                    ("theory", lambda r: plain_ratio(r.theory_mac_ratio)),
                    ("% of\nMACs", lambda r: f"{100 * r.share_of_macs:.1f}")]
    columns += [(label, lambda r, p=path: num(getattr(r, f"macs_{p}"), div, digits))
                for label, path in (("H→H", "hh"), ("H→L", "hl"), ("L→H", "lh"), ("L→L", "ll"))]
    if wide:
        columns += [(f"act.\n{act_unit}", lambda r: num(r.activations, act_div, 3)),
                    ("params", lambda r: f"{r.params:,}"), ("output C×H×W", lambda r: r.output_shape)]
    cells = [[cell(r) for _, cell in columns] for r in [*rows, result.total]]
    return compact_table(title, [header for header, _ in columns], cells, width, {"output C×H×W"}, total=True)
