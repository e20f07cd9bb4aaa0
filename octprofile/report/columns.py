"""How each stable column reads in Markdown and LaTeX: header text, kind of value (which sets unit scaling,
precision and alignment). ``COMMON`` holds the columns several use cases share; a use case declares its own
columns, their display and its compact default set as a ``ColumnSet`` beside its rows (``octprofile/studies/``).

CSV and JSON never use this: they write the raw values under the raw column names.
"""

from __future__ import annotations

from dataclasses import dataclass

# Kinds of value:
#   text   as is, left-aligned
#   bool   true / false (the same spelling as CSV and JSON)
#   int    exact, thousands separated (sizes, counts of things)
#   count  scaled to K / M / G from the data (params, MACs, activations), 3 decimals
#   bytes  scaled to KiB / MiB / GiB from the data, 3 decimals
#   ratio  3 decimals
#   float  at most 4 decimals, trailing zeros dropped: a value with 4 decimals or fewer is shown exactly
NUMERIC_KINDS = ("int", "count", "bytes", "ratio", "float")


@dataclass(frozen=True)
class Column:
    header: str  # '{unit}' marks where a scaled column's unit prefix goes (GMACs); else '(unit)' is appended
    kind: str = "float"


def _count(header: str) -> Column:
    return Column(header, "count")


def _ratio(header: str) -> Column:
    return Column(header, "ratio")


def _text(header: str) -> Column:
    return Column(header, "text")


# Columns several use cases (or the models list) share; each use case adds its own in its ColumnSet.
COMMON: dict[str, Column] = {
    "model": _text("model"), "variant": _text("variant"), "alpha": Column("α"),
    "input_size": Column("input size", "int"), "batch_size": Column("batch", "int"),
    "params": _count("params"), "macs": _count("{unit}MACs"), "macs_fvcore": _count("fvcore {unit}MACs"),
    "flops_torch": _count("torch {unit}FLOPs"), "mac_ratio": _ratio("MACs ÷ vanilla"),
    "theory_mac_ratio": _ratio("theory MACs ÷ vanilla"), "activations": _count("activations"),
    "latency_ms": Column("latency (ms)"), "latency_iqr_ms": Column("latency IQR (ms)"), "device": _text("device"),
    "threads": Column("threads", "int"), "activation_ratio": _ratio("activations ÷ vanilla"),
    "theory_activation_ratio": _ratio("theory activations ÷ vanilla"), "latency_ratio": _ratio("latency ÷ vanilla"),
    "latency_ratio_iqr": _ratio("latency ratio IQR"), "pool_ops": _count("pool ops"),
    "upsample_ops": _count("upsample ops"), "add_ops": _count("add ops"),
    "counts_agree": Column("counts agree", "bool"), "params_equal": Column("params equal", "bool"),
    "placement": _text("placement"), "backend": _text("backend"), "dtype": _text("dtype"),
    "device_name": _text("device name"), "cpu_isa": _text("CPU ISA"), "torch_version": _text("torch"),
    "timing_rounds": Column("rounds", "int"), "timing_warnings": _text("timing warnings"), "design": _text("design"),
    "params_dropped": _count("params dropped"), "layer": _text("layer"), "kind": _text("kind"),
    "alpha_in": Column("α in"), "alpha_out": Column("α out"), "macs_vanilla": _count("vanilla {unit}MACs"),
    "excess_ms": Column("excess (ms)"), "share_of_vanilla": _ratio("share of vanilla time"),
    "share_of_oct": _ratio("share of Oct time"),
    # the models list
    "name": _text("name"), "family": _text("family"), "source": _text("source"), "options": _text("options"),
}


class ColumnSet(tuple):
    """A use case's stable column names, in order (a tuple, so it is written and sliced as one), with how its
    own columns read (``display``, over ``COMMON``) and what Markdown and LaTeX show when none are chosen
    (``default``; columns empty in every row are dropped after)."""

    def __new__(cls, names, default=None, display=None):
        self = super().__new__(cls, names)
        self.default = tuple(default or names)
        self.display = {**COMMON, **(display or {})}
        assert set(self.default) <= set(self), set(self.default) - set(self)
        return self


def column(name: str, values, available=()) -> Column:
    """``name``'s display metadata in the column set ``available`` (or ``COMMON``); a column not declared gets its
    name as header and a kind from its values."""
    known = getattr(available, "display", COMMON)
    if name in known:
        return known[name]
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return Column(name, "bool")
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return Column(name, "int")
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return Column(name, "float")
    return Column(name, "text")


def default_columns(available) -> tuple[str, ...]:
    return getattr(available, "default", tuple(available))
