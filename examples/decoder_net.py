"""A small encoder-decoder with transposed convs (a segmentation or autoencoder shape), as a custom model:
`octprofile compare examples/decoder_net.py:decoder_net`."""

from torch import nn


def _conv(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def _up(cin: int, cout: int) -> list[nn.Module]:
    # 4x4, stride 2, padding 1: doubles the side exactly, the up-sampler OctConvTranspose2d keeps aligned
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def decoder_net(classes: int = 5) -> nn.Module:
    model = nn.Sequential(
        *_conv(3, 32, 2), *_conv(32, 64, 2), *_conv(64, 128, 2), *_conv(128, 128),
        *_up(128, 64), *_up(64, 32), nn.ConvTranspose2d(32, 32, 3, 1, 1), nn.ReLU(), *_up(32, 16),
        nn.Conv2d(16, classes, 1),
    )
    model.input_size = 64
    return model
