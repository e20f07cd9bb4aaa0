"""The count cache: what counting one variant found (analytic count per layer and path, FlopCounterMode, the
inference memory peak, fvcore), kept on disk so that a rerun of the same model, α, design and input reads it back
instead of building and tracing again.

An entry is keyed by everything that changes a count: the model (a registered name; timm's name and version; a
user's file or module by the content of every Python file loaded from its folder or package), the builder options,
placement, design, α, input shape and size, torch's default dtype, octprofile's version and the hash of its own
source files, and the versions of torch, torchvision and fvcore. Not the seed: weights do not change a count.
Entries are JSON, written atomically (a temporary file renamed into place); one that cannot be read or decoded is
a miss, and a directory that cannot be written costs the cache, never the command (``problem`` says why).

``OCTPROFILE_CACHE_DIR`` names the directory (default ``$XDG_CACHE_HOME/octprofile/counts``, else
``~/.cache/octprofile/counts``); ``OCTPROFILE_NO_CACHE=1`` turns the cache off, as ``--no-cache`` does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from octprofile.analysis.counting import CountResult
from octprofile.analysis.crosscheck import FvcoreCount
from octprofile.analysis.memory import InferenceMemory
from octprofile.analysis.rules import LayerCount
from octprofile.models.custom import is_custom_reference
from octprofile.models.resolved import ResolvedModel
from octprofile.models.timm_source import is_timm_reference
from octprofile.nn import OctDesign

FORMAT = 1  # bump when an entry's layout changes
PACKAGE = Path(__file__).resolve().parents[1]
MAX_USER_FILES = 1000  # a user's folder with more loaded modules than this is not hashed: no cache for it


@dataclass
class CachedCounts:
    """What counting one variant found, as the cache keeps it."""

    count: CountResult
    flops_torch: int
    memory: InferenceMemory
    not_converted: dict[str, str]  # conv layers the conversion left vanilla: path -> reason
    fvcore: FvcoreCount | None = None
    written: float = 0.0  # when the entry was written (seconds since the epoch)


def cache_disabled() -> bool:
    """``OCTPROFILE_NO_CACHE`` set to anything but '' or '0' turns the cache off everywhere."""
    return os.environ.get("OCTPROFILE_NO_CACHE", "").strip() not in ("", "0")


def cache_dir() -> Path:
    """``$OCTPROFILE_CACHE_DIR``, else ``$XDG_CACHE_HOME/octprofile/counts`` (an absolute XDG_CACHE_HOME only, as
    the XDG spec asks), else ``~/.cache/octprofile/counts``."""
    if os.environ.get("OCTPROFILE_CACHE_DIR"):
        return Path(os.environ["OCTPROFILE_CACHE_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "octprofile" / "counts"


def shown(path: Path) -> str:
    """A path as the footer shows it: under the home directory as ``~/...``."""
    with contextlib.suppress(ValueError, RuntimeError):
        return str(Path("~") / path.resolve().relative_to(Path.home().resolve()))
    return str(path)


@functools.cache
def source_hash() -> str:
    """Of octprofile's own source files: any change to the code invalidates every entry."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(f"{path.relative_to(PACKAGE)}\0".encode() + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _versions(timm: bool) -> dict:
    from octprofile import __version__

    names = ("torchvision", "fvcore", *(("timm",) * timm))
    return {"octprofile": __version__, "octprofile_source": source_hash(), "torch": torch.__version__,
            "python": f"{sys.version_info[0]}.{sys.version_info[1]}", **{name: _version(name) for name in names}}


def _user_code(reference: str) -> dict | None:
    """A custom model's code: the content hash of every Python module loaded from its folder (a file's folder, or
    a module's top-level package), sub-folders included; None when it cannot be told (no cache then)."""
    target, _, attribute = reference.rpartition(":")
    if target.endswith(".py"):
        anchor, folder = Path(target), Path(target).absolute().parent
    else:
        top = sys.modules.get(target.split(".")[0])
        module = sys.modules.get(target)
        if module is None or top is None or not getattr(module, "__file__", None) or not getattr(top, "__file__", None):
            return None
        anchor, folder = Path(module.__file__), Path(top.__file__).absolute().parent
    anchor, root = anchor.resolve(), folder.resolve()
    skipped = [Path(p).resolve() for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}] + [PACKAGE]
    skipped = [p for p in skipped if not anchor.is_relative_to(p)]  # never skip the model's own place
    prefixes = tuple(f"{place}{os.sep}" for place in {root, folder})  # a cheap test first: thousands are loaded
    files = {anchor}
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if not isinstance(name, str) or not name.endswith(".py") or not os.path.abspath(name).startswith(prefixes):
            continue
        path = Path(name).resolve()
        if path.is_relative_to(root) and not any(path.is_relative_to(p) for p in skipped):
            files.add(path)
    if len(files) > MAX_USER_FILES:
        return None
    try:
        hashes = {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(files)}
    except OSError:
        return None
    return {"callable": attribute, "module": "" if target.endswith(".py") else target, "files": hashes}


class CountCache:
    """The entries of one model under one set of study options; ``load`` and ``store`` per (α, design)."""

    def __init__(self, directory: Path, identity: dict, label: str) -> None:
        self.directory = directory
        self.identity = json.loads(json.dumps(identity))  # as it reads back: lists, not tuples
        self.label = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[-40:]
        self.problem: str | None = None  # why an entry could not be written (one line), or None

    @classmethod
    def open(cls, reference: str, resolved: ResolvedModel, study: dict) -> CountCache | None:
        """The cache for ``reference`` (the name the user gave, resolved into ``resolved``) under ``study`` (the
        options that change a count: placement, builder options, input size and shape); None when the cache is off
        or the model's code cannot be identified."""
        if cache_disabled():
            return None
        try:
            if is_timm_reference(reference):
                model = {"timm": resolved.name}
            elif is_custom_reference(reference):
                model = _user_code(reference)
                if model is None:
                    return None
            else:
                model = {"registered": resolved.name, "source": resolved.source}
            identity = {"format": FORMAT, "model": model, "study": study, "dtype": str(torch.get_default_dtype()),
                        "versions": _versions(is_timm_reference(reference))}
            return cls(cache_dir(), identity, resolved.name.rsplit("/", 1)[-1])
        except (OSError, RuntimeError):  # octprofile's source unreadable, no home directory: no cache
            return None

    def key(self, alpha: float, design: OctDesign) -> dict:
        # alpha 0 is the vanilla model whatever the design
        return {**self.identity, "alpha": alpha, "design": asdict(design) if alpha else None}

    def path(self, key: dict) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:40]
        return self.directory / f"{self.label}-a{key['alpha']:g}-{digest}.json"

    def load(self, alpha: float, design: OctDesign) -> CachedCounts | None:
        """The entry for this variant; None when there is none, or it cannot be read or decoded."""
        key = self.key(alpha, design)
        try:
            entry = json.loads(self.path(key).read_text(encoding="utf-8"))
            if entry["key"] != key:
                return None
            return _decode(entry)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def store(self, alpha: float, design: OctDesign, counts: CachedCounts) -> None:
        """Write the entry atomically; a failure is kept in ``problem`` (the command goes on)."""
        key = self.key(alpha, design)
        entry = {"key": key, **_encode(dataclasses.replace(counts, written=time.time()))}
        try:
            text = json.dumps(entry)
            if _decode(json.loads(text)) != dataclasses.replace(counts, written=entry["written"]):
                return  # something that does not read back exactly is not kept
        except (ValueError, TypeError):
            return
        target = self.path(key)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as file:
                    file.write(text)
                os.replace(temporary, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as error:
            self.problem = f"counts not cached: {shown(Path(error.filename or self.directory))}: " \
                           f"{error.strerror or error}"


def _encode(counts: CachedCounts) -> dict:
    count = counts.count
    return {"count": {"input_shape": list(count.input_shape), "params": count.params,
                      "between_layers": dict(count.between_layers),
                      "layers": [asdict(layer) for layer in count.layers]},
            "flops_torch": counts.flops_torch, "memory": asdict(counts.memory), "not_converted": counts.not_converted,
            "fvcore": asdict(counts.fvcore) if counts.fvcore is not None else None, "written": counts.written}


def _decode(entry: dict) -> CachedCounts:
    count = entry["count"]
    layers = [LayerCount(**{**layer, "output_shapes": tuple(tuple(shape) for shape in layer["output_shapes"])})
              for layer in count["layers"]]
    fvcore = entry["fvcore"]
    return CachedCounts(
        CountResult(tuple(count["input_shape"]), layers, count["params"], Counter(count["between_layers"])),
        entry["flops_torch"], InferenceMemory(**entry["memory"]), dict(entry["not_converted"]),
        FvcoreCount(**fvcore) if fvcore is not None else None, float(entry["written"]))
