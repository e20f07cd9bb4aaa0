"""Resolving a model name once: its family, source, default input and how to build the vanilla model."""

from __future__ import annotations

import copy

from torch import nn

from octprofile.models.custom import as_analysed, is_custom_reference, load_custom_model
from octprofile.models.input_size import InputSize
from octprofile.models.registry import family_of, get_spec
from octprofile.models.resolved import ResolvedModel
from octprofile.models.timm_source import is_timm_reference, resolve_timm


def resolve(name: str | ResolvedModel) -> ResolvedModel:
    """The model's family, source and default input, from its registered name, ``timm:NAME`` (with the
    optional timm installed) or ``module:callable`` reference (which imports the module and calls the
    factory, once)."""
    if isinstance(name, ResolvedModel):
        return name
    if is_timm_reference(name):
        return resolve_timm(name)
    if is_custom_reference(name):
        model = load_custom_model(name)
        first_conv = next((m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)), None)
        in_channels = first_conv.in_channels if first_conv is not None else 3
        resolved = ResolvedModel(name, family_of(model), "custom", custom_input_size(model, first_conv), in_channels,
                                 (), lambda: copy.deepcopy(model))
        as_analysed(model, name, resolved.input_shape())
        return resolved
    spec = get_spec(name)
    return ResolvedModel(spec.name, spec.family, spec.source, spec.input_size, spec.in_channels, spec.options,
                         spec.builder)


# default input of a custom model without an ``input_size`` attribute, by the dims of its first conv
_CUSTOM_DEFAULTS = {1: (16000,), 2: 224, 3: (16, 112, 112)}


def custom_input_size(model: nn.Module, first_conv: nn.Module | None) -> InputSize:
    """A custom model's ``input_size`` attribute (an int side, or a tuple of every spatial size), else a default
    for the dims of its first conv: one second of 16 kHz audio, a 224 image, a 16-frame 112 video clip."""
    dims = len(first_conv.kernel_size) if first_conv is not None else 2
    size = getattr(model, "input_size", None)
    if size is None:
        return _CUSTOM_DEFAULTS.get(dims, 224)
    if isinstance(size, int):
        return {1: (size,), 3: (_CUSTOM_DEFAULTS[3][0], size, size)}.get(dims, size)
    return tuple(int(s) for s in size)
