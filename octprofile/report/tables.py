"""Rich tables with units in the headers, and the one-line verdict."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table


def _scale(values: Sequence[float | None]) -> tuple[float, str]:
    largest = max((abs(v) for v in values if v is not None), default=0)
    return (1e9, "G") if largest >= 1e9 else (1e6, "M") if largest >= 1e6 else (1e3, "K")


def _num(value, divisor: float = 1.0, digits: int = 3) -> str:
    return "" if value is None else f"{value / divisor:,.{digits}f}"


def _ratio(value) -> str:
    return "" if value is None else f"{value:.3f}×"


def verdict(rows: Sequence[dict]) -> str:
    """e.g. 'params equal · counts agree · 0.58× MACs · 0.67× activations · 0.61× latency'."""
    octave = [r for r in rows if r["alpha"] > 0]
    parts = ["params equal" if all(r["params_equal"] for r in rows) else "PARAMS DIFFER",
             "counts agree" if all(r["counts_agree"] for r in rows) else "COUNTS DISAGREE"]
    if len(octave) == 1:
        row = octave[0]
        parts += [f"{row['mac_ratio']:.2f}× MACs", f"{row['activation_ratio']:.2f}× activations"]
        if row.get("latency_ratio") is not None:
            parts.append(f"{row['latency_ratio']:.2f}× latency (IQR {row['latency_ratio_iqr']:.2f})")
    return " · ".join(parts)


def footer(rows: Sequence[dict]) -> str:
    """The verdict, then where the timing ran and any warning about its noise."""
    lines = [verdict(rows)]
    timed = rows[0].get("latency_ms") is not None
    if timed:
        lines.append(f"timed on {rows[0]['device']}, {rows[0]['threads']} threads, interleaved rounds")
    if rows[0].get("timing_warnings"):
        lines.append(f"warning: {rows[0]['timing_warnings']}")
    return "\n".join(lines)


def profile_table(rows: Sequence[dict], title: str) -> Table:
    mac_div, mac_unit = _scale([r["macs"] for r in rows])
    act_div, act_unit = _scale([r["activations"] for r in rows])
    timed = any(r.get("latency_ms") is not None for r in rows)
    table = Table(title=title, title_justify="left")
    headers = ["variant", "α", "params", f"MACs ({mac_unit})", "MAC ratio", "theory",
               f"fvcore conv+lin ({mac_unit})", f"torch FLOPs÷2 ({mac_unit})",
               f"activations ({act_unit} elem)", "act. ratio", "act. theory"]
    if timed:
        headers += ["latency ms (median ± IQR)", "latency ratio"]
    for header in headers:
        table.add_column(header, justify="left" if header == "variant" else "right")
    for r in rows:
        cells = [r["variant"], f"{r['alpha']:g}", f"{r['params']:,}", _num(r["macs"], mac_div),
                 _ratio(r["mac_ratio"]), _ratio(r["theory_mac_ratio"]), _num(r["macs_fvcore"], mac_div),
                 _num(r["flops_torch"] / 2, mac_div), _num(r["activations"], act_div),
                 _ratio(r["activation_ratio"]), _ratio(r["theory_activation_ratio"])]
        if timed:
            latency = "" if r["latency_ms"] is None else f"{r['latency_ms']:.2f} ± {r['latency_iqr_ms']:.2f}"
            cells += [latency, _ratio(r.get("latency_ratio"))]
        table.add_row(*cells)
    return table


def layers_table(rows: Sequence[dict], title: str) -> Table:
    div, unit = _scale([r["macs_vanilla"] for r in rows])
    table = Table(title=title, title_justify="left")
    headers = ["layer", "kind", "α in→out", "stride", f"MACs ({unit})", f"vanilla ({unit}MACs)", "ratio",
               "theory", f"H→H ({unit})", f"H→L ({unit})", f"L→H ({unit})", f"L→L ({unit})", "activations",
               "act. ratio"]
    for header in headers:
        table.add_column(header, justify="left" if header in ("layer", "kind") else "right")
    for r in rows:
        table.add_row(r["layer"], r["kind"], f"{r['alpha_in']:g}→{r['alpha_out']:g}", str(r["stride"]),
                      _num(r["macs"], div), _num(r["macs_vanilla"], div), _ratio(r["mac_ratio"]),
                      _ratio(r["theory_mac_ratio"]), *(_num(r[f"macs_{p}"], div) for p in ("hh", "hl", "lh", "ll")),
                      f"{r['activations']:,}", _ratio(r["activation_ratio"]))
    return table


def check_table(results) -> Table:
    table = Table(title="octprofile check", title_justify="left")
    for header in ("model", "α", "params vanilla", "params oct", "MACs", "result"):
        table.add_column(header, justify="left" if header in ("model", "result") else "right")
    for r in results:
        table.add_row(r.model, f"{r.alpha:g}", f"{r.params_vanilla:,}", f"{r.params_oct:,}", f"{r.macs:,}",
                      "ok" if r.ok else "FAIL: " + "; ".join(r.failures))
    return table
