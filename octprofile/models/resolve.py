"""Resolving a model name once: its family, source, default input and how to build the vanilla model."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from octprofile.errors import BadValueError
from octprofile.models.custom import is_custom_reference, load_custom_model
from octprofile.models.input_size import InputSize, spatial_sizes
from octprofile.models.registry import family_of, get_spec
from octprofile.models.timm_source import is_timm_reference, resolve_timm


@dataclass(frozen=True)
class ResolvedModel:
    """What octprofile knows about a model before building it. A custom model's code has run once, here;
    each build gets a deep copy of the module its factory returned."""

    name: str
    family: str
    source: str
    input_size: int | tuple[int, ...]  # an image's side, or every spatial size: (L,) of a sequence, (T, H, W)
    in_channels: int
    options: tuple[str, ...]  # builder keyword options a user may set
    builder: Callable[..., nn.Module]
    unsupported: str | None = None  # why its octave version cannot be built (it runs as a vanilla model only)

    def input_shape(self, input_size: InputSize | None = None, batch_size: int = 1) -> tuple[int, ...]:
        """(N, C, *spatial sizes) at ``input_size`` (see ``spatial_sizes``; default: the model's)."""
        sizes = spatial_sizes(input_size or self.input_size, self.input_size)
        return (batch_size, self.in_channels, *sizes)

    @property
    def default_side(self) -> int:
        """The last spatial size of the default input (an image's side, a video's W, a sequence's length)."""
        return self.input_size if isinstance(self.input_size, int) else self.input_size[-1]

    def check_options(self, options: dict) -> None:
        """Refuse builder options this model does not take."""
        unknown = set(options) - set(self.options)
        if unknown:
            raise BadValueError(f"{self.name} does not take option(s) {sorted(unknown)}; "
                                f"it takes {list(self.options) or 'none'}")

    def build_vanilla(self, **options) -> nn.Module:
        self.check_options(options)
        return self.builder(**options)


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
        return ResolvedModel(name, family_of(model), "custom", custom_input_size(model, first_conv), in_channels, (),
                             lambda: copy.deepcopy(model))
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
