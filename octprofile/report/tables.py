"""Rich tables with units in the headers, and the one-line verdict. Compare and sweep tables are transposed
(one column per variant), so they fit an 80-column terminal."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from octprofile.results import CheckResult, LayersResult, SweepResult


def _scale(values: Sequence[float | None]) -> tuple[float, str]:
    largest = max((abs(v) for v in values if v is not None), default=0)
    return (1e9, "G") if largest >= 1e9 else (1e6, "M") if largest >= 1e6 else (1e3, "K")


def _num(value, divisor: float = 1.0, digits: int = 3) -> str:
    return "" if value is None else f"{value / divisor:,.{digits}f}"


def _ratio(value) -> str:
    return "" if value is None else f"{value:.3f}×"


def verdict(result: SweepResult) -> str:
    """e.g. 'params equal · counts agree · 0.58× MACs · 0.67× activations · 0.61× latency (IQR 0.02)'."""
    rows = result.rows
    octave = [r for r in rows if r.alpha > 0]
    parts = ["params equal" if all(r.params_equal for r in rows) else "PARAMS DIFFER",
             "counts agree" if all(r.counts_agree for r in rows) else "COUNTS DISAGREE"]
    if len(octave) == 1:
        row = octave[0]
        parts += [f"{row.mac_ratio:.2f}× MACs", f"{row.activation_ratio:.2f}× activations"]
        if row.latency_ratio is not None:
            parts.append(f"{row.latency_ratio:.2f}× latency (IQR {row.latency_ratio_iqr:.2f})")
    return " · ".join(parts)


def footer(result: SweepResult) -> str:
    """The verdict, what the counts and theory mean, then what the timing compared, where it ran, and any
    warning about its noise."""
    fvcore = any(r.macs_fvcore is not None for r in result.rows)
    lines = [verdict(result),
             f"MACs: multiply-accumulates of conv + linear layers; activations: the values they output; "
             f"counts agree: analytic = torch FLOPs ÷ 2"
             f"{' = fvcore' if fvcore else ''}. Theory: one octave layer; the network saves less, its stem, "
             "last stage and classifier stay vanilla."]
    timed = result.timed
    if timed is not None:
        c = timed.context
        isa = f", {c.isa}" if c.isa else ""
        lines.append(f"latency: both prepared by the {timed.backend} backend: {timed.description}")
        lines.append(f"timed on {c.device_name} ({c.device}{isa}), {c.threads} threads, {timed.dtype}, "
                     f"torch {c.torch_version}, {timed.rounds} interleaved rounds")
        lines += [f"warning: {warning}" for warning in timed.warnings]
    return "\n".join(lines)


def profile_table(result: SweepResult, title: str) -> Table:
    rows = result.rows
    mac_div, mac_unit = _scale([r.macs for r in rows])
    act_div, act_unit = _scale([r.activations for r in rows])
    table = Table(title=title, title_justify="left")
    table.add_column("", justify="left")
    for r in rows:  # the header names the variant and its α, so no row repeats it
        table.add_column(f"oct α={r.alpha:g}" if r.variant == "oct" else r.variant, justify="right")
    lines = [
        ("params", [f"{r.params:,}" for r in rows]),
        (f"{mac_unit}MACs, analytic", [_num(r.macs, mac_div) for r in rows]),
        (f"{mac_unit}MACs, fvcore", [_num(r.macs_fvcore, mac_div) for r in rows]),
        (f"{mac_unit}MACs, torch FLOPs ÷ 2", [_num(r.flops_torch / 2, mac_div) for r in rows]),
        ("MACs ÷ vanilla", [_ratio(r.mac_ratio) for r in rows]),
        ("  theory 1−¾α(2−α)", [_ratio(r.theory_mac_ratio) for r in rows]),
        (f"activations ({act_unit} values)", [_num(r.activations, act_div) for r in rows]),
        ("activations ÷ vanilla", [_ratio(r.activation_ratio) for r in rows]),
        ("  theory 1−¾α", [_ratio(r.theory_activation_ratio) for r in rows]),
    ]
    if any(r.latency_ms is not None for r in rows):
        base = result.vanilla
        lines += [
            ("latency ms, median", [_num(r.latency_ms, digits=2) for r in rows]),
            ("  IQR ms", [_num(r.latency_iqr_ms, digits=2) for r in rows]),
            ("latency ÷ vanilla", [_ratio(r.latency_ratio) for r in rows]),
            ("  IQR of the ratio", ["" if r is base else _num(r.latency_ratio_iqr) for r in rows]),
            ("peak memory MiB, 1 pass", [_num(r.peak_memory_bytes, 2**20, 1) for r in rows]),
            ("preparation s, one-off", [_num(r.prepare_s, digits=2) for r in rows]),
        ]
    for label, cells in lines:
        if any(cells):
            table.add_row(label, *cells)
    return table


def layers_table(result: LayersResult, title: str) -> Table:
    rows = result.rows
    div, unit = _scale([r.macs_vanilla for r in rows])
    table = Table(title=title, title_justify="left")
    headers = ["layer", "α in→out", "s", f"{unit}MACs", "vanilla", "ratio", "theory", "H→H", "H→L", "L→H", "L→L"]
    for header in headers:
        table.add_column(header, justify="left" if header == "layer" else "right")
    for r in rows:
        table.add_row(r.layer, f"{r.alpha_in:g}→{r.alpha_out:g}", str(r.stride), _num(r.macs, div, 2),
                      _num(r.macs_vanilla, div, 2), _ratio(r.mac_ratio), _ratio(r.theory_mac_ratio),
                      *(_num(getattr(r, f"macs_{p}"), div, 2) for p in ("hh", "hl", "lh", "ll")))
    return table


def check_table(results: Sequence[CheckResult]) -> Table:
    table = Table(title="octprofile check", title_justify="left")
    for header in ("model", "α", "params vanilla", "params oct", "MACs", "result"):
        table.add_column(header, justify="left" if header in ("model", "result") else "right")
    for r in results:
        table.add_row(r.model, f"{r.alpha:g}", f"{r.params_vanilla:,}", f"{r.params_oct:,}", f"{r.macs:,}",
                      "ok" if r.ok else "FAIL: " + "; ".join(r.failures))
    return table
