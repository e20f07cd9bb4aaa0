"""The seeds' small MNIST net, as a custom model: `octprofile compare examples/mnist_net.py:mnist_net`."""

from torch import nn


def mnist_net() -> nn.Module:
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 256), nn.Linear(256, 10),
    )
    model.input_size = 28  # read by octprofile as the default input side
    return model
