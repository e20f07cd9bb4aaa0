"""Backbones: the registry, the project's own vanilla definitions, and users' models."""

from octprofile.errors import CustomModelError, UnknownModelError
from octprofile.models import zoo as _zoo  # noqa: F401  (registers the built-in backbones)
from octprofile.models.custom import is_custom_reference, load_custom_model
from octprofile.models.registry import ModelSpec, get_spec, list_models, model_specs
from octprofile.models.resolve import ResolvedModel, resolve

__all__ = ["CustomModelError", "ModelSpec", "ResolvedModel", "UnknownModelError", "get_spec", "is_custom_reference",
           "list_models", "load_custom_model", "model_specs", "resolve"]
