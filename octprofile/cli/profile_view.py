"""The body compare and sweep share (neither command module imports the other): each passes its use case module,
which renders as compare does."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group

from octprofile.cli import base
from octprofile.cli.base import partial_on_interrupt
from octprofile.cli.options import input_label, study_for, timing_options
from octprofile.cli.output import checked_plot, emit, export_options, output_format, with_progress


def run_profile(use_case, model, alphas, is_compare, input_size, batch_size, width_mult, placement, design, time_,
                backend, device, threads, dtype, rounds, fvcore, fmt, output, plot=None, verbose=False, wide=False,
                columns=None, caption=None, repeats=1, cache=True) -> None:
    """compare and sweep: check every option, run the study, render, and draw the plot if asked."""
    from octprofile.report.files import AtomicFiles

    timing = timing_options(time_, device, threads, dtype, backend, rounds, repeats)
    kind = output_format(fmt, output)
    chosen = export_options(kind, columns, caption, use_case.COMPARE_COLUMNS)
    plot_kind = checked_plot(plot, output)
    study = study_for(model, input_size, batch_size, width_mult, placement, design, cache)
    what = (f"α={alphas[0]:g}" if is_compare else "α sweep") + ("" if design.is_full else f", {design.name}")

    def show(result, destination: Path | None, files=None, partial: str = "") -> None:
        title = (f"{study.model.name} at {input_label(result.input_shape)}, batch {result.input_shape[0]}, "
                 f"{what}{partial}")
        tables = [use_case.profile_table(result, title, wide),
                  *([use_case.latency_table(result)] if result.timed else [])]
        emit(result.records(), use_case.COMPARE_COLUMNS, kind, destination, lambda: Group(*tables),
             use_case.footer(result, verbose),
             chosen, caption or title, files=files)

    with partial_on_interrupt(lambda result, note: show(result, None, partial=note)):
        if is_compare:
            result = with_progress(lambda p: study.compare(alphas[0], fvcore=fvcore, timing=timing, progress=p))
        else:
            result = with_progress(lambda p: study.sweep(alphas, fvcore=fvcore, timing=timing, progress=p))
    with AtomicFiles() as files:  # --output and --plot: both files or neither
        show(result, output, files)
        if plot:
            files.write(plot, use_case.sweep_plot(result, use_case.plot_title(result), plot_kind))
    for path in files.written:
        base.err.print(f"wrote {path}", markup=False)
