"""How each stable column reads in Markdown and LaTeX: header text, kind of value (which sets unit scaling,
precision and alignment), and the compact default set per column set.

CSV and JSON never use this: they write the raw values under the raw column names.
"""

from __future__ import annotations

from dataclasses import dataclass

from octprofile.results import (
    ABLATION_COLUMNS,
    BLOCK_COLUMNS,
    COMPARE_COLUMNS,
    COUNTER_COLUMNS,
    COVERAGE_COLUMNS,
    EXPLAIN_COLUMNS,
    LAYER_COLUMNS,
    TRAINING_COLUMNS,
)

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


COLUMNS: dict[str, Column] = {
    # compare / sweep (results.VariantRow)
    "model": _text("model"), "variant": _text("variant"), "alpha": Column("α"),
    "input_size": Column("input size", "int"), "batch_size": Column("batch", "int"),
    "params": _count("params"), "macs": _count("{unit}MACs"), "macs_fvcore": _count("fvcore {unit}MACs"),
    "fvcore_total": _count("fvcore total"), "flops_torch": _count("torch {unit}FLOPs"),
    "mac_ratio": _ratio("MACs ÷ vanilla"), "theory_mac_ratio": _ratio("theory MACs ÷ vanilla"),
    "activations": _count("activations"), "latency_ms": Column("latency (ms)"),
    "latency_iqr_ms": Column("latency IQR (ms)"), "device": _text("device"), "threads": Column("threads", "int"),
    "activation_peak_bytes": Column("activation peak", "bytes"),
    "activation_peak_low_bytes": Column("activation peak, low", "bytes"),
    "activation_peak_ratio": _ratio("activation peak ÷ vanilla"),
    "activation_peak_at": _text("activation peak in"),
    "activation_bytes": Column("activation memory", "bytes"), "activation_ratio": _ratio("activations ÷ vanilla"),
    "theory_activation_ratio": _ratio("theory activations ÷ vanilla"), "latency_ratio": _ratio("latency ÷ vanilla"),
    "latency_ratio_iqr": _ratio("latency ratio IQR"), "peak_memory_bytes": Column("peak memory", "bytes"),
    "peak_memory_ratio": _ratio("peak memory ÷ vanilla"), "pool_ops": _count("pool ops"),
    "upsample_ops": _count("upsample ops"), "add_ops": _count("add ops"), "bn_ops": _count("BN ops"),
    "fvcore_unsupported": _text("fvcore unsupported"), "params_equal": Column("params equal", "bool"),
    "counts_agree": Column("counts agree", "bool"), "placement": _text("placement"), "backend": _text("backend"),
    "prepare_s": Column("preparation (s)"), "dtype": _text("dtype"), "device_name": _text("device name"),
    "cpu_isa": _text("CPU ISA"), "torch_version": _text("torch"), "timing_rounds": Column("rounds", "int"),
    "timing_warnings": _text("timing warnings"), "best_backend": _text("best backend"),
    "best_latency_ratio": _ratio("best latency ÷ best vanilla"),
    "best_latency_ratio_iqr": _ratio("best latency ratio IQR"), "design": _text("design"),
    "params_dropped": _count("params dropped"),
    # ablate (results.AblationRow)
    "params_ratio": _ratio("params ÷ vanilla"), "mac_ratio_vs_full": _ratio("MACs ÷ full"),
    "activation_ratio_vs_full": _ratio("activations ÷ full"), "latency_ratio_vs_full": _ratio("latency ÷ full"),
    "latency_ratio_vs_full_iqr": _ratio("latency ÷ full IQR"),
    # layers (results.LayerRow)
    "layer": _text("layer"), "kind": _text("kind"), "alpha_in": Column("α in"), "alpha_out": Column("α out"),
    "stride": Column("stride", "int"), "macs_vanilla": _count("vanilla {unit}MACs"),
    "macs_hh": _count("H→H {unit}MACs"), "macs_hl": _count("H→L {unit}MACs"), "macs_lh": _count("L→H {unit}MACs"),
    "macs_ll": _count("L→L {unit}MACs"), "activations_vanilla": _count("vanilla activations"),
    # blocks (results.BlockRow)
    "block": _text("block"), "latency_vanilla_ms": Column("vanilla latency (ms)"),
    "excess_ms": Column("excess (ms)"), "share_of_vanilla": _ratio("share of vanilla time"),
    "share_of_oct": _ratio("share of Oct time"),
    # explain (results.ExplainRow)
    "calls_vanilla": Column("vanilla calls", "int"), "calls": Column("calls", "int"),
    "time_vanilla_ms": Column("vanilla time (ms)"), "time_ms": Column("time (ms)"),
    "gmacs_per_s_vanilla": Column("vanilla GMAC/s"), "gmacs_per_s": Column("GMAC/s"),
    "bytes_vanilla": Column("vanilla bytes moved", "bytes"), "bytes": Column("bytes moved", "bytes"),
    "bound_vanilla": _text("vanilla bound"), "bound": _text("bound"),
    "unprofiled_vanilla_ms": Column("vanilla unprofiled (ms)"), "unprofiled_ms": Column("unprofiled (ms)"),
    # coverage (results.CoverageRow)
    "converted": Column("converted", "bool"), "share_of_vanilla_macs": _ratio("share of vanilla MACs"),
    "vanilla_reason": _text("vanilla because"), "reason": _text("reason"),
    # counters (results.CounterRow): exact element operations, so a residual of 1 shows
    "counter": _text("counter"), "quantity": _text("quantity"), "value": Column("value", "int"),
    "analytic": Column("analytic", "int"), "difference": Column("difference", "int"),
    "as_flops": Column("+ 2nd FLOP of a MAC", "int"), "bn": Column("+ batch norm", "int"),
    "activation": Column("+ ReLU", "int"), "pool": Column("+ pooling", "int"),
    "upsample": Column("+ upsampling", "int"), "add": Column("+ additions", "int"), "bias": Column("+ bias", "int"),
    "rounding": Column("± rounding", "int"), "unhooked": Column("− custom modules", "int"),
    "transposed": Column("+ transposed by output", "int"),
    "explained": Column("explained", "int"),
    "residual": Column("residual", "int"), "reconciled": Column("reconciled", "bool"),
    "missed": _text("counted as zero"),  # "note": as in published.md
    # check's cross-checks (results.CheckResult)
    "cross_checks": _text("cross-checks"), "cross_checks_skipped": _text("not cross-checked"),
    # train (results.TrainingRow)
    "optimizer": _text("optimizer"), "train_macs": _count("train {unit}MACs"),
    "forward_macs": _count("forward {unit}MACs"), "backward_macs": _count("backward {unit}MACs"),
    "train_flops_torch": _count("train torch {unit}FLOPs"), "train_counts_agree": Column("train counts agree", "bool"),
    "train_mac_ratio": _ratio("train MACs ÷ vanilla"), "theory_train_mac_ratio": _ratio("theory train MACs ÷ vanilla"),
    "step_ms": Column("step (ms)"), "step_iqr_ms": Column("step IQR (ms)"), "step_ratio": _ratio("step ÷ vanilla"),
    "step_ratio_iqr": _ratio("step ratio IQR"), "param_bytes": Column("weights + buffers", "bytes"),
    "gradient_bytes": Column("gradients", "bytes"), "optimizer_state_bytes": Column("optimizer state", "bytes"),
    "saved_high_bytes": Column("kept for backward, high", "bytes"),
    "saved_low_bytes": Column("kept for backward, low", "bytes"), "saved_bytes": Column("kept for backward", "bytes"),
    "peak_train_bytes": Column("peak training memory", "bytes"), "peak_train_ratio": _ratio("peak ÷ vanilla"),
    "measured_saved_high_bytes": Column("measured kept, high", "bytes"),
    "measured_saved_low_bytes": Column("measured kept, low", "bytes"),
    "measured_peak_train_bytes": Column("measured peak", "bytes"),
    "measured_peak_vs_analytic": _ratio("measured ÷ analytic peak"), "memory_measured_by": _text("measured by"),
    "memory_budget_bytes": Column("memory budget", "bytes"), "max_batch_size": Column("largest batch", "int"),
    "max_batch_peak_bytes": Column("peak at largest batch", "bytes"),
    "max_batch_measured_peak_bytes": Column("measured peak at largest batch", "bytes"),
    "inference_peak_bytes": Column("inference peak", "bytes"),
    # models
    "name": _text("name"), "family": _text("family"), "source": _text("source"), "options": _text("options"),
    # reports/published.md (already in GMACs)
    "published_gmacs": Column("published GMACs"), "ours_gmacs": Column("our GMACs"),
    "difference_pct": Column("difference (%)"), "note": _text("note"),
    "published_params_m": Column("published Mparams"), "ours_params_m": Column("our Mparams"),
    "params_difference_pct": Column("params difference (%)"), "definition": _text("definition"),
}

# What Markdown and LaTeX show when no columns are chosen (columns empty in every row are dropped after).
DEFAULT_COLUMNS: dict[tuple[str, ...], tuple[str, ...]] = {
    COMPARE_COLUMNS: ("model", "variant", "alpha", "design", "params", "macs", "mac_ratio", "activation_ratio",
                      "backend", "latency_ms", "latency_ratio"),
    ABLATION_COLUMNS: ("model", "variant", "alpha", "params", "params_ratio", "macs", "mac_ratio",
                       "mac_ratio_vs_full", "activation_ratio", "backend", "latency_ms", "latency_ratio",
                       "latency_ratio_vs_full"),
    LAYER_COLUMNS: ("layer", "kind", "alpha_in", "alpha_out", "stride", "macs", "macs_vanilla", "mac_ratio",
                    "theory_mac_ratio", "params"),
    COUNTER_COLUMNS: ("variant", "counter", "quantity", "value", "analytic", "difference", "explained", "residual"),
    TRAINING_COLUMNS: ("model", "variant", "alpha", "batch_size", "train_macs", "train_mac_ratio", "step_ms",
                       "step_ratio", "saved_high_bytes", "saved_low_bytes", "peak_train_bytes",
                       "measured_peak_train_bytes", "peak_train_ratio", "max_batch_size"),
    BLOCK_COLUMNS: ("model", "alpha", "block", "macs_vanilla", "macs", "mac_ratio", "latency_vanilla_ms",
                    "latency_ms", "latency_ratio", "excess_ms", "share_of_oct", "backend"),
    EXPLAIN_COLUMNS: ("backend", "kind", "calls_vanilla", "calls", "time_vanilla_ms", "time_ms", "share_of_oct",
                      "macs", "gmacs_per_s_vanilla", "gmacs_per_s", "bytes", "excess_ms", "bound"),
    COVERAGE_COLUMNS: ("layer", "kind", "converted", "alpha_in", "alpha_out", "macs_vanilla", "share_of_vanilla_macs",
                       "vanilla_reason"),
}
for _available, _default in DEFAULT_COLUMNS.items():
    assert set(_default) <= set(_available), set(_default) - set(_available)


def column(name: str, values) -> Column:
    """``name``'s display metadata; a column not listed here gets its name as header and a kind from its values."""
    if name in COLUMNS:
        return COLUMNS[name]
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return Column(name, "bool")
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return Column(name, "int")
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return Column(name, "float")
    return Column(name, "text")


def default_columns(available: tuple[str, ...]) -> tuple[str, ...]:
    return DEFAULT_COLUMNS.get(tuple(available), tuple(available))
