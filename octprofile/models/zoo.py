"""The supported backbones: torchvision's, built with ``weights=None``, and the project's own."""

from __future__ import annotations

from functools import partial

import torchvision.models as tvm
import torchvision.models.segmentation as tvs
import torchvision.models.video as tvv
from torchvision.models.resnet import Bottleneck, ResNet

from octprofile.models.cifar_resnet import resnet_cifar
from octprofile.models.mobilenet_v1 import mobilenet_v1
from octprofile.models.registry import ModelSpec, register_model
from octprofile.models.se_resnet import se_resnet


def _torchvision(builder):
    return partial(builder, weights=None)


for _name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
              "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2"):
    register_model(ModelSpec(_name, "resnet", "torchvision", 224, _torchvision(getattr(tvm, _name))))
# The paper's supplement (Table 9) depths and widths that torchvision has no builder for, from its own classes.
register_model(ModelSpec("resnet26", "resnet", "torchvision", 224, partial(ResNet, Bottleneck, [2, 2, 2, 2])))
register_model(ModelSpec("resnet200", "resnet", "torchvision", 224, partial(ResNet, Bottleneck, [3, 24, 36, 3])))
register_model(ModelSpec("resnext101_32x4d", "resnet", "torchvision", 224,
                         partial(ResNet, Bottleneck, [3, 4, 23, 3], groups=32, width_per_group=4)))
register_model(ModelSpec("se_resnet50", "resnet", "project", 224, partial(se_resnet, [3, 4, 6, 3])))
register_model(ModelSpec("densenet121", "densenet", "torchvision", 224, _torchvision(tvm.densenet121)))

register_model(ModelSpec("mobilenet_v2", "mobilenet_v2", "torchvision", 224,
                         _torchvision(tvm.mobilenet_v2), options=("width_mult",)))
register_model(ModelSpec("mobilenet_v1", "mobilenet_v1", "project", 224, mobilenet_v1,
                         options=("width_mult",)))
for _depth in (20, 44, 56):
    register_model(ModelSpec(f"resnet{_depth}_cifar", "resnet", "project", 32,
                             partial(resnet_cifar, _depth)))

# Video classifiers (Tran et al., CVPR 2018), at their Kinetics-400 clip: 16 frames of 112x112 (see OctConv3d).
for _name in ("r3d_18", "mc3_18", "r2plus1d_18"):
    register_model(ModelSpec(_name, "resnet", "torchvision", (16, 112, 112), _torchvision(getattr(tvv, _name))))
# Semantic segmentation: a dilated ResNet-50 backbone and a head, at the 520 side torchvision's weights use;
# the output is a dict ({"out": ...}).
for _name in ("fcn_resnet50", "deeplabv3_resnet50"):
    register_model(ModelSpec(_name, "segmentation", "torchvision", 520,
                             partial(getattr(tvs, _name), weights=None, weights_backbone=None)))
# the side torchvision evaluates (and publishes the FLOPs of) these at; 224 for the others
_EVALUATION_SIDE = {"efficientnet_b1": 240, "efficientnet_v2_s": 384}
# families with a placement rule of their own (see README's Placement); ConvNeXt is not registered: its rule
# refuses it in one line with the reason (torchvision.models:convnext_tiny)
for _family, _names in (
        ("efficientnet", ("efficientnet_b0", "efficientnet_b1", "efficientnet_v2_s")),
        ("mobilenet_v3", ("mobilenet_v3_large", "mobilenet_v3_small")),
        ("regnet", ("regnet_x_400mf", "regnet_y_400mf", "regnet_y_800mf")),
        ("shufflenet_v2", ("shufflenet_v2_x0_5", "shufflenet_v2_x1_0")),
        ("mnasnet", ("mnasnet0_5", "mnasnet1_0"))):
    for _name in _names:
        register_model(ModelSpec(_name, _family, "torchvision", _EVALUATION_SIDE.get(_name, 224),
                                 _torchvision(getattr(tvm, _name))))
