"""``build_model``: the vanilla backbone, or its octave version at a given alpha, as plain modules."""

from __future__ import annotations

from contextlib import ExitStack

import torch
from torch import nn

from octprofile.convert import convert
from octprofile.errors import BadValueError, ConversionError
from octprofile.models.resolve import ResolvedModel, resolve
from octprofile.nn import FULL, OctDesign, check_alpha

PLACEMENTS = ("reference", "everywhere")


def build_model(model: str | ResolvedModel, alpha: float = 0.0, *, placement: str = "reference", device=None,
                input_size: int | tuple[int, ...] | None = None, design: OctDesign = FULL, seed: int | None = None,
                **options) -> nn.Module:
    """Build ``model`` (a registered name, ``module:callable`` / ``file.py:callable``, or a ``resolve``d model).

    ``alpha=0`` returns the vanilla model itself. Otherwise the vanilla model is converted by its
    family's placement rule: ``placement="reference"`` (the paper's reference network) or
    ``"everywhere"`` (every stage after the stem). ``design`` wires its octave layers (default: the
    paper's four paths with pooling; see ``OctDesign`` for the ablations). ``device="meta"`` builds
    without memory.
    ``seed`` draws the random initial weights from that seed without touching the global RNG.
    ``options`` go to the vanilla builder (e.g. ``width_mult`` for the MobileNets).

    The result is plain ``nn.Module``s (OctConv2d / OctBatchNorm2d where converted) with reference
    semantics, the same whatever context it is built in; for fast inference, see ``octprofile.prepare``.
    """
    alpha = check_alpha(alpha)
    if placement not in PLACEMENTS:
        raise BadValueError(f"placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}")
    info = resolve(model)
    if alpha > 0 and info.unsupported:
        raise ConversionError(f"{info.name} has no octave version: {_culprit(info, options)}{info.unsupported}")
    with ExitStack() as stack:
        if device is not None:
            stack.enter_context(torch.device(device))
        if seed is not None:
            stack.enter_context(torch.random.fork_rng(devices=[]))
            torch.manual_seed(seed)
        vanilla = _build_vanilla(info, device, options)
        # inside the seeded context too: new layers draw (then overwrite) initial weights
        return convert(vanilla, alpha, info.family, info.input_shape(input_size),
                       everywhere=placement == "everywhere", design=design)


def _culprit(info: ResolvedModel, options: dict) -> str:
    """"layer 'PATH' (SOURCE CLASS): " for the first layer of the class at fault in a refused model (built on the
    meta device to find it), or "" where none is named or found."""
    if info.unsupported_layer is None:
        return ""
    with torch.device("meta"):
        vanilla = _build_vanilla(info, "meta", options)
    path = next((name for name, module in vanilla.named_modules()
                 if type(module).__name__.startswith(info.unsupported_layer)), None)
    return "" if path is None else f"layer '{path}' ({info.source} {type(vanilla.get_submodule(path)).__name__}): "


def _build_vanilla(info: ResolvedModel, device, options: dict) -> nn.Module:
    """The vanilla model, built in the current device context; a builder that computes its layout with tensors
    (torchvision's RegNet widths) cannot run under the meta device, so it is built on the CPU and moved."""
    try:
        return info.build_vanilla(**options)
    except NotImplementedError as error:
        if str(device) != "meta" or "meta tensor" not in str(error):
            raise
    with torch.device("cpu"):
        return info.build_vanilla(**options).to("meta")
