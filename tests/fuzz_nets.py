"""Random small CNNs for the converter fuzz (tests/convert/test_fuzz.py): odd sizes, strides, dilation, groups and
depthwise convs, residual additions, concatenations, pools, Conv1d/3d, ConvTranspose2d decoders. ``fuzz_net(seed)``
is the same network for the same seed, whatever the global RNG."""

from __future__ import annotations

import random

import torch
from torch import nn

CONVS = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
NORMS = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
POOLS = {1: (nn.MaxPool1d, nn.AvgPool1d), 2: (nn.MaxPool2d, nn.AvgPool2d), 3: (nn.MaxPool3d, nn.AvgPool3d)}
HEADS = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}


class Residual(nn.Module):
    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


class Concat(nn.Module):
    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.branches], 1)


class FuzzNet(nn.Module):
    def __init__(self, features: nn.Module, head: nn.Module, input_size) -> None:
        super().__init__()
        self.features, self.head = features, head
        self.input_size = input_size

    def forward(self, x):
        return self.head(self.features(x))


def fuzz_net(seed: int) -> FuzzNet:
    """A random CNN of 1, 2 (most often) or 3 dims, its weights and batch-norm statistics drawn from ``seed``."""
    rng = random.Random(seed)
    dims = rng.choice((1, 2, 2, 2, 2, 3))
    conv_class, norm_class = CONVS[dims], NORMS[dims]
    side = {1: rng.randint(24, 41), 2: rng.randint(9, 19), 3: rng.randint(6, 9)}[dims]
    input_size = (side,) if dims == 1 else side if dims == 2 else (rng.randint(3, 5), side, side)
    width = rng.choice((4, 6, 8, 10, 12, 16))

    def conv(cin: int, cout: int, *, kernel: int | None = None, stride: int = 1, groups: int = 1,
             same: bool = True) -> list[nn.Module]:
        kernel = kernel or rng.choice((1, 3, 3, 5))
        dilation = rng.choice((1, 1, 2)) if kernel > 1 else 1
        padding = dilation * (kernel - 1) // 2 if same else 0
        layers = [conv_class(cin, cout, kernel, stride, padding, dilation, groups, bias=rng.random() < 0.3)]
        if rng.random() < 0.8:
            layers.append(norm_class(cout))
        return [*layers, nn.ReLU()]

    layers: list[nn.Module] = conv(3, width, kernel=3)
    channels, shrunk = width, 0
    for _ in range(rng.randint(3, 7)):
        kind = rng.choice(("conv", "conv", "strided", "grouped", "depthwise", "residual", "concat", "pool",
                           "valid"))
        if kind in ("strided", "pool") and shrunk >= (1 if dims != 2 else 2):
            kind = "conv"
        if kind == "conv":
            out = rng.choice((4, 6, 8, 10, 12, 16))
            layers += conv(channels, out)
            channels = out
        elif kind == "strided":
            layers += conv(channels, channels, kernel=3, stride=2)
            shrunk += 1
        elif kind == "grouped":
            groups = rng.choice([g for g in (2, 3, 4) if channels % g == 0] or [1])
            layers += conv(channels, channels * 2 // groups * groups, kernel=3, groups=groups)
            channels = channels * 2 // groups * groups
        elif kind == "depthwise":
            layers += conv(channels, channels, kernel=3, groups=channels)
        elif kind == "residual":
            layers.append(Residual(nn.Sequential(*conv(channels, channels), *conv(channels, channels)[:-1])))
        elif kind == "concat":
            left, right = rng.choice((4, 6, 8)), rng.choice((4, 6, 8))
            layers.append(Concat(nn.Sequential(*conv(channels, left)), nn.Sequential(*conv(channels, right))))
            channels = left + right
        elif kind == "pool":
            pool = rng.choice(POOLS[dims])
            layers.append(pool(2, 2) if rng.random() < 0.5 else pool(3, 1, 1))
            shrunk += rng.random() < 2  # a 3x3 stride-1 pool counts too: the sides stay small
        elif kind == "valid":
            layers += conv(channels, channels, kernel=3, same=False)
    if dims == 2 and shrunk and rng.random() < 0.4:  # a decoder: back up by transposed convs
        out = rng.choice((4, 8))
        layers += [nn.ConvTranspose2d(channels, out, 4, 2, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU(),
                   nn.Conv2d(out, 3, 1)]
        head = nn.Identity()
    else:
        head = nn.Sequential(HEADS[dims](1), nn.Flatten(), nn.Linear(channels, 5))
    model = FuzzNet(nn.Sequential(*layers), head, input_size)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            for tensor in module.parameters(recurse=False):
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.5)
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.copy_(torch.rand(module.num_features, generator=generator) - 0.5)
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    return model
