"""MobileNet v1 (Howard et al. 2017), which torchvision lacks: a 3x3 stem and 13 depthwise-separable
blocks, then global pooling and a classifier. Channels scale by ``int(c * width_mult)``."""

from __future__ import annotations

from torch import nn

from octprofile.errors import BadValueError

# (output channels, stride of the depthwise conv) for the 13 blocks
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
          (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def conv_bn_relu(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DepthwiseSeparable(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.depthwise = conv_bn_relu(cin, cin, 3, stride, groups=cin)
        self.pointwise = conv_bn_relu(cin, cout, 1, 1)


class MobileNetV1(nn.Module):
    def __init__(self, width_mult: float = 1.0, num_classes: int = 1000) -> None:
        super().__init__()
        if not width_mult > 0:
            raise ValueError(f"width_mult must be positive, got {width_mult}")
        if int(32 * width_mult) < 1:  # the narrowest layer (the stem's 32 channels) would have none
            raise BadValueError(f"width_mult {width_mult} leaves MobileNet v1's 32-channel stem with no channel; "
                             f"the smallest that builds is {1 / 32:g}")
        channels = int(32 * width_mult)
        self.stem = conv_bn_relu(3, channels, 3, 2)
        blocks = []
        for cout, stride in BLOCKS:
            blocks.append(DepthwiseSeparable(channels, int(cout * width_mult), stride))
            channels = int(cout * width_mult)
        self.blocks = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(self.avgpool(x).flatten(1))


def mobilenet_v1(width_mult: float = 1.0, num_classes: int = 1000) -> MobileNetV1:
    return MobileNetV1(width_mult, num_classes)
