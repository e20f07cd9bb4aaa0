"""The supported backbones: torchvision's, built with ``weights=None``, and the project's own."""

from __future__ import annotations

from functools import partial

import torchvision.models as tvm

from octprofile.models.cifar_resnet import resnet_cifar
from octprofile.models.mobilenet_v1 import mobilenet_v1
from octprofile.models.registry import ModelSpec, register_model


def _torchvision(builder):
    return partial(builder, weights=None)


for _name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
              "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2"):
    register_model(ModelSpec(_name, "resnet", "torchvision", 224, _torchvision(getattr(tvm, _name))))

register_model(ModelSpec("mobilenet_v2", "mobilenet_v2", "torchvision", 224,
                         _torchvision(tvm.mobilenet_v2), options=("width_mult",)))
register_model(ModelSpec("mobilenet_v1", "mobilenet_v1", "project", 224, mobilenet_v1,
                         options=("width_mult",)))
for _depth in (20, 44, 56):
    register_model(ModelSpec(f"resnet{_depth}_cifar", "resnet", "project", 32,
                             partial(resnet_cifar, _depth)))
