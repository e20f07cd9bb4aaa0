"""Layers that run a forward of their own, as timm's do: the rewrites must leave them as built."""

import torch.nn.functional as F
from torch import nn


class BatchNormAct2d(nn.BatchNorm2d):
    """timm's shape: a batch norm whose forward also activates."""

    def forward(self, x):
        return F.relu(super().forward(x))


class StdConv2d(nn.Conv2d):
    """Weight standardisation: the conv's forward normalises its weight first."""

    def forward(self, x):
        w = self.weight
        w = (w - w.mean((1, 2, 3), keepdim=True)) / (w.std((1, 2, 3), keepdim=True) + 1e-5)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)
