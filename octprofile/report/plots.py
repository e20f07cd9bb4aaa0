"""The sweep plot: measured ratios against alpha, with the theory curves drawn in."""

from __future__ import annotations

import io
from pathlib import Path

from octprofile.analysis.theory import one_layer_mac_ratio, theory_activation_ratio
from octprofile.errors import BadValueError
from octprofile.results import SweepResult, TrainingResult

PLOT_SUFFIXES = (".png", ".svg")


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
        title += f"\nlatency: {c.device_name} ({c.isa or c.device}), {c.threads} threads, {result.timed.dtype}"
    return title


def plot_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise BadValueError(f"plot file {str(path)!r} must end in .png or .svg")
    return suffix[1:]


def training_plot(result: TrainingResult, title: str, fmt: str) -> bytes:
    """Peak memory of a training step (analytic, measured, and the saved activations per frequency) and step
    time (median, bar spanning the IQR, beside what the MAC ratio predicts) against α; PNG or SVG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = sorted(result.rows, key=lambda r: r.alpha)
    alphas = [r.alpha for r in rows]
    fig = Figure(figsize=(10, 4.8), dpi=120)
    FigureCanvasAgg(fig)
    memory, time = fig.subplots(1, 2, gridspec_kw={"wspace": 0.3})
    memory.plot(alphas, [r.peak_train_bytes / 2**30 for r in rows], "o-", color="tab:blue", label="peak: analytic")
    if any(r.measured_peak_train_bytes is not None for r in rows):
        memory.plot(alphas, [r.measured_peak_train_bytes / 2**30 for r in rows], "x--", color="navy", ms=8,
                    label=f"peak: measured ({rows[0].memory_measured_by})")
    memory.plot(alphas, [r.saved_high_bytes / 2**30 for r in rows], "s-", color="tab:orange",
                label="kept for backward: high")
    memory.plot(alphas, [r.saved_low_bytes / 2**30 for r in rows], "^-", color="tab:green",
                label="kept for backward: low")
    memory.set_ylabel("GiB")
    memory.set_ylim(bottom=0)
    memory.set_title("memory of one training step", fontsize=9)
    timed = [r for r in rows if r.step_ms is not None]
    if timed:
        time.errorbar([r.alpha for r in timed], [r.step_ms for r in timed], yerr=[r.step_iqr_ms / 2 for r in timed],
                      fmt="o-", color="tab:red", capsize=3, label="step time: median, bar spans the IQR")
        vanilla = result.vanilla.step_ms
        time.plot([r.alpha for r in timed], [vanilla * r.train_mac_ratio for r in timed], "--", color="grey",
                  label="vanilla × training-MAC ratio")
        time.set_ylim(bottom=0)
    else:
        time.text(0.5, 0.5, "steps not measured", ha="center", va="center", transform=time.transAxes)
    time.set_ylabel("ms per step")
    time.set_title("time of one training step", fontsize=9)
    for ax in (memory, time):
        ax.set_xlabel("α (low-frequency ratio)")
        ax.set_xlim(-0.02, 1)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
    fig.suptitle(title, fontsize=10)
    return figure_bytes(fig, fmt)


def training_plot_title(result: TrainingResult) -> str:
    size, batch = result.input_shape[-1], result.input_shape[0]
    row = result.rows[0]
    title = f"{result.model}, {size}², batch {batch}, {row.optimizer}: one training step against α"
    if row.device_name:
        title += f"\n{row.device_name} ({row.cpu_isa or row.device}), {row.threads} threads, torch {row.torch_version}"
    return title


def figure_bytes(fig, fmt: str) -> bytes:
    """The figure as PNG or SVG bytes, without the date or software stamps that would change them run to run."""
    out = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    # 200 dpi: sharp in a two-column paper at full width; SVG is resolution-free
    fig.savefig(out, format=fmt, bbox_inches="tight", metadata=metadata, dpi=200)
    return out.getvalue()
