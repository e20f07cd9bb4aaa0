"""Running models: ``prepare`` (an inference-only copy per backend), timing, measured memory."""

from octprofile.runtime.prepare import BACKENDS, PreparedModel, prepare

__all__ = ["BACKENDS", "PreparedModel", "prepare"]
