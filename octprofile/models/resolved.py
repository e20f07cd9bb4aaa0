"""What octprofile knows about a model before building it: a leaf that every model source can return."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from octprofile.errors import BadValueError
from octprofile.models.input_size import InputSize, spatial_sizes


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
    unsupported_layer: str | None = None  # the class of the layer at fault, which the refusal names by path

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
