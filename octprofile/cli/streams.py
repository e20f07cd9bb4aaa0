"""The standard streams as the environment hands them over, made safe by ``main()`` for a real process (Typer's
CliRunner swaps the streams itself):

- standard output on a full device (or any write error but a closed pipe) ends the command with one
  ``OutputWriteError`` ("cannot write to standard output: No space left on device"); standard error that cannot be
  written is dropped, so the work and its exit code do not depend on the diagnostics;
- a terminal encoding that cannot show α, ² or → gets ASCII stand-ins (``a``, ``^2``, ``->``), never a crash;
- a COLUMNS of 0, negative or not a number is ignored, as if unset.
"""

from __future__ import annotations

import codecs
import os
import sys

from octprofile.errors import OutputWriteError

# one character each where the layout allows it, so that table borders stay aligned
ASCII_STAND_INS = {"α": "a", "×": "x", "÷": "/", "−": "-", "·": "*", "≈": "~", "µ": "u", "μ": "u", "—": "-",
                   "–": "-", "→": "->", "²": "^2", "³": "^3", "¾": "3/4", "≠": "!=", "≤": "<=", "≥": ">=",
                   "±": "+-", "…": "..."}
ERRORS = "octprofile-ascii"
PIPED_WIDTH = 220  # piped output without COLUMNS: room for every number


def _stand_in(error: UnicodeError) -> tuple[str | bytes, int]:
    """Codec error handler: a character the stream's encoding lacks becomes its ASCII stand-in (``?`` when it has
    none); a byte that could not be decoded (a file name's, kept as a surrogate) is written back as it was."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text, start = error.object, error.start
    char = text[start]
    if 0xDC80 <= ord(char) <= 0xDCFF:
        return bytes([ord(char) - 0xDC00]), start + 1
    if char == "·" and text[start - 1:start] == " ":  # " · " separates ("params equal - counts agree"); α·c multiplies
        return "-", start + 1
    return ASCII_STAND_INS.get(char, "?"), start + 1


codecs.register_error(ERRORS, _stand_in)


class GuardedStream:
    """``sys.stdout`` or ``sys.stderr`` whose write errors are the environment's, not octprofile's.

    On the first failure (other than a closed pipe, which ``main()`` ends quietly) the file descriptor is pointed
    at /dev/null, so that what is still buffered, and the flush at exit, cannot fail again. Standard output then
    raises one ``OutputWriteError``; standard error goes on silently."""

    def __init__(self, stream, name: str, raises: bool) -> None:
        self._stream, self._name, self._raises = stream, name, raises
        self.error: OutputWriteError | None = None  # the first failure, also when a caller swallowed it

    def write(self, text: str) -> int:
        return self._guard(self._stream.write, text)

    def writelines(self, lines) -> None:
        self._guard(self._stream.writelines, lines)

    def flush(self) -> None:
        self._guard(self._stream.flush)

    def _guard(self, call, *args):
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as error:
            if self.error is not None:  # already raised: what is left goes nowhere
                return None
            self.error = OutputWriteError(f"cannot write to {self._name}: {error.strerror or error}", error)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
            if self._raises:
                raise self.error from error
            return None

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def guard_standard_streams() -> None:
    """Give stdout and stderr the ASCII stand-ins and the write guard (see the module docstring)."""
    for attribute, name, raises in (("stdout", "standard output", True), ("stderr", "standard error", False)):
        stream = getattr(sys, attribute)
        if stream is None or isinstance(stream, GuardedStream):
            continue
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors=ERRORS)
        setattr(sys, attribute, GuardedStream(stream, name, raises))


def console_width(stream) -> int | None:
    """The width for a console on ``stream``: COLUMNS when it is a positive whole number; otherwise a terminal's
    own (None: Rich asks the terminal), or PIPED_WIDTH off a terminal. A COLUMNS of 0, negative or not a number is
    ignored, as if unset (Rich would print nothing at 0)."""
    columns = os.environ.get("COLUMNS")
    if columns is not None and columns.strip().isdecimal() and int(columns) > 0:
        return int(columns)
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError, OSError):
        terminal = False
    if not terminal:
        return PIPED_WIDTH
    if columns is None:
        return None
    try:  # COLUMNS set to nonsense: Rich would read it, so ask the terminal here
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80
