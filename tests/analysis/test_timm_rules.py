"""timm layers whose MACs sit outside an nn.Conv/nn.Linear, one rule each: the blur pool's fixed-filter conv
(TResNet), BAT's row and column matmuls (bat_resnext26ts) and the attention pool's attention matmuls (CLIP
ResNets). Each against a count written here by hand, FlopCounterMode ÷ 2 and fvcore's conv + linear part."""

import importlib.util

import pytest
from torch import nn

from octprofile.analysis.counting import count_model
from octprofile.analysis.crosscheck import fvcore_count, torch_flops

pytestmark = pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="optional timm not installed")


def agree(model: nn.Module, shape: tuple[int, ...], by_hand: int) -> None:
    model.eval()
    macs = count_model(model, shape).macs
    assert macs == by_hand
    assert torch_flops(model, shape) == 2 * by_hand
    assert fvcore_count(model, shape).macs == by_hand


@pytest.mark.parametrize("side, filt", [(9, 3), (8, 5)])
def test_blur_pool_counts_its_depthwise_filter(side, filt):
    from timm.layers import BlurPool2d

    model = nn.Sequential(nn.Conv2d(3, 8, 1), BlurPool2d(8, filt_size=filt, stride=2))
    out = (side + 1) // 2  # reflect padding (filt - 1) / 2, stride 2
    agree(model, (2, 3, side, side), 2 * 8 * side * side * 3 + 2 * 8 * out * out * filt * filt)


def test_bilinear_attention_counts_its_convs_and_matmuls():
    from timm.layers.non_local_attn import BilinearAttnTransform

    c, h, w, block, groups = 16, 4, 6, 2, 2
    model = nn.Sequential(BilinearAttnTransform(c, block, groups))
    convs = h * w * c * groups + h * w * c * c  # conv1 (c -> groups), conv2 (c -> c), 1x1 over the map
    pooled = 2 * (block * block * groups) * groups * block  # conv_p, conv_q: one output position each
    matmuls = c * (h * h * w + h * w * w)  # (H x H)·(H x W), then (H x W)·(W x W), per channel
    agree(model, (1, c, h, w), convs + pooled + matmuls)


@pytest.mark.parametrize("cls", ["AttentionPool2d", "RotAttentionPool2d"])
def test_attention_pool_counts_projections_and_attention(cls):
    import timm.layers

    c, side, out = 16, 3, 10
    pool = getattr(timm.layers, cls)(c, out_features=out, num_heads=2, **({"feat_size": 2} if cls[0] == "A" else {}))
    tokens = side * side + 1  # the pixels and their mean
    by_hand = tokens * c * 3 * c + 2 * tokens * tokens * c + tokens * c * out
    agree(nn.Sequential(pool), (2, c, side, side), 2 * by_hand)
    assert count_model(pool.eval(), (2, c, side, side)).macs == 2 * by_hand
