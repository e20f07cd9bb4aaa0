"""timm families that cut, stack, concatenate and re-join their maps' channels, or normalise them per channel or per
group: one small member each converts with equal params and analytic MACs = FlopCounterMode ÷ 2 (meta device,
64 px), and α reaches the blocks that do it."""

import importlib.util

import pytest
from conftest import meta_model

from octprofile.analysis.counting import count_model
from octprofile.analysis.crosscheck import torch_flops
from octprofile.nn import OctConvNd

pytestmark = pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="optional timm not installed")
SHAPE = (1, 3, 64, 64)


@pytest.mark.parametrize(("name", "block"), [
    ("timm:res2net50_26w_4s", "layer1.1.convs.0"),  # torch.split into 4 chunks, each read by a 3x3 conv
    ("timm:cs3darknet_focus_s", "stages.1.conv_transition.conv"),  # CrossStage3's x.split, its halves concatenated
    ("timm:rexnet_100", "features.4.conv_pwl.conv"),  # LinearBottleneck: the input added to x[:, 0:in]
    ("timm:dpn48b", "features.conv2_2.c1x1_a.conv"),  # DualPathBlock: residual and dense ranges of one map
    ("timm:densenet121", "features.denseblock1.denselayer2.conv1"),  # the stem's plain map among the pairs
    ("timm:resnetv2_50d_frn", "stages.1.blocks.0.conv2"),  # FilterResponseNormTlu2d per branch
    ("timm:regnetz_c16_evos", "stages.1.0.conv2_kxk.conv"),  # EvoNorm2dS0a, whole groups per branch
    ("timm:skresnext50_32x4d", "layer2.0.conv2.paths.1.conv"),  # SelectiveKernel: split, stacked paths, gated sum
    ("timm:ghostnet_050", "blocks.1.0.ghost2.primary_conv.0"),  # GhostModule: x[:, :out_chs] of its concatenation
    ("timm:hgnetv2_b1", "stages.1.blocks.0.layers.1.conv"),  # LearnableAffineBlock: scale and bias of shape (1,)
])
def test_a_family_member_converts_with_exact_counts(name, block):
    model = meta_model(name, 0.5, input_size=64)
    layer = model.get_submodule(block)
    assert isinstance(layer, OctConvNd) and layer.in_split.low and layer.out_split.low, block
    count = count_model(model, SHAPE)
    assert 2 * count.macs == torch_flops(model, SHAPE)
    assert count.params == sum(p.numel() for p in meta_model(name, input_size=64).parameters())
