"""Writing output files so that a failed or interrupted run never leaves a partial file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from octprofile.errors import OutputPathError


def check_writable(path: str | Path) -> Path:
    """Fail before any work when ``path``'s directory is missing or not writable."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise OutputPathError(f"output directory {str(directory)!r} does not exist")
    if not os.access(directory, os.W_OK):
        raise OutputPathError(f"output directory {str(directory)!r} is not writable")
    if path.is_dir():
        raise OutputPathError(f"output path {str(path)!r} is a directory")
    return path


def atomic_write(path: str | Path, content: str | bytes) -> Path:
    """Write to a temporary file beside ``path``, then rename it over ``path`` in one step."""
    path = check_writable(path)
    mode = "wb" if isinstance(content, bytes) else "w"
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, mode, **({} if isinstance(content, bytes) else {"encoding": "utf-8", "newline": ""})) as f:
            f.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
