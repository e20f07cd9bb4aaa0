"""Writing output files the way a careful shell user expects, and never leaving a partial one.

- A symlink is written through: its target gets the new content, the link stays.
- Anything that exists and is not a regular file (FIFO, device, socket, directory) is refused, as is an existing
  file without any write permission bit (checked on the mode, because root passes every access check).
- An existing file keeps its mode (and, when run as root, its owner); a new file gets ``0o666 & ~umask``.
- A missing directory on the way is created (with its parents) when the first file goes into it, and removed again
  when the command fails before its files are renamed into place.
- Content goes to a temporary file beside the target, is fsynced, then renamed over it in one step; the temporary
  file is removed on any failure, interrupts included.
- :class:`AtomicFiles` stages several files and renames them together at the end: all of them or none.
- An ``OSError`` while writing (a full disk, a quota, a read-only file system, an I/O error) becomes one
  :class:`OutputWriteError` naming the file and the cause.
"""

from __future__ import annotations

import os
import signal
import stat
import tempfile
from pathlib import Path

from octprofile.errors import OutputPathError, OutputWriteError


def current_umask() -> int:
    """The process umask (there is no way to read it without setting it, so set it back at once)."""
    old = os.umask(0o022)
    os.umask(old)
    return old


def check_writable(path: str | Path) -> Path:
    """Fail before any work when ``path`` cannot be written; return the file that will be written (symlinks
    resolved, so the link itself is kept and its target replaced)."""
    given = str(path)
    target = Path(os.path.realpath(path))
    directory = target.parent
    existing = directory  # the directory itself, or the nearest ancestor that exists: the missing part is created
    while not os.path.lexists(existing):
        existing = existing.parent
    missing = "" if existing == directory else f"cannot create output directory {str(Path(given).parent)!r}: "
    if not existing.is_dir():
        raise OutputPathError(f"{missing or 'output directory '}{str(existing)!r} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputPathError(f"{missing or 'output directory '}{str(existing)!r} is not writable")
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return target
    except OSError as error:
        raise OutputPathError(f"output path {given!r} cannot be examined: {error.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise OutputPathError(f"output path {given!r} is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise OutputPathError(f"output path {given!r} is not a regular file; octprofile only replaces regular files")
    if not info.st_mode & 0o222 or not os.access(target, os.W_OK):
        raise OutputPathError(f"output file {given!r} is read-only; make it writable or choose another file")
    return target


def check_distinct(paths: dict[str, str | Path | None]) -> None:
    """Refuse one file named by two output options (``{"--output": path, "--plot": path}``), symlinks resolved."""
    seen: dict[str, str] = {}
    for option, path in paths.items():
        if path is None:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise OutputPathError(f"{seen[key]} and {option} both name {str(path)!r}; give them different files")
        seen[key] = option


class AtomicFiles:
    """Stage files (each a complete, fsynced temporary file beside its target), then rename them all at once.

    Use as a context manager: the renames happen when the block ends without an exception; on any exception,
    KeyboardInterrupt included, every temporary file is removed and no target is touched. ``written`` lists the
    paths as given, after the commit.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[str, Path, Path]] = []  # (temporary, target, path as given)
        self._made: list[Path] = []  # directories this object created, outermost first
        self.written: list[Path] = []

    def __enter__(self) -> AtomicFiles:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()

    def write(self, path: str | Path, content: str | bytes) -> Path:
        target = check_writable(path)
        if any(staged == target for _, staged, _ in self._staged):
            raise OutputPathError(f"{str(path)!r} is written twice by one command; give each output its own file")
        try:
            self._stage(target, Path(path), content if isinstance(content, bytes) else content.encode("utf-8"))
        except OSError as error:
            self.discard()
            raise OutputWriteError(f"cannot write {path}: {error.strerror or error}", error) from error
        except BaseException:
            self.discard()
            raise
        return Path(path)

    def _stage(self, target: Path, given: Path, data: bytes) -> None:
        try:
            existing = os.stat(target)
        except FileNotFoundError:
            existing = None
        self._make_directories(target.parent)
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            self._staged.append((temporary, target, given))
            if existing is None:
                os.fchmod(fd, 0o666 & ~current_umask())
            else:
                os.fchmod(fd, stat.S_IMODE(existing.st_mode))
                if os.geteuid() == 0 and (existing.st_uid, existing.st_gid) != (0, 0):
                    try:
                        os.fchown(fd, existing.st_uid, existing.st_gid)
                    except OSError:
                        pass
            with os.fdopen(fd, "wb") as f:
                fd = -1
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        finally:
            if fd >= 0:
                os.close(fd)

    def _make_directories(self, directory: Path) -> None:
        """Create ``directory`` and its missing parents (``0777`` less the umask, as ``mkdir -p``), remembering
        them so that a failure removes them again."""
        missing = []
        while not os.path.lexists(directory):
            missing.append(directory)
            directory = directory.parent
        for made in reversed(missing):
            try:
                os.mkdir(made)
            except FileExistsError:  # made meanwhile by someone else: theirs to keep
                continue
            self._made.append(made)

    def commit(self) -> list[Path]:
        """Rename every staged file over its target; SIGINT/SIGTERM wait until the renames are done."""
        blocked = {signal.SIGINT, signal.SIGTERM}
        masked = hasattr(signal, "pthread_sigmask")
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked) if masked else None
        try:
            while self._staged:
                temporary, target, given = self._staged[0]
                try:
                    os.replace(temporary, target)
                except OSError as error:
                    raise OutputWriteError(f"cannot write {given}: {error.strerror or error}", error) from error
                self._staged.pop(0)
                self.written.append(given)
            self._made.clear()  # they hold the files now
        finally:
            if masked:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)
            self.discard()
        return self.written

    def discard(self) -> None:
        """Remove every staged temporary file (the targets are untouched), then the directories made for them."""
        while self._staged:
            temporary, _, _ = self._staged.pop()
            Path(temporary).unlink(missing_ok=True)
        while self._made:
            try:
                self._made.pop().rmdir()
            except OSError:  # something else went in: leave it, and the directories above it
                self._made.clear()


def atomic_write(path: str | Path, content: str | bytes) -> Path:
    """Write one file atomically (see the module docstring); return ``path`` as given."""
    with AtomicFiles() as files:
        files.write(path, content)
    return Path(path)


def atomic_write_all(contents: dict[str | Path, str | bytes]) -> list[Path]:
    """Write several files all-or-nothing: every one is staged before any is renamed into place."""
    with AtomicFiles() as files:
        for path, content in contents.items():
            files.write(path, content)
    return files.written
