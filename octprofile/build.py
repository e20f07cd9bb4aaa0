"""``build_model``: the vanilla backbone, or its octave version at a given alpha."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from octprofile.convert import convert
from octprofile.models import get_spec, is_custom_reference, load_custom_model
from octprofile.nn import check_alpha
from octprofile.nn.fast import accelerate

PLACEMENTS = ("reference", "everywhere")
IMPLEMENTATIONS = ("fast", "reference")


@dataclass(frozen=True)
class ResolvedModel:
    """What octprofile knows about a model name before building it."""

    name: str
    family: str
    source: str
    input_size: int
    in_channels: int
    options: tuple[str, ...]

    def input_shape(self, input_size: int | None = None, batch_size: int = 1) -> tuple[int, int, int, int]:
        size = input_size or self.input_size
        return (batch_size, self.in_channels, size, size)


def resolve(name: str) -> ResolvedModel:
    """The model's family, source and default input, from its registered name or reference."""
    if is_custom_reference(name):
        model = load_custom_model(name)
        return _custom(name, model)
    spec = get_spec(name)
    return ResolvedModel(spec.name, spec.family, spec.source, spec.input_size, spec.in_channels, spec.options)


def _custom(name: str, model: nn.Module) -> ResolvedModel:
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    in_channels = first_conv.in_channels if first_conv is not None else 3
    return ResolvedModel(name, "chain", "custom", int(getattr(model, "input_size", 224)), in_channels, ())


def build_vanilla(name: str, **options) -> nn.Module:
    if is_custom_reference(name):
        if options:
            raise ValueError(f"custom models take no options, got {sorted(options)}")
        return load_custom_model(name)
    spec = get_spec(name)
    unknown = set(options) - set(spec.options)
    if unknown:
        raise ValueError(f"{name} does not take option(s) {sorted(unknown)}; it takes {list(spec.options) or 'none'}")
    return spec.builder(**options)


def build_model(name: str, alpha: float = 0.0, *, placement: str = "reference", device=None,
                input_size: int | None = None, exchange_hl: bool = True, exchange_lh: bool = True,
                impl: str = "fast", **options) -> nn.Module:
    """Build ``name`` (a registered backbone, or ``module:callable`` / ``file.py:callable``).

    ``alpha=0`` returns the vanilla model itself. Otherwise the vanilla model is converted by its
    family's placement rule: ``placement="reference"`` (the paper's reference network) or
    ``"everywhere"`` (every stage after the stem). ``device="meta"`` builds without memory.
    ``options`` go to the vanilla builder (e.g. ``width_mult`` for the MobileNets).
    ``impl="fast"`` (octave models only) swaps in the inference-optimised twins of
    ``octprofile.nn.fast``; ``"reference"`` keeps the plain four-path OctConv2d.
    """
    alpha = check_alpha(alpha)
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}")
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"impl must be one of {', '.join(IMPLEMENTATIONS)}, got {impl!r}")
    with torch.device(device) if device is not None else nullcontext():
        model = build_vanilla(name, **options)
    info = _custom(name, model) if is_custom_reference(name) else resolve(name)
    model = convert(model, alpha, info.family, info.input_shape(input_size), everywhere=placement == "everywhere",
                    exchange_hl=exchange_hl, exchange_lh=exchange_lh)
    return accelerate(model) if impl == "fast" and alpha > 0 else model

