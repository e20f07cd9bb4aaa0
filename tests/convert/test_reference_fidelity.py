"""Weights trained with the reference code carry over: a block of ours, holding reference-named weights
mapped by name, computes what an independent functional transcription of the reference's forward computes.

The transcription follows d-li14/octconv.pytorch (the PyTorch port of Chen et al.'s MXNet code): every conv
of the body with stride 2, octave or not, average-pools its inputs 2x2 and runs at stride 1; H->L pools
X_H (once more); L->H at stride 1 is upsampled 2x (nearest) after its conv. Parameters are named as there:
``conv1.conv.conv_h2h.weight``, ``conv1.bn_h.weight``, ``downsample.0.conv.conv_l2h.weight``, ...
"""

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from octprofile import build_model
from octprofile.nn import OctBatchNorm2d, OctConv2d, OctPair

REFERENCE_PATH = {"hh": "h2h", "hl": "h2l", "lh": "l2h", "ll": "l2l"}  # our path name -> the reference's


def reference_conv(weights: dict, prefix: str, x_h, x_l, stride: int, padding: int, groups: int = 1):
    """OctaveConv.forward of the reference, from the weights named ``{prefix}.conv_{path}.weight``."""
    def w(path):
        return weights.get(f"{prefix}.conv_{path}.weight")

    depthwise = groups > 1

    def conv(x, weight):
        return F.conv2d(x, weight, None, 1, padding, 1, weight.shape[0] if depthwise else groups)

    if stride == 2:
        x_h = F.avg_pool2d(x_h, 2)
    y_h = conv(x_h, w("h2h"))
    y_l = conv(F.avg_pool2d(x_h, 2), w("h2l")) if w("h2l") is not None else None
    if x_l is not None:
        if w("l2l") is not None:
            l2l = conv(F.avg_pool2d(x_l, 2) if stride == 2 else x_l, w("l2l"))
            y_l = l2l if y_l is None else y_l + l2l
        if w("l2h") is not None:
            l2h = conv(x_l, w("l2h"))
            y_h = y_h + (F.interpolate(l2h, scale_factor=2.0, mode="nearest") if stride == 1 else l2h)
    return y_h, y_l


def reference_bn(weights: dict, prefix: str, x):
    if x is None:
        return None
    return F.batch_norm(x, weights[f"{prefix}.running_mean"], weights[f"{prefix}.running_var"],
                        weights[f"{prefix}.weight"], weights[f"{prefix}.bias"], False, 0.0, 1e-5)


def reference_conv_bn(weights, prefix, x_h, x_l, stride=1, padding=0, groups=1, act=True):
    """Conv_BN(_ACT) of the reference: the conv, then bn_h / bn_l (and ReLU) per branch."""
    y_h, y_l = reference_conv(weights, f"{prefix}.conv", x_h, x_l, stride, padding, groups)
    y_h, y_l = reference_bn(weights, f"{prefix}.bn_h", y_h), reference_bn(weights, f"{prefix}.bn_l", y_l)
    return (F.relu(y_h), F.relu(y_l) if y_l is not None else None) if act else (y_h, y_l)


def reference_bottleneck(weights, x_h, x_l, stride):
    """Bottleneck.forward of the reference, with a projection shortcut."""
    out = reference_conv_bn(weights, "conv1", x_h, x_l)
    out = reference_conv_bn(weights, "conv2", *out, stride=stride, padding=1)
    out_h, out_l = reference_conv_bn(weights, "conv3", *out, act=False)
    id_h, id_l = reference_conv_bn(weights, "downsample.0", x_h, x_l, stride=stride, act=False)
    out_h = F.relu(out_h + id_h)
    return out_h, F.relu(out_l + id_l) if out_l is not None else None


def ours_to_reference(model: nn.Module, norm_of_conv) -> dict[str, str]:
    """{reference name: our name} for every parameter and statistic of ``model``'s convs and norms. The reference
    runs every conv of the body as an OctaveConv (a vanilla one has only conv_h2h) followed by bn_h (and bn_l);
    ``norm_of_conv(conv name)`` names our norm after that conv."""
    mapping = {}
    modules = dict(model.named_modules())
    octave_paths = {f"{name}.{path}" for name, module in modules.items() if isinstance(module, OctConv2d)
                    for path in module.paths()}
    for name, module in modules.items():
        if isinstance(module, OctConv2d):
            for path in module.paths():
                mapping[f"{name}.conv.conv_{REFERENCE_PATH[path]}.weight"] = f"{name}.{path}.weight"
        elif isinstance(module, nn.Conv2d) and name not in octave_paths:
            mapping[f"{name}.conv.conv_h2h.weight"] = f"{name}.weight"
        else:
            continue
        norm_name = norm_of_conv(name)
        branches = {"bn_h": f"{norm_name}.high", "bn_l": f"{norm_name}.low"} \
            if isinstance(modules[norm_name], OctBatchNorm2d) else {"bn_h": norm_name}
        for ref_branch, ours in branches.items():
            for key in ("weight", "bias", "running_mean", "running_var"):
                mapping[f"{name}.{ref_branch}.{key}"] = f"{ours}.{key}"
    return mapping


def load_reference_weights(model: nn.Module, mapping: dict[str, str], seed: int) -> dict[str, torch.Tensor]:
    """Random reference weights (positive variances), loaded into ``model`` by name; returned by reference name.
    Every parameter and statistic of ``model`` gets one: nothing keeps an initial value."""
    generator = torch.Generator().manual_seed(seed)
    ours = model.state_dict()
    assert {key for key in ours if not key.endswith("num_batches_tracked")} == set(mapping.values())
    weights = {}
    for ref_name, our_name in mapping.items():
        shape = ours[our_name].shape
        value = torch.rand(shape, generator=generator) + 0.5 if ref_name.endswith("running_var") \
            else torch.randn(shape, generator=generator) * (0.1 if ".conv_" in ref_name else 1.0)
        weights[ref_name] = value
    model.load_state_dict({our_name: weights[ref_name] for ref_name, our_name in mapping.items()}, strict=False)
    return weights


def resnet_norm_of(conv_name: str) -> str:
    if conv_name.endswith("downsample.0"):
        return conv_name[:-1] + "1"
    return re.sub(r"conv(\d)$", r"bn\1", conv_name)


@pytest.mark.parametrize("name", ["resnet50", "resnet26"])
def test_the_last_stage_entry_block_reproduces_the_reference(name):
    """layer4.0 of Oct-ResNet (alpha .5): conv1 and the projection leave the octave; the 3x3 conv at stride 2
    is vanilla in channels and pools first, as in the reference."""
    block = build_model(name, 0.5).eval().layer4[0]
    mapping = ours_to_reference(block, resnet_norm_of)
    assert {ref.split(".conv.")[0] for ref in mapping if ".conv.conv_" in ref} == {
        "conv1", "conv2", "conv3", "downsample.0"}
    weights = load_reference_weights(block, mapping, seed=0)
    x_h, x_l = torch.randn(2, 512, 8, 8), torch.randn(2, 512, 4, 4)
    with torch.no_grad():
        ours = block(OctPair(x_h, x_l))
        ref_h, ref_l = reference_bottleneck(weights, x_h, x_l, stride=2)
    assert ref_l is None and isinstance(ours, torch.Tensor)
    torch.testing.assert_close(ours, ref_h, rtol=1e-4, atol=1e-4)


def test_a_middle_stride_two_block_reproduces_the_reference():
    """layer3.0 (octave on both sides, stride 2 on the 3x3 conv and the projection) against the same transcription."""
    model = build_model("resnet26", 0.5).eval()
    block = model.layer3[0]
    mapping = ours_to_reference(block, resnet_norm_of)
    weights = load_reference_weights(block, mapping, seed=1)
    x_h, x_l = torch.randn(2, 256, 8, 8), torch.randn(2, 256, 4, 4)
    with torch.no_grad():
        ours = block(OctPair(x_h, x_l))
        ref_h, ref_l = reference_bottleneck(weights, x_h, x_l, stride=2)
    torch.testing.assert_close(ours.high, ref_h, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours.low, ref_l, rtol=1e-4, atol=1e-4)


def test_mobilenet_v1_strided_depthwise_after_the_octave_reproduces_the_reference():
    """Blocks 10 (leaves the octave) and 11 (depthwise at stride 2, vanilla in channels: pools first) of
    Oct-MobileNet v1 at alpha .5, as the reference's conv_dw(512, 512, 1, .5, 0), conv_dw(512, 1024, 2, 0, 0)."""
    model = build_model("mobilenet_v1", 0.5).eval()
    blocks = model.blocks[10:12]
    assert isinstance(blocks[1].depthwise[0], OctConv2d) and blocks[1].depthwise[0].geometry.stride == 2
    mapping = ours_to_reference(blocks, lambda conv: conv[:-1] + "1")
    weights = load_reference_weights(blocks, mapping, seed=2)
    x_h, x_l = torch.randn(2, 256, 8, 8), torch.randn(2, 256, 4, 4)
    with torch.no_grad():
        ours = blocks(OctPair(x_h, x_l))
        out = reference_conv_bn(weights, "10.depthwise.0", x_h, x_l, stride=1, padding=1, groups=512)
        out = reference_conv_bn(weights, "10.pointwise.0", *out)
        out = reference_conv_bn(weights, "11.depthwise.0", *out, stride=2, padding=1, groups=512)
        ref_h, ref_l = reference_conv_bn(weights, "11.pointwise.0", *out)
    assert ref_l is None
    torch.testing.assert_close(ours, ref_h, rtol=1e-4, atol=1e-4)


def test_a_torchvision_strided_conv_would_not_reproduce_it():
    """The point of pooling: the same weights in a stride-2 conv (what torchvision's layer4.0.conv2 does)
    give other outputs, so the reference's weights would not carry over."""
    pooled = build_model("resnet50", 0.5, seed=0).eval()
    conv = pooled.layer4[0].conv2
    plain = nn.Conv2d(512, 512, 3, 2, 1, bias=False)
    plain.weight.data.copy_(conv.hh.weight)
    x = torch.randn(1, 512, 14, 14)
    with torch.no_grad():
        assert conv(x).shape == plain(x).shape
        assert not torch.allclose(conv(x), plain(x), atol=1e-3)
        torch.testing.assert_close(conv(x), F.conv2d(F.avg_pool2d(x, 2), conv.hh.weight, None, 1, 1))
