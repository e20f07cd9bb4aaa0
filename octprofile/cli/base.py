"""What every command shares: the Typer app, the consoles, and the mapping of failures to exit codes.

Failures the user can fix (``OctprofileError``) print their message verbatim and exit 2; a fault of the
environment (a full disk, a quota, a read-only file system, an I/O error: ``OutputWriteError`` or an ``OSError``
with one of ENVIRONMENT_ERRNOS) exits 4; anything else is a bug, reported as an internal error in one line
(``--debug`` shows the traceback) with exit 3. Ctrl-C exits 130, SIGTERM 143, each after the same clean-up.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from octprofile.cli.streams import console_width, guard_standard_streams
from octprofile.errors import OctprofileError, OutputWriteError

app = typer.Typer(help="What Octave Convolution really buys on a backbone: params, MACs (multiply-accumulates), "
                  "activation memory and latency, vanilla vs Oct.", no_args_is_help=True,
                  pretty_exceptions_enable=False, rich_markup_mode=None)  # plain help: wraps, never cuts


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """Rich would exit 1 here; let main() end quietly with BROKEN_PIPE_EXIT instead."""
        self.quiet = True
        raise BrokenPipeError


# A terminal, or COLUMNS (a positive number), sets the width; piped output without it gets room for every number.
# Other modules read these as ``base.out`` / ``base.err`` at call time, so that a swapped console is seen.
out = _Console(width=console_width(sys.stdout))
err = _Console(stderr=True, width=console_width(sys.stderr))
STATE = {"debug": False}
INTERNAL_ERROR_EXIT = 3
ENVIRONMENT_EXIT = OutputWriteError.exit_code  # 4
INTERRUPTED_EXIT = 130  # 128 + SIGINT
BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE, what a C tool killed by the closed pipe returns
TERMINATED_EXIT = 143  # 128 + SIGTERM
# the machine's fault, not the input's nor octprofile's, wherever the OSError comes from (a cache torch writes...)
ENVIRONMENT_ERRNOS = frozenset(getattr(errno, name) for name in (
    "ENOSPC", "EDQUOT", "EROFS", "EIO", "EACCES", "EPERM", "EFBIG", "EMFILE", "ENFILE") if hasattr(errno, name))


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, CI runners, schedulers), raised where Ctrl-C would be, so that every clean-up Ctrl-C
    runs (temporary files removed, the partial result shown) runs for it too; ends with exit 143."""


def _terminate(signum, frame) -> None:
    STATE["terminated"] = True
    raise Terminated("terminated")


def stop_message(message: str) -> str:
    """An interrupt's message ("interrupted while timing, …"), saying "terminated" when SIGTERM stopped the run."""
    if STATE.get("terminated") and message.startswith("interrupted"):
        return "terminated" + message.removeprefix("interrupted")
    return message


def print_stop(message: str) -> None:
    """The one line of an interrupt, straight to stderr, unwrapped: a signal that lands while Rich writes a progress
    line leaves that line in the console's buffer, and the next ``err.print`` would print it a second time."""
    sys.stderr.write(stop_message(message) + "\n")
    sys.stderr.flush()


def stop_exit() -> int:
    return TERMINATED_EXIT if STATE.get("terminated") else INTERRUPTED_EXIT


def environment_message(error: OSError) -> str:
    """One line for an ``OSError`` of the environment: the file (when known) and the cause."""
    cause = error.strerror or str(error)
    return f"{error.filename}: {cause}" if error.filename else cause


def run_command(action: Callable[[], int | None]) -> None:
    """Run a command body; map what escapes it to one line on stderr and an exit code."""
    try:
        code = action()
    except typer.Exit:
        raise
    except KeyboardInterrupt as interrupted:  # partial_on_interrupt has shown what finished, if anything did
        print_stop(str(interrupted) or "interrupted")
        STATE["interrupt_reported"] = True
        raise typer.Exit(stop_exit()) from None
    except BrokenPipeError:
        exit_quietly_on_closed_pipe()  # the reader went away (before Click turns it into a quiet exit 1)
    except OctprofileError as error:
        report_error(str(error))
        raise typer.Exit(error.exit_code) from None
    except OSError as error:
        if error.errno not in ENVIRONMENT_ERRNOS:
            report_bug(error)
        report_error(environment_message(error))
        raise typer.Exit(ENVIRONMENT_EXIT) from None
    except Exception as error:  # noqa: BLE001 - a bug, not bad input: say so, never blame the user
        report_bug(error)
    if code:
        raise typer.Exit(code)


def report_error(message: str) -> None:
    """``error: MESSAGE`` on stderr, in one line (after the traceback with --debug)."""
    if STATE["debug"]:
        traceback.print_exc()
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)


def report_bug(error: Exception) -> None:
    """An internal error in one line, exit 3."""
    if STATE["debug"]:
        traceback.print_exc()
    first_line = str(error).splitlines()[0] if str(error) else ""
    err.print(f"[bold red]internal error:[/] {type(error).__name__}: {escape(first_line)} "
              "(this is a bug in octprofile; rerun with --debug for the traceback)", highlight=False, soft_wrap=True)
    raise typer.Exit(INTERNAL_ERROR_EXIT) from None


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
        show(partial, f" (PARTIAL: {stop_message(str(stop))})")
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
    moment ends with "interrupted" and exit 130, SIGTERM with "terminated" and exit 143; a closed pipe
    (``octprofile models | head -1``) ends quietly with exit 141, as a C tool killed by SIGPIPE would; standard
    output on a full device ends in one line and exit 4 (see ``streams``)."""
    guard_standard_streams()
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if len(sys.argv) <= 1:
            app(prog_name="octprofile")  # no arguments: Typer prints the help
        code = app(prog_name="octprofile", standalone_mode=False)
        sys.stdout.flush()
    except (typer.Abort, KeyboardInterrupt):
        print_stop("interrupted")
        sys.exit(stop_exit())
    except BrokenPipeError:
        exit_quietly_on_closed_pipe()
    except SystemExit as exiting:
        if exiting.code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper":
            exit_quietly_on_closed_pipe()  # Click's own closed-pipe exit (e.g. --help | true)
        raise
    except typer.TyperException as error:
        err.print(f"[bold red]error:[/] {escape(error.format_message())}", highlight=False)
        sys.exit(getattr(error, "exit_code", 2))
    except OctprofileError as error:  # outside a command, e.g. --version on a full device
        err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except OSError as error:
        if error.errno not in ENVIRONMENT_ERRNOS:
            raise
        err.print(f"[bold red]error:[/] {escape(environment_message(error))}", highlight=False, soft_wrap=True)
        sys.exit(ENVIRONMENT_EXIT)
    lost = getattr(sys.stdout, "error", None)
    if lost is not None and not code:  # a write error that a caller swallowed (Click probes stdout with a write)
        err.print(f"[bold red]error:[/] {escape(str(lost))}", highlight=False, soft_wrap=True)
        sys.exit(lost.exit_code)
    if code == INTERRUPTED_EXIT and not STATE.get("interrupt_reported"):
        print_stop("interrupted")  # Typer made a Ctrl-C outside run_command silent
    sys.exit(stop_exit() if code == INTERRUPTED_EXIT else code or 0)


def exit_quietly_on_closed_pipe() -> None:
    """Python's documented recipe: point stdout at devnull so the flush at exit cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(BROKEN_PIPE_EXIT)
