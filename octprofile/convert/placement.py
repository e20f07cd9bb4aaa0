"""Where alpha goes: per family, which conv gets which (alpha_in, alpha_out).

The default ("reference") follows the paper's reference implementation: stem and classifier
vanilla, and the last, lowest-resolution stage vanilla too (its low-frequency map would be
3.5x3.5 at 224^2). ``everywhere=True`` makes every stage after the stem octave; the global
average pool then merges the pair (exactly, as pooling is linear).
A conv missing from a plan stays a vanilla nn.Conv2d. A plan entry (0, 0) keeps a conv vanilla in
channels but runs it as the reference code runs every strided conv of the body: 2x2 average pooling,
then the conv at stride 1 (see ``pooled_strides``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn

from octprofile.convert.fidelity import ConvLike, unconvertible_reason

Plan = dict[str, tuple[float, float]]
PlacementRule = Callable[[nn.Module, float, bool, list[str]], Plan]

# mobile networks: octave where the map is at least 1/16 of the input side (14x14 at 224^2)
MOBILE_OCTAVE_MAX_STRIDE = 16


class PlacementError(ValueError):  # turned into a ConversionError by the converter
    """The model's structure does not admit the requested placement."""


def is_depthwise(conv: nn.Conv2d) -> bool:
    return conv.groups > 1 and conv.groups == conv.in_channels


def _stride(conv: nn.Conv2d) -> int:
    stride = conv.stride
    return stride[0] if isinstance(stride, tuple) else stride


def resnet(model: nn.Module, alpha: float, everywhere: bool, conv_order: list[str], prefix: str = "") -> Plan:
    """Blocks of stages ``layer1..layerN``; the first block of layer1 enters the octave (its conv1
    and projection shortcut go 0 -> alpha) and, by default, the first block of the last stage
    leaves it the same way (alpha -> 0). The shortcut's conv is the one conv of ``downsample``, first
    (torchvision) or after an average pool (timm's ``avg_down`` shortcuts of ResNet-D). ``conv1`` may be a
    conv, or hold convs (a video block's conv + norm + ReLU, R(2+1)D's spatial then temporal conv): the first
    of them reads the block input. 2-d and 3-d (video) ResNets alike; ``prefix`` names where ``model`` sits
    in the converted model (a segmentation backbone)."""
    stages = [name for name, _ in model.named_children() if name.startswith("layer")]
    if not stages:
        raise PlacementError("no layer1..layerN stages found")
    octave_stages = stages if everywhere else stages[:-1]
    plan: Plan = {}
    for stage_index, stage in enumerate(stages):
        for block_index, block in enumerate(getattr(model, stage)):
            convs = [(n, m) for n, m in block.named_modules() if isinstance(m, ConvLike)]
            first_of_conv1 = next((n for n, _ in convs if n == "conv1" or n.startswith("conv1.")), None)
            for conv_name, _conv in convs:
                name = f"{prefix}{stage}.{block_index}.{conv_name}"
                reads_block_input = conv_name == first_of_conv1 or conv_name.startswith("downsample.")
                entering = stage_index == 0 and block_index == 0 and reads_block_input
                leaving = stage_index == len(octave_stages) and block_index == 0 and reads_block_input
                if stage in octave_stages:
                    plan[name] = (0.0 if entering else alpha, alpha)
                elif leaving:
                    plan[name] = (alpha, 0.0)
    return plan


def densenet(model: nn.Module, alpha: float, everywhere: bool, conv_order: list[str]) -> Plan:
    """As the reference DenseNet: the stem conv enters the octave (0 -> alpha; the reference's DenseNet,
    unlike its ResNets, has an octave stem), dense blocks and transitions are octave, and by default the
    transition into the last block leaves (alpha -> 0) so that block is vanilla. Concatenations join high
    with high and low with low, so each concatenated map's low part is the sum of its pieces' low parts:
    that equals floor(alpha * channels) only where alpha * c is whole for every piece (c = stem, growth
    rate, transition widths), which is checked here. ``everywhere`` changes nothing: the last transition's
    2x2 pooling (floor mode) would take a 7x7 low map to 3x3 at 224^2, off the high map's 7x7 grid."""
    blocks = [name for name, _ in model.features.named_children() if name.startswith("denseblock")]
    if not blocks:
        raise PlacementError("no features.denseblock1..N found")
    octave_blocks = blocks[:-1]
    leaving = f"transition{len(blocks) - 1}"
    plan: Plan = {}
    for name in conv_order:
        part = name.split(".")[1]
        if part == "conv0":
            plan[name] = (0.0, alpha)
        elif part == leaving:
            plan[name] = (alpha, 0.0)
        elif part in octave_blocks or part.startswith("transition"):
            plan[name] = (alpha, alpha)
    convs = dict(model.named_modules())
    pieces = sorted({convs[name].out_channels for name, (_, alpha_out) in plan.items()
                     if alpha_out and not name.endswith(".conv1")})
    if any(alpha * c != math.floor(alpha * c) for c in pieces):
        raise PlacementError(
            f"DenseNet concatenates octave maps branch by branch, so alpha x c must be whole for each concatenated "
            f"map (c = {', '.join(map(str, pieces))}); alpha {alpha:g} is not: use a multiple of 1/{math.gcd(*pieces)}")
    return plan


def mobilenet_v1(model: nn.Module, alpha: float, everywhere: bool, conv_order: list[str]) -> Plan:
    """Block 0's depthwise stays vanilla and its pointwise enters (0 -> alpha); the blocks at
    1/16 resolution or finer are octave, the last of them leaving (alpha -> 0)."""
    stride = _stride(model.stem[0])
    octave_blocks = []
    for index, block in enumerate(model.blocks):
        stride *= _stride(block.depthwise[0])
        if everywhere or stride <= MOBILE_OCTAVE_MAX_STRIDE:
            octave_blocks.append(index)
    plan: Plan = {}
    last = octave_blocks[-1]
    for index in octave_blocks:
        if index > 0:
            plan[f"blocks.{index}.depthwise.0"] = (alpha, alpha)
        leaves = index == last and not everywhere
        plan[f"blocks.{index}.pointwise.0"] = (0.0 if index == 0 else alpha, 0.0 if leaves else alpha)
    return plan


def mobilenet_v2(model: nn.Module, alpha: float, everywhere: bool, conv_order: list[str]) -> Plan:
    """Only the expanded (hidden) channels of inverted-residual blocks: expand 0 -> alpha,
    depthwise alpha -> alpha, project alpha -> 0. The narrow residual stream stays vanilla, as do
    blocks without an expand conv and (by default) the blocks below 1/16 resolution."""
    stride = 1
    plan: Plan = {}
    for index, block in enumerate(model.features):
        if not hasattr(block, "use_res_connect"):
            stride *= _stride(block[0]) if isinstance(block[0], nn.Conv2d) else 1
            continue
        layers = block.conv
        depthwise = layers[-3][0]
        stride *= _stride(depthwise)
        has_expand = len(layers) == 4
        if has_expand and (everywhere or stride <= MOBILE_OCTAVE_MAX_STRIDE):
            plan[f"features.{index}.conv.0.0"] = (0.0, alpha)
            plan[f"features.{index}.conv.1.0"] = (alpha, alpha)
            plan[f"features.{index}.conv.2"] = (alpha, 0.0)
    return plan


def chain(model: nn.Module, alpha: float, everywhere: bool, conv_order: list[str]) -> Plan:
    """Any other model, read as a chain of convs in execution order: the first (the stem) stays
    vanilla, the next dense conv enters the octave, the last dense conv leaves it, everything in
    between is octave. ``everywhere`` changes nothing here: this already is the widest chain.

    A conv the converter cannot replace faithfully (see ``fidelity``) never sits inside the octave
    region: it cuts the chain, and the octave region is the longest run of convertible convs between
    such layers, entering and leaving within it, so the cut layer reads and writes plain tensors."""
    convs = dict(model.named_modules())
    runs: list[list[int]] = [[]]
    for i, name in enumerate(conv_order):
        if unconvertible_reason(convs[name]) is None:
            runs[-1].append(i)
        elif runs[-1]:
            runs.append([])
    best: tuple[int, int] | None = None
    for run in runs:
        dense = [i for i in run if i > 0 and not is_depthwise(convs[conv_order[i]])]
        if len(dense) >= 2 and (best is None or dense[-1] - dense[0] > best[1] - best[0]):
            best = (dense[0], dense[-1])
    if best is None:
        blocked = [name for name in conv_order if unconvertible_reason(convs[name]) is not None]
        raise PlacementError(
            f"an octave chain needs a stem conv and two more dense convs after it; found {len(conv_order)} conv(s)"
            + (f", of which {len(blocked)} cannot be converted ({', '.join(blocked)})" if blocked else ""))
    entry, exit_ = best
    return {name: (0.0 if i == entry else alpha, 0.0 if i == exit_ else alpha)
            for i, name in enumerate(conv_order) if entry <= i <= exit_}


def pooled_strides(plan: Plan, conv_order: list[str], convs: dict[str, nn.Module]) -> Plan:
    """(0, 0) for every stride-2 conv after the octave entry that the plan leaves vanilla (in ResNets the
    3x3 conv of the last stage's first block, in MobileNet v1 block 11's depthwise). The reference code
    (Chen et al.'s and d-li14's) runs every strided conv of the body, octave or not, as 2x2 average pooling
    then a stride-1 conv: the MACs are the same, the outputs are not, so weights trained with it only carry
    over if these convs pool too. Convs the converter cannot replace, or whose padding is not 'same' (their
    output size would change), stay as they are."""
    planned = [i for i, name in enumerate(conv_order) if name in plan]
    if not planned:
        return {}
    return {name: (0.0, 0.0) for name in conv_order[planned[0]:]
            if name not in plan and _pools_alike(convs[name])}


def _pools_alike(conv: nn.Module) -> bool:
    """A stride-2 conv whose output grid 2x2 average pooling then a stride-1 conv reproduces."""
    if unconvertible_reason(conv) is not None or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        return False
    same = all(k % 2 == 1 and p == d * (k - 1) // 2 for k, p, d in zip(conv.kernel_size, conv.padding, conv.dilation))
    return tuple(conv.stride) == (2, 2) and same


def segmentation(model: nn.Module, alpha: float, everywhere: bool, conv_order: list[str]) -> Plan:
    """torchvision's FCN and DeepLabv3: the ResNet rule on ``backbone`` (whose last stages dilate instead of
    striding), the head vanilla like a classifier: it reads the backbone's plain output."""
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise PlacementError("no backbone found (a torchvision segmentation model has model.backbone)")
    return resnet(backbone, alpha, everywhere, conv_order, prefix="backbone.")


RULES: dict[str, PlacementRule] = {
    "resnet": resnet,
    "segmentation": segmentation,
    "densenet": densenet,
    "mobilenet_v1": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2,
    "chain": chain,
}
