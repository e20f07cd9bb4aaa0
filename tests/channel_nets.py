"""Tiny nets whose blocks cut their maps' channels as timm's do (Res2Net's split, ReXNet's partial residual), for
the tests of channel ranges on octave pairs and of the runtime forms that run them."""

import torch
import torch.nn.functional as F
from torch import nn


class Res2Block(nn.Module):
    """Res2Net's hierarchy: a 1x1 conv, its map split in 4, each 3x3 conv reading its chunk plus the previous
    output, the outputs and the last chunk concatenated back into a 1x1 conv."""

    def __init__(self, width: int = 6) -> None:
        super().__init__()
        self.width = width
        self.conv1 = nn.Conv2d(4 * width, 4 * width, 1)
        self.convs = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(3))
        self.conv3 = nn.Conv2d(4 * width, 4 * width, 1)

    def forward(self, x):
        chunks = torch.split(self.conv1(x), self.width, 1)
        outputs, previous = [], None
        for chunk, conv in zip(chunks, self.convs):
            previous = conv(chunk if previous is None else previous + chunk)
            outputs.append(previous)
        return self.conv3(torch.cat([*outputs, chunks[-1]], 1)) + x


class PartialResidual(nn.Module):
    """ReXNet's block: the input (16 channels) is added to the first 16 of the 27 channels the block writes."""

    def __init__(self) -> None:
        super().__init__()
        self.expand, self.project = nn.Conv2d(16, 32, 1), nn.Conv2d(32, 27, 1)

    def forward(self, x):
        y = self.project(F.relu(self.expand(x)))
        return torch.cat([y[:, 0:16] + x, y[:, 16:]], 1)


def chain_net(*body: nn.Module, channels: int, last: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.Conv2d(channels, channels, 3, padding=1),
                         *body, nn.Conv2d(last, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
