"""A progress bar on stderr while a study runs, only when stderr is a terminal."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console


@contextmanager
def progress_callback(console: Console):
    """Yields ``update(description, done, total)``, or None when the console is not a terminal."""
    if not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeElapsedColumn(), console=console, transient=True)
    task = bar.add_task("starting", total=None)

    def update(description: str, done: int, total: int) -> None:
        bar.update(task, description=description, completed=done, total=total)

    with bar:
        yield update

