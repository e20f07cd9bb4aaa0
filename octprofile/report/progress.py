"""Progress on stderr while a study runs: a Rich bar on a terminal, plain lines anywhere else (a pipe, a
log file, CI), so a long run is never silent until its end."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console


@contextmanager
def progress_callback(console: Console):
    """Yields ``update(description, done, total)``: it drives a transient bar when the console is a
    terminal, and otherwise prints ``[done/total] description`` once each time the description changes."""
    if not console.is_terminal:
        yield ProgressLines(console)
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeElapsedColumn(), console=console, transient=True)
    task = bar.add_task("starting", total=None)

    def update(description: str, done: int, total: int) -> None:
        bar.update(task, description=description, completed=done, total=total)

    with bar:
        yield update


class ProgressLines:
    """Progress as lines, e.g. ``[3/12] counting oct α=0.5``. Steps that keep the description (the
    measurements of one timing round) print nothing more: a log gets a line per stage, not per tick."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.last_description: str | None = None

    def __call__(self, description: str, done: int, total: int) -> None:
        if description == self.last_description:
            return
        self.last_description = description
        self.console.print(f"[{done}/{total}] {description}", markup=False, highlight=False, soft_wrap=True)
