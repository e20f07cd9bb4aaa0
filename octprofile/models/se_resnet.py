"""SE-ResNet (Hu et al. 2018), which torchvision lacks: torchvision's ResNet with a squeeze-and-excitation
module after the last norm of every bottleneck, before the residual addition (where SENet and the paper's
reference code put it)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision.models.resnet as tvr
from torch import nn


class SqueezeExcitation(nn.Module):
    """Channel weights from the globally pooled map through two linear layers (reduction 16), multiplied in.
    On an octave pair the squeeze pools both branches and the weights split as the channels do, as in the
    reference code's SE block; linear layers (not 1x1 convs) so no placement rule takes them for octave convs."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, channels // reduction)
        self.fc2 = nn.Linear(channels // reduction, channels)

    def forward(self, x):
        weights = torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1).flatten(1)))))
        return x * weights[:, :, None, None]


def se_resnet(layers: list[int], num_classes: int = 1000) -> tvr.ResNet:
    """Bottleneck ResNet whose blocks' ``bn3`` is ``Sequential(bn3, SqueezeExcitation)``."""
    model = tvr.ResNet(tvr.Bottleneck, layers, num_classes=num_classes)
    for module in list(model.modules()):
        if isinstance(module, tvr.Bottleneck):
            module.bn3 = nn.Sequential(module.bn3, SqueezeExcitation(module.bn3.num_features))
    return model
