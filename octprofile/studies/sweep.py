"""sweep: one row per α, the compare machinery over several Oct variants, and the plot of the ratios against α
with the theory curves drawn in. Rows, tables and footer are compare's (``octprofile.studies.compare``)."""

from __future__ import annotations

from octprofile.analysis.theory import one_layer_mac_ratio, theory_activation_ratio
from octprofile.report.plots import figure_bytes
from octprofile.runtime.cpu_free import threads_text
from octprofile.studies.compare import (  # noqa: F401 - the sweep use case renders as compare does
    COMPARE_COLUMNS,
    SweepResult,
    footer,
    latency_table,
    profile_table,
    sweep,
)

BACKEND_COLORS = ("tab:green", "tab:red", "tab:purple", "tab:brown", "tab:olive")


def sweep_plot(result: SweepResult, title: str, fmt: str) -> bytes:
    """The plot as PNG or SVG bytes (fmt: "png" or "svg"); deterministic for the same result.

    MAC and activation ratios against α with their theory curves and, when timed, one latency-ratio
    curve per backend (median, bars spanning the IQR) with the break-even line at 1.
    """
    # A Figure with the Agg canvas, not pyplot: no global backend switch, no figure registry.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = sorted(result.variant_rows(), key=lambda r: r.alpha)
    alphas = [r.alpha for r in rows]
    dense = [i / 100 for i in range(0, 100)]
    fig = Figure(figsize=(8, 5.6), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    # the same names as the table rows: counted, theory for this network, theory for one layer
    ax.plot(alphas, [r.mac_ratio for r in rows], "o-", color="tab:blue", label="MACs: counted")
    ax.plot(alphas, [r.network_theory_mac_ratio for r in rows], "x", color="navy", ms=8,
            label="MACs: theory, this network")
    ax.plot(dense, [one_layer_mac_ratio(a) for a in dense], "--", color="tab:blue", lw=1,
            label="MACs: theory, one layer 1−¾α(2−α)")
    ax.plot(alphas, [r.activation_ratio for r in rows], "s-", color="tab:orange", label="activations: counted")
    ax.plot(alphas, [r.network_theory_activation_ratio for r in rows], "+", color="saddlebrown", ms=9,
            label="activations: theory, this network")
    ax.plot(dense, [theory_activation_ratio(a) for a in dense], "--", color="tab:orange", lw=1,
            label="activations: theory, one layer 1−¾α")
    highest = 1.1
    for backend, color in zip(result.backends, BACKEND_COLORS * 2, strict=False):
        timed = sorted(result.on(backend), key=lambda r: r.alpha)
        medians = [r.latency_ratio for r in timed]
        # asymmetric bars would need quartiles; the IQR is drawn centred on the median, and labelled so
        half = [r.latency_ratio_iqr / 2 for r in timed]
        ax.errorbar([r.alpha for r in timed], medians, yerr=half, fmt="^-", color=color, capsize=3,
                    label=f"latency on {backend}: measured median, bar spans the IQR")
        highest = max(highest, *(m + h for m, h in zip(medians, half, strict=True)))
    if result.backends:
        ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("α (low-frequency ratio)")
    ax.set_ylabel("Oct ÷ vanilla")
    ax.set_title(title, fontsize=10)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, highest * 1.05)
    ax.grid(alpha=0.3)
    # below the axes, so no curve is ever hidden behind it
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    return figure_bytes(fig, fmt)


def plot_title(result: SweepResult) -> str:
    """Model, input, batch, and where the latency was measured."""
    size, batch = result.input_shape[-1], result.input_shape[0]
    designs = sorted({row.design for row in result.rows if row.design and row.design != "full"})
    design = f" ({', '.join(designs)})" if designs else ""
    title = f"{result.model}, {size}², batch {batch}: Oct{design} ÷ vanilla"
    if result.timed is not None:
        c = result.timed.context
        title += f"\nlatency: {c.device_name} ({c.isa or c.device}), {threads_text(c.threads)}, {result.timed.dtype}"
    return title
