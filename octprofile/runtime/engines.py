"""Optional engines (onnxruntime, openvino): imported on first use, refused in one line when missing."""

from __future__ import annotations

import importlib

from octprofile.errors import MissingEngineError


def import_engine(modules: tuple[str, ...], missing: str):
    """The last of ``modules``, imported after the others it needs; ``MissingEngineError(missing)`` if any is absent."""
    try:
        for name in modules[:-1]:
            importlib.import_module(name)
        return importlib.import_module(modules[-1])
    except ImportError:
        raise MissingEngineError(missing) from None


def engine_available(modules: tuple[str, ...]) -> bool:
    """Whether every one of ``modules`` can be imported."""
    try:
        import_engine(modules, "")
    except MissingEngineError:
        return False
    return True
