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
from collections.abc import Callable, Collection

from torch import nn

from octprofile.convert.fidelity import ConvLike, is_tf_same, unconvertible_reason
from octprofile.nn.pair import octave_dims

Plan = dict[str, tuple[float, float]]
# the plan entry of a conv no octave conv reproduces that the pair reaches (see ``settle.mend``): it reads the map the
# pair stands for (``nn.merge.MergingConv``) and writes a plain one. No conv has alpha_in 1, so it names no split.
MERGED = (1.0, 0.0)
# (model, alpha, everywhere, convs in call order, {conv: spatial size of its input}) -> plan
PlacementRule = Callable[[nn.Module, float, bool, list[str], dict[str, tuple[int, ...]]], Plan]

# mobile networks: octave where the map is at least 1/16 of the input side (14x14 at 224^2)
MOBILE_OCTAVE_MAX_STRIDE = 16


class PlacementError(ValueError):  # turned into a ConversionError by the converter
    """The model's structure does not admit the requested placement."""


def is_depthwise(conv: nn.Conv2d) -> bool:
    return conv.groups > 1 and conv.groups == conv.in_channels


def _stride(conv: nn.Conv2d) -> int:
    stride = conv.stride
    return stride[0] if isinstance(stride, tuple) else stride


def resnet(model: nn.Module, alpha: float, everywhere: bool, conv_order: list[str],
           input_sizes: dict[str, tuple[int, ...]], prefix: str = "") -> Plan:
    """Blocks of stages ``layer1..layerN``; the shortcut's conv is the one conv of ``downsample``, first
    (torchvision) or after an average pool (timm's ``avg_down`` shortcuts of ResNet-D). ``conv1`` may be a
    conv, or hold convs (a video block's conv + norm + ReLU, R(2+1)D's spatial then temporal conv): the first
    of them reads the block input. 2-d and 3-d (video) ResNets alike; ``prefix`` names where ``model`` sits
    in the converted model (a segmentation backbone). See ``residual_stages``."""
    stages = [name for name, _ in model.named_children() if name.startswith("layer")]
    if not stages:
        raise PlacementError("no layer1..layerN stages found")

    def reads_block_input(conv_name: str, block_convs: list[str]) -> bool:
        first_of_conv1 = next((n for n in block_convs if n == "conv1" or n.startswith("conv1.")), None)
        return conv_name == first_of_conv1 or conv_name.startswith("downsample.")

    return residual_stages(model, alpha, everywhere, stages, reads_block_input, prefix)


def regnet(model: nn.Module, alpha: float, everywhere: bool, conv_order: list[str],
           input_sizes: dict[str, tuple[int, ...]]) -> Plan:
    """RegNet's stages ``trunk_output.block1..4`` of bottleneck blocks, placed as ResNet's: the block input is
    read by ``f.a`` (1x1) and the projection shortcut ``proj``; the grouped 3x3 ``f.b`` keeps the vanilla groups
    on every path and its squeeze-excitation gate ``f.se`` reads the pooled map (kept dense)."""
    stages = [f"trunk_output.{name}" for name, _ in model.trunk_output.named_children()]
    return residual_stages(model, alpha, everywhere, stages,
                           lambda conv_name, _block_convs: conv_name.startswith(("f.a.", "proj.")))


def residual_stages(model: nn.Module, alpha: float, everywhere: bool, stages: list[str],
                    reads_block_input: Callable[[str, list[str]], bool], prefix: str = "") -> Plan:
    """Residual stages of blocks: the first block of the first stage enters the octave (its convs that
    ``reads_block_input``, the block's first conv and the projection shortcut, go 0 -> alpha) and, by default,
    the first block of the last stage leaves it the same way (alpha -> 0); the last stage is vanilla."""
    octave_stages = stages if everywhere else stages[:-1]
    plan: Plan = {}
    for stage_index, stage in enumerate(stages):
        for block_index, (block_name, block) in enumerate(model.get_submodule(stage).named_children()):
            block_convs = [n for n, m in block.named_modules() if isinstance(m, ConvLike)]
            for conv_name in block_convs:
                name = f"{prefix}{stage}.{block_name}.{conv_name}"
                reads_input = reads_block_input(conv_name, block_convs)
                entering = stage_index == 0 and block_index == 0 and reads_input
                leaving = stage_index == len(octave_stages) and block_index == 0 and reads_input
                if stage in octave_stages:
                    plan[name] = (0.0 if entering else alpha, alpha)
                elif leaving:
                    plan[name] = (alpha, 0.0)
    return plan


def densenet(model: nn.Module, alpha: float, everywhere: bool, conv_order: list[str],
             input_sizes: dict[str, tuple[int, ...]]) -> Plan:
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


def mobilenet_v1(model: nn.Module, alpha: float, everywhere: bool, conv_order: list[str],
                 input_sizes: dict[str, tuple[int, ...]]) -> Plan:
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


def inverted_residuals(find_blocks: Callable[[nn.Module], list[str]]) -> PlacementRule:
    """The MobileNet v2 rule for a family whose blocks ``find_blocks`` names: only the expanded (hidden) channels
    of each block go octave: its first dense conv (the expand 1x1, or EfficientNet v2's fused expand 3x3) enters
    (0 -> alpha), its depthwise and any other conv between stay at alpha, its last dense conv (the project 1x1)
    leaves (alpha -> 0). The narrow residual stream stays vanilla, and so do blocks with one dense conv (no
    expand) and, by default, blocks whose output is below 1/16 of the input side. Squeeze-excitation gates read
    the pooled map and are not in ``conv_order``. A conv that cannot be octave (``octave_obstacle``: EfficientNet-X's
    2x2 space-to-depth conv) is never a block's entry, and a block with one between its entry and exit stays
    vanilla."""

    def rule(model: nn.Module, alpha: float, everywhere: bool, conv_order: list[str],
             input_sizes: dict[str, tuple[int, ...]]) -> Plan:
        modules = dict(model.named_modules())
        input_side = max(input_sizes[conv_order[0]])  # the stem reads the model's input
        plan: Plan = {}
        for block in find_blocks(model):
            convs = [name for name in conv_order if name.startswith(block + ".")]
            dense = [name for name in convs if not is_depthwise(modules[name])
                     and octave_obstacle(modules[name]) is None]
            if len(dense) < 2 or any(octave_obstacle(modules[name]) is not None
                                     for name in convs[convs.index(dense[0]):convs.index(dense[-1]) + 1]):
                continue
            output_side = max(input_sizes[dense[-1]]) / _stride(modules[dense[-1]])
            if not (everywhere or input_side / output_side <= MOBILE_OCTAVE_MAX_STRIDE):
                continue
            for name in convs[convs.index(dense[0]):convs.index(dense[-1]) + 1]:
                plan[name] = (0.0 if name == dense[0] else alpha, 0.0 if name == dense[-1] else alpha)
        return plan

    return rule


def _blocks_with(attribute: str, part: str = "") -> Callable[[nn.Module], list[str]]:
    """The blocks of a model: its modules that have ``attribute`` (or their child ``part``)."""
    def find(model: nn.Module) -> list[str]:
        return [name + (f".{part}" if part else "") for name, module in model.named_modules()
                if hasattr(module, attribute)]
    return find


def convnext(model: nn.Module, alpha: float, everywhere: bool, conv_order: list[str],
             input_sizes: dict[str, tuple[int, ...]]) -> Plan:
    """ConvNeXt has no conv that can enter the octave, so no octave version: refused in one line."""
    raise PlacementError(
        "ConvNeXt has no layer that can enter the octave: its convs are the 4x4 stem, depthwise 7x7s (alpha in = "
        "alpha out) and 2x2 stride-2 down-sampling convs (even kernel: the two grids would not stay aligned), and "
        "its pointwise layers are nn.Linear on channels-last maps, between LayerNorms over all channels of a pixel")


def chain(model: nn.Module, alpha: float, everywhere: bool, conv_order: list[str],
          input_sizes: dict[str, tuple[int, ...]]) -> Plan:
    """Any other model, read as a chain of convs in execution order: the first (the stem) stays
    vanilla, the next dense conv enters the octave, the last dense conv leaves it, everything in
    between is octave. ``everywhere`` changes nothing here: this already is the widest chain.

    A conv that cannot be an octave conv (see ``octave_obstacle``) never sits inside the octave
    region: it cuts the chain, and the octave region is the longest run of convertible convs between
    such layers, entering and leaving within it, so the cut layer reads and writes plain tensors.
    The converter cuts the chain further where a dry run of the plan fails (``chain_region``)."""
    return chain_region(model, alpha, conv_order, ())


def octave_obstacle(conv: nn.Module) -> str | None:
    """Why ``conv`` cannot be an octave layer (None: it can): not a plain Conv2d (see ``fidelity``), or a
    geometry whose two grids would not stay aligned."""
    reason = unconvertible_reason(conv)
    if reason is not None:
        return reason
    if not (_same_padding(conv) or is_tf_same(conv) or conv.padding == "same"):  # 'same': see equivalent_padding
        return (f"kernel {tuple(conv.kernel_size)} with padding {conv.padding}: an octave conv needs an odd kernel "
                "and 'same' padding so the high and low grids stay aligned")
    octave_strides = set(tuple(conv.stride)[-octave_dims(len(conv.stride) + 2):])  # a video's time stride is free
    if len(octave_strides) != 1 or not octave_strides <= {1, 2}:
        return f"stride {tuple(conv.stride)}: an octave conv runs at stride 1 or 2"
    return None


def chain_region(model: nn.Module, alpha: float, conv_order: list[str], cuts: Collection[tuple[int, int]]) -> Plan:
    """The chain rule's plan with the chain also cut at ``cuts``: a cut (lo, hi) ends a run before conv
    ``conv_order[lo]`` and leaves convs lo..hi-1 out of every run."""
    convs = dict(model.named_modules())
    blocked = {i for i, name in enumerate(conv_order) if octave_obstacle(convs[name]) is not None}
    blocked |= {i for lo, hi in cuts for i in range(lo, hi)}
    breaks = {lo for lo, _ in cuts}
    runs: list[list[int]] = [[]]
    for i in range(len(conv_order)):
        if (i in breaks or i in blocked) and runs[-1]:
            runs.append([])
        if i not in blocked:
            runs[-1].append(i)
    best: tuple[int, int] | None = None
    for run in runs:
        dense = [i for i in run if i > 0 and not is_depthwise(convs[conv_order[i]])]
        if len(dense) >= 2 and (best is None or dense[-1] - dense[0] > best[1] - best[0]):
            best = (dense[0], dense[-1])
    if best is None:
        blocked_names = [conv_order[i] for i in sorted(blocked) if octave_obstacle(convs[conv_order[i]]) is not None]
        few = 0 < len(conv_order) <= 2
        raise PlacementError(
            f"an octave chain needs a stem conv and two more dense convs after it; found {len(conv_order)} conv(s)"
            + (f": {', '.join(conv_order)}" if few else "")
            + (f", of which {len(blocked_names)} cannot be converted ({', '.join(blocked_names[:4])}"
               f"{', ...' if len(blocked_names) > 4 else ''})" if blocked_names else "")
            + (", and the layers that cannot take the (high, low) pair leave no such run" if cuts else "")
            + ("; a model with almost no convs (a transformer) has no octave version" if few else ""))
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
    return unconvertible_reason(conv) is None and _same_padding(conv) and tuple(conv.stride) == (2, 2)


def segmentation(model: nn.Module, alpha: float, everywhere: bool, conv_order: list[str],
                 input_sizes: dict[str, tuple[int, ...]]) -> Plan:
    """torchvision's FCN and DeepLabv3: the ResNet rule on ``backbone`` (whose last stages dilate instead of
    striding), the head vanilla like a classifier: it reads the backbone's plain output."""
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise PlacementError("no backbone found (a torchvision segmentation model has model.backbone)")
    return resnet(backbone, alpha, everywhere, conv_order, input_sizes, prefix="backbone.")


def _same_padding(conv: nn.Conv2d) -> bool:
    """Numeric zero padding of d(k-1)/2 around an odd kernel: the output grid is the input grid."""
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        return False
    return all(k % 2 == 1 and p == d * (k - 1) // 2 for k, p, d in zip(conv.kernel_size, conv.padding, conv.dilation))


def or_chain(rule: PlacementRule) -> PlacementRule:
    """``rule``, or the chain rule where it plans no layer (a MobileNet of depthwise-separable blocks only, such
    as timm's LCNet and MobileNet v1: no block has two dense convs)."""
    def planned(model: nn.Module, alpha: float, everywhere: bool, conv_order: list[str],
                input_sizes: dict[str, tuple[int, ...]]) -> Plan:
        return rule(model, alpha, everywhere, conv_order, input_sizes) or chain(model, alpha, everywhere,
                                                                                conv_order, input_sizes)
    return planned


# torchvision's MobileNet v2 and v3 InvertedResidual and EfficientNet's MBConv / FusedMBConv
_TORCHVISION_INVERTED_RESIDUALS = inverted_residuals(_blocks_with("use_res_connect"))
# timm's EfficientNet / MobileNet v3 / v4 blocks (``_efficientnet_blocks``: InvertedResidual, EdgeResidual,
# UniversalInvertedResidual, ...) all say whether they add their input back
_TIMM_INVERTED_RESIDUALS = or_chain(inverted_residuals(_blocks_with("has_skip")))

RULES: dict[str, PlacementRule] = {
    "resnet": resnet,
    "densenet": densenet,
    "mobilenet_v1": mobilenet_v1,
    "mobilenet_v2": _TORCHVISION_INVERTED_RESIDUALS,
    "mobilenet_v3": _TORCHVISION_INVERTED_RESIDUALS,
    "efficientnet": _TORCHVISION_INVERTED_RESIDUALS,
    "timm_inverted_residual": _TIMM_INVERTED_RESIDUALS,
    "mnasnet": inverted_residuals(_blocks_with("apply_residual")),
    "shufflenet_v2": inverted_residuals(_blocks_with("branch2", "branch2")),
    "regnet": regnet,
    "segmentation": segmentation,
    "convnext": convnext,
    "chain": chain,
}
