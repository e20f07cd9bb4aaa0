"""Why each conv layer the converter left vanilla stayed so, for the coverage report.

A reason is one of a few kinds, the first that applies:
  unsupported    the layer is not a conv the octave version reproduces (see ``fidelity``)
  pooled map     it reads a map pooled to 1x1 (a squeeze-excitation gate): no frequencies to split
  stem           the placement starts the octave after it
  last stage,    the placement has left the octave before it (the reference ResNet's last stage, the
  below 1/16,    MobileNets' maps below 1/16 of the input side, anything after the octave region)
  after
  depthwise      a depthwise conv keeps its channel split (alpha in = alpha out), so it cannot enter or leave
  between        anything else the placement keeps vanilla
  geometry       a kernel, padding or stride no octave conv reproduces (it ends the chain rule's region there)
(and ``classifier`` for linear layers, which the converter never touches).
"""

from __future__ import annotations

from typing import NamedTuple

from torch import nn

from octprofile.convert.placement import Plan, is_depthwise

#: attribute a converted model carries: {module path: Reason} of every conv layer left vanilla
VANILLA_REASONS_ATTR = "octprofile_vanilla_reasons"


class Reason(NamedTuple):
    """Why a layer stayed vanilla: a short kind (a table cell) and the sentence that explains it."""

    kind: str  # unsupported, pooled map, stem, after, depthwise, between, geometry, classifier
    text: str


_BELOW_1_16 = Reason("below 1/16", "the reference placement keeps the maps below 1/16 of the input side vanilla")
# what the reference placement keeps vanilla after its octave region, per family
REFERENCE_TAIL = {
    "resnet": Reason("last stage", "the reference placement keeps the last stage vanilla (its low map would be "
                                   "1/64 of the input side)"),
    "mobilenet_v1": _BELOW_1_16,
    "mobilenet_v2": _BELOW_1_16,
    "timm_inverted_residual": _BELOW_1_16,
}
POOLED_MAP = Reason("pooled map", "reads a map pooled to 1×1 (a squeeze-excitation gate): no frequencies to split; "
                                  "kept dense over both branches, as the reference SE block")
STEM = Reason("stem", "the placement starts the octave after it")
DEPTHWISE = Reason("depthwise", "a depthwise conv keeps α in = α out, so it cannot enter or leave the octave")
AFTER = Reason("after", "the placement leaves the octave before this layer")
BETWEEN = Reason("between", "outside the placement's octave layers")
CLASSIFIER = Reason("classifier", "a linear layer: only convs become octave")


def vanilla_reasons(conv_order: list[str], modules: dict[str, nn.Module], plan: Plan, skipped: dict[str, str],
                    gates: set[str], family: str, everywhere: bool) -> dict[str, Reason]:
    """{conv name: reason} for every conv in ``conv_order`` that ``plan`` leaves vanilla."""
    octave = [i for i, name in enumerate(conv_order) if plan.get(name, (0.0, 0.0)) != (0.0, 0.0)]
    # the region ends at the last conv that writes a low map: a vanilla conv after it (e.g. beside the
    # leaving conv in a block) reads plain maps only
    writes_low = [i for i in octave if plan[conv_order[i]][1] > 0]
    first, last = (octave[0], writes_low[-1]) if writes_low else (len(conv_order), -1)
    tail = AFTER if everywhere else REFERENCE_TAIL.get(family, AFTER)
    reasons = {}
    for index, name in enumerate(conv_order):
        if index in octave:
            continue
        module = modules[name]
        if name in skipped:
            reasons[name] = Reason("unsupported", skipped[name])
        elif name in gates:
            reasons[name] = POOLED_MAP
        elif index < first:
            reasons[name] = STEM
        elif index > last:
            reasons[name] = tail
        elif isinstance(module, nn.Conv2d) and is_depthwise(module):
            reasons[name] = DEPTHWISE
        else:
            reasons[name] = BETWEEN
    return reasons


def vanilla_reasons_of(model: nn.Module) -> dict[str, Reason]:
    """{module path: reason} of the conv layers a ``convert``ed model left vanilla (empty for a vanilla model)."""
    return dict(getattr(model, VANILLA_REASONS_ATTR, {}))
