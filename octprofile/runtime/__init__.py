"""Running models: ``prepare`` (an inference-only copy per backend), timing, measured memory.

``prepare``, ``PreparedModel`` and ``BACKENDS`` are imported on first use (PEP 562), so that the command line can
read ``runtime.backend_names`` without importing torch.
"""

import importlib

__all__ = ["BACKENDS", "PreparedModel", "prepare"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module("octprofile.runtime.prepare"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
