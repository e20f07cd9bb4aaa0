"""A small 1-d conv net for audio or time series, as a custom model:
`octprofile compare examples/audio_net.py:audio_net --input-size 4000`."""

from torch import nn


def _block(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv1d(cin, cout, 9, stride, padding=4, bias=False), nn.BatchNorm1d(cout), nn.ReLU()]


def audio_net(classes: int = 12) -> nn.Module:
    """Keyword-spotting shaped: a strided stem, four conv blocks (two down-sample), global pooling, a classifier."""
    model = nn.Sequential(
        nn.Conv1d(1, 32, 80, stride=4, padding=38, bias=False), nn.BatchNorm1d(32), nn.ReLU(), nn.MaxPool1d(4),
        *_block(32, 64), *_block(64, 64, 2), *_block(64, 128), *_block(128, 128, 2),
        nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(128, classes),
    )
    model.input_size = (16000,)  # one second at 16 kHz: read by octprofile as the default (L,)
    return model
