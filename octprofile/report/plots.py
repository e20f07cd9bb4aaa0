"""The sweep plot: measured ratios against alpha, with the theory curves drawn in."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from octprofile.analysis.theory import network_theory_mac_ratio, theory_activation_ratio
from octprofile.errors import BadValueError
from octprofile.results import VariantRow

PLOT_SUFFIXES = (".png", ".svg")


def sweep_plot(rows: Sequence[VariantRow], title: str, fmt: str) -> bytes:
    """The plot as PNG or SVG bytes (fmt: "png" or "svg"); deterministic for the same rows."""
    # A Figure with the Agg canvas, not pyplot: no global backend switch, no figure registry.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = sorted(rows, key=lambda r: r.alpha)
    alphas = [r.alpha for r in rows]
    dense = [i / 100 for i in range(0, 100)]
    fig = Figure(figsize=(6.4, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(dense, [network_theory_mac_ratio(a) for a in dense], "--", color="tab:blue", lw=1,
            label="theory MACs 1−¾α(2−α) (one layer)")
    ax.plot(dense, [theory_activation_ratio(a) for a in dense], "--", color="tab:orange", lw=1,
            label="theory memory 1−¾α (one layer)")
    ax.plot(alphas, [r.mac_ratio for r in rows], "o-", color="tab:blue", label="MACs (network)")
    ax.plot(alphas, [r.activation_ratio for r in rows], "s-", color="tab:orange", label="activations (network)")
    if all(r.latency_ratio is not None for r in rows):
        ax.errorbar(alphas, [r.latency_ratio for r in rows], yerr=[r.latency_ratio_iqr / 2 for r in rows],
                    fmt="^-", color="tab:green", capsize=3, label="latency (median, IQR)")
    ax.set_xlabel("α (low-frequency ratio)")
    ax.set_ylabel("Oct ÷ vanilla")
    ax.set_title(title)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, max(1.1, *(r.latency_ratio or 0 for r in rows)))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    out = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    fig.savefig(out, format=fmt, bbox_inches="tight", metadata=metadata)
    return out.getvalue()


def plot_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise BadValueError(f"plot file {str(path)!r} must end in .png or .svg")
    return suffix[1:]
