"""A conv no octave conv reproduces, reached by the pair: it reads the map the pair stands for, against that map
written out by hand, and in a tiny residual net converted with exact counts."""

import torch
import torch.nn.functional as F
from torch import nn

from octprofile.analysis.counting import count_model
from octprofile.analysis.crosscheck import torch_flops
from octprofile.convert import convert, vanilla_reasons_of
from octprofile.nn import OctConv2d, OctPair
from octprofile.nn.merge import MergingConv


def test_a_merging_conv_reads_the_high_channels_then_the_low_ones_upsampled():
    torch.manual_seed(0)
    conv = nn.Conv2d(12, 8, 2, stride=2)
    high, low = torch.randn(2, 8, 7, 7), torch.randn(2, 4, 4, 4)
    up = low.repeat_interleave(2, 2).repeat_interleave(2, 3)[:, :, :7, :7]  # an odd side: the last row cropped
    with torch.no_grad():
        torch.testing.assert_close(MergingConv(conv)(OctPair(high, low)), conv(torch.cat([high, up], 1)))
        plain = torch.randn(2, 12, 7, 7)
        assert torch.equal(MergingConv(conv)(plain), conv(plain))


class _ResidualStage(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(16, 16, 3, padding=1), nn.Conv2d(16, 16, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


def test_a_residual_stage_ending_in_a_patch_merging_conv_converts():
    """FasterNet's layout: the stage's shortcut carries the pair past the conv that leaves the octave into a 2x2
    stride-2 conv, which reads it merged; the next stage enters again."""
    shape = (1, 3, 16, 16)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(16, 16, 3, padding=1), _ResidualStage(),
                        _ResidualStage(), nn.Conv2d(16, 16, 2, stride=2), _ResidualStage(), nn.Conv2d(16, 8, 1),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    params = sum(p.numel() for p in net.parameters())
    model = convert(net, 0.5, "chain", shape)
    assert isinstance(model[4], MergingConv) and isinstance(model[3].conv2, OctConv2d)
    assert "reads the (high, low) pair merged" in vanilla_reasons_of(model)["4"].text
    assert sum(p.numel() for p in model.parameters()) == params
    assert 2 * count_model(model, shape).macs == torch_flops(model, shape)
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(shape))).all()
