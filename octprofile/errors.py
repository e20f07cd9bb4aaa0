"""User-facing failures. Each is one line, printed verbatim by the command line (exit 2; exit 4 for a fault of
the environment while writing); anything else that escapes is a bug and is reported as an internal error.

The subclasses also derive from the built-in exception a Python caller would expect (``ValueError``
for a bad value, ``KeyError`` for an unknown name), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class OctprofileError(Exception):
    """A failure the user can act on; ``str(error)`` is the whole message."""

    exit_code = 2

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class BadValueError(OctprofileError, ValueError):
    """An argument outside what octprofile accepts (alpha, size, option, device...)."""


class UnknownModelError(OctprofileError, KeyError):
    """A model name that is neither registered nor a custom ``module:callable`` reference."""


class CustomModelError(OctprofileError, ValueError):
    """A custom model reference that could not be turned into an ``nn.Module``."""


class ConversionError(OctprofileError, ValueError):
    """The model cannot be converted as asked; the message names the layer."""


class OutputMismatchError(ConversionError):
    """A prepared model whose output on the example differs from the built model's: timing it would time
    another function. The message names the backend and the deviation."""


class OutputPathError(OctprofileError, ValueError):
    """An output file that cannot be written."""


class ResourceError(OctprofileError, MemoryError):
    """The work would not fit in the memory that is available."""


class MissingEngineError(OctprofileError, ImportError):
    """An optional engine (e.g. onnxruntime) is not installed."""


class OutputWriteError(OctprofileError, OSError):
    """An output (a file, standard output) that could not be written while the command ran: a full disk, a quota,
    a read-only file system, an I/O error. A fault of the environment, neither bad input nor a bug: exit 4.

    Also an ``OSError`` carrying the cause's ``errno``, ``strerror`` and ``filename``."""

    exit_code = 4

    def __init__(self, message: str, cause: OSError | None = None) -> None:
        super().__init__(message)
        if cause is not None:
            self.errno, self.strerror, self.filename = cause.errno, cause.strerror, cause.filename
