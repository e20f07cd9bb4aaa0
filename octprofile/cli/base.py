"""What every command shares: the Typer app, the consoles, and the mapping of failures to exit codes.

Failures the user can fix (``OctprofileError``) print their message verbatim and exit 2; anything else is
a bug, reported as an internal error in one line (``--debug`` shows the traceback) with exit 3.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from octprofile.errors import OctprofileError

app = typer.Typer(help="What Octave Convolution really buys on a backbone: params, MACs (multiply-accumulates), "
                  "activation memory and latency, vanilla vs Oct.", no_args_is_help=True,
                  pretty_exceptions_enable=False, rich_markup_mode=None)  # plain help: wraps, never cuts


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """Rich would exit 1 here; let main() end quietly with BROKEN_PIPE_EXIT instead."""
        self.quiet = True
        raise BrokenPipeError


# A terminal, or an explicit COLUMNS, sets the width; piped output without COLUMNS gets room for every number.
# Other modules read these as ``base.out`` / ``base.err`` at call time, so that a swapped console is seen.
out = _Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 220)
err = _Console(stderr=True, width=None if sys.stderr.isatty() or "COLUMNS" in os.environ else 220)
STATE = {"debug": False}
INTERNAL_ERROR_EXIT = 3
INTERRUPTED_EXIT = 130  # 128 + SIGINT
BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE, what a C tool killed by the closed pipe returns


def run_command(action: Callable[[], int | None]) -> None:
    """Run a command body; map what escapes it to one line on stderr and an exit code."""
    try:
        code = action()
    except typer.Exit:
        raise
    except KeyboardInterrupt as interrupted:  # partial_on_interrupt has shown what finished, if anything did
        err.print(str(interrupted) or "interrupted", highlight=False, markup=False)
        STATE["interrupt_reported"] = True
        raise typer.Exit(INTERRUPTED_EXIT) from None
    except BrokenPipeError:
        exit_quietly_on_closed_pipe()  # the reader went away (before Click turns it into a quiet exit 1)
    except OctprofileError as error:
        if STATE["debug"]:
            traceback.print_exc()
        err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(error.exit_code) from None
    except Exception as error:  # noqa: BLE001 - a bug, not bad input: say so, never blame the user
        if STATE["debug"]:
            traceback.print_exc()
        first_line = str(error).splitlines()[0] if str(error) else ""
        err.print(f"[bold red]internal error:[/] {type(error).__name__}: {escape(first_line)} "
                  "(this is a bug in octprofile; rerun with --debug for the traceback)",
                  highlight=False, soft_wrap=True)
        raise typer.Exit(INTERNAL_ERROR_EXIT) from None
    if code:
        raise typer.Exit(code)


@contextmanager
def partial_on_interrupt(show: Callable[[object, str], None]) -> Iterator[None]:
    """On Ctrl-C during a study, ``show(partial_result, title_note)`` what finished, on stdout and in the
    format asked (never into --output or --plot files, which stay all-or-nothing), then end as interrupted."""
    try:
        yield
    except KeyboardInterrupt as stop:  # a StudyInterrupted carries what finished
        partial = getattr(stop, "result", None)
        if partial is None:
            raise
        show(partial, f" (PARTIAL: {stop})")
        raise KeyboardInterrupt(f"{stop}; the partial result above is all that finished, no file was written"
                                ) from None


def print_version(asked: bool) -> None:
    if asked:
        from octprofile import __version__  # the package's __init__ is lazy: this does not import torch

        out.print(f"octprofile {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main_callback(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
                  version: bool = typer.Option(False, "--version", callback=print_version, is_eager=True,
                                               help="Print the version and exit.")) -> None:
    STATE["debug"] = debug


def main() -> None:
    """Entry point: usage errors (Typer's own, e.g. an unknown --format) also end in one line; Ctrl-C at any
    moment ends with "interrupted" and exit 130; a closed pipe (``octprofile models | head -1``) ends quietly
    with exit 141, as a C tool killed by SIGPIPE would."""
    try:
        if len(sys.argv) <= 1:
            app(prog_name="octprofile")  # no arguments: Typer prints the help
        code = app(prog_name="octprofile", standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted", markup=False)
        sys.exit(INTERRUPTED_EXIT)
    except BrokenPipeError:
        exit_quietly_on_closed_pipe()
    except SystemExit as exiting:
        if exiting.code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper":
            exit_quietly_on_closed_pipe()  # Click's own closed-pipe exit (e.g. --help | true)
        raise
    except typer.TyperException as error:
        err.print(f"[bold red]error:[/] {escape(error.format_message())}", highlight=False)
        sys.exit(getattr(error, "exit_code", 2))
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        exit_quietly_on_closed_pipe()
    if code == INTERRUPTED_EXIT and not STATE.get("interrupt_reported"):
        err.print("interrupted", markup=False)  # Typer turned a Ctrl-C outside run_command into a silent exit 130
    sys.exit(code or 0)


def exit_quietly_on_closed_pipe() -> None:
    """Python's documented recipe: point stdout at devnull so the flush at exit cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(BROKEN_PIPE_EXIT)
