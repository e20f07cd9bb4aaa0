"""CIFAR ResNets (He et al. 2016, section 4.2): 6n+2 layers, three stages of basic blocks with
16/32/64 channels on 32x32 inputs. torchvision lacks them; the blocks are torchvision's own
BasicBlock, with a 1x1 projection shortcut where the shape changes (torchvision's convention,
"option B"), so the converter sees the same block structure as in the ImageNet ResNets."""

from __future__ import annotations

from torch import nn
from torchvision.models.resnet import BasicBlock, conv1x1


class CifarResNet(nn.Module):
    def __init__(self, blocks_per_stage: int, num_classes: int = 10) -> None:
        super().__init__()
        self.inplanes = 16
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_stage(16, blocks_per_stage, stride=1)
        self.layer2 = self._make_stage(32, blocks_per_stage, stride=2)
        self.layer3 = self._make_stage(64, blocks_per_stage, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def _make_stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes, stride), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


def resnet_cifar(depth: int, num_classes: int = 10) -> CifarResNet:
    if (depth - 2) % 6:
        raise ValueError(f"a CIFAR ResNet has depth 6n+2, got {depth}")
    return CifarResNet((depth - 2) // 6, num_classes)
