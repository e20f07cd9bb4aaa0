"""Backbones by name: each entry says how to build the vanilla model and where alpha goes."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from octprofile.errors import BadValueError, UnknownModelError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # selects the placement rule in octprofile.convert.placement
    source: str  # "torchvision", "project" or "custom"
    input_size: int | tuple[int, ...]  # an image's side, or every spatial size: (L,) or (T, H, W)
    builder: Callable[..., nn.Module]
    options: tuple[str, ...] = field(default=())  # builder keyword options a user may set
    in_channels: int = 3


_REGISTRY: dict[str, ModelSpec] = {}

# torchvision classes with a placement family of their own, for models given as ``module:callable``
CLASS_FAMILIES = {
    "torchvision.models.resnet.ResNet": "resnet",
    "torchvision.models.densenet.DenseNet": "densenet",
    "torchvision.models.mobilenetv2.MobileNetV2": "mobilenet_v2",
    "torchvision.models.mobilenetv3.MobileNetV3": "mobilenet_v3",
    "torchvision.models.efficientnet.EfficientNet": "efficientnet",
    "torchvision.models.mnasnet.MNASNet": "mnasnet",
    "torchvision.models.regnet.RegNet": "regnet",
    "torchvision.models.shufflenetv2.ShuffleNetV2": "shufflenet_v2",
    "torchvision.models.convnext.ConvNeXt": "convnext",
}


def family_of(model: nn.Module) -> str:
    """The placement family of a model by its class (exactly: a subclass may be laid out otherwise), else the
    generic chain of convs."""
    kind = type(model)
    return CLASS_FAMILIES.get(f"{kind.__module__}.{kind.__qualname__}", "chain")


def register_model(spec: ModelSpec) -> ModelSpec:
    if spec.name in _REGISTRY:
        raise BadValueError(f"model {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def list_models() -> list[str]:
    """Names of the supported backbones, in registration order."""
    return list(_REGISTRY)


def model_specs() -> list[ModelSpec]:
    return list(_REGISTRY.values())


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownModelError(f"unknown model {name!r}{hint} (`octprofile models` lists them)") from None


