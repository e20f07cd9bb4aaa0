"""Published OctConv cost figures (GMACs, which the sources call "GFLOPs"), to print beside ours.

Sources: Chen et al., "Drop an Octave" (ICCV 2019) Table 2, Table 5 and supplement Table 9, and
the README of d-li14/octconv.pytorch. The paper's tool counted a few ops beyond conv + linear
(its figures sit about 0.3-0.7 % above a pure conv + linear count) and its supplement ResNets are
pre-activation variants; d-li14's figures are pure conv + linear MACs, like ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Published:
    source: str
    model: str  # our model name
    alpha: float
    gmacs: float
    options: dict = field(default_factory=dict)
    label: str = ""
    params_m: float | None = None  # published parameters (millions), where the source gives them
    reason: str = ""  # why our count may differ by more than 1 % (shown where it does)


PAPER_T2 = "paper Table 2"
PAPER_T5 = "paper Table 5"
PAPER_T9 = "paper suppl. Table 9 (pre-act.)"
DLI14 = "d-li14/octconv.pytorch"

# Which definition of each network our counts come from. The paper's supplement ResNets are pre-activation;
# a pre-activation bottleneck has the same convs (and so the same conv + linear MACs) as a post-activation one.
DEFINITIONS = {
    "resnet50": "torchvision (post-act.)", "resnet101": "torchvision (post-act.)",
    "resnet152": "torchvision (post-act.)", "resnext50_32x4d": "torchvision (post-act.)",
    "resnet26": "torchvision ResNet, Bottleneck [2,2,2,2] (post-act.)",
    "resnet200": "torchvision ResNet, Bottleneck [3,24,36,3] (post-act.)",
    "resnext101_32x4d": "torchvision ResNet, 32 groups × 4 (post-act.)",
    "se_resnet50": "project: torchvision Bottleneck + SE (post-act.)",
    "densenet121": "torchvision (pre-act., as the reference)",
    "mobilenet_v1": "project", "mobilenet_v2": "torchvision",
}

ROUNDED = "published to 0.1 G: rounding alone moves it up to ±2 %"
DENSENET = ("the paper's extra ops explain ~0.6 % (as at α=0); the rest is not reproduced by the reference "
            "code's placement (octave stem, blocks 1-3)")

PUBLISHED = (
    *(Published(PAPER_T2, "resnet50", a, g, reason=ROUNDED)
      for a, g in ((0, 4.1), (.125, 3.6), (.25, 3.1), (.5, 2.4), (.75, 1.9))),
    *(Published(PAPER_T9, "resnet26", a, g)
      for a, g in ((0, 2.353), (.125, 2.102), (.25, 1.871), (.5, 1.491), (.75, 1.216))),
    *(Published(PAPER_T9, "densenet121", a, g, reason=DENSENET if a else "")
      for a, g in ((0, 2.852), (.125, 2.428), (.25, 2.044))),
    *(Published(PAPER_T9, "resnet50", a, g)
      for a, g in ((0, 4.105), (.125, 3.587), (.25, 3.123), (.5, 2.383), (.75, 1.891))),
    *(Published(PAPER_T9, "se_resnet50", a, g)
      for a, g in ((0, 4.113), (.125, 3.594), (.25, 3.130), (.5, 2.389), (.75, 1.896))),
    *(Published(PAPER_T9, "resnext50_32x4d", a, g) for a, g in ((0, 4.250), (.25, 3.196), (.5, 2.406), (.75, 1.891))),
    *(Published(PAPER_T9, "resnet101", a, g) for a, g in ((0, 7.822), (.125, 6.656), (.25, 5.625), (.5, 4.012))),
    *(Published(PAPER_T9, "resnext101_32x4d", a, g) for a, g in ((0, 7.993), (.25, 5.719), (.5, 4.050))),
    *(Published(PAPER_T9, "resnet200", a, g) for a, g in ((0, 15.044), (.125, 12.623), (.25, 10.497), (.5, 7.183))),
    Published(PAPER_T5, "mobilenet_v1", 0, 0.325, {"width_mult": 0.75}, "0.75 MobileNet v1", 2.6),
    Published(PAPER_T5, "mobilenet_v1", .375, 0.213, {"width_mult": 0.75}, "0.75 Oct-MobileNet v1", 2.6),
    Published(PAPER_T5, "mobilenet_v1", .5, 0.321, {}, "1.0 Oct-MobileNet v1", 4.2),
    Published(PAPER_T5, "mobilenet_v2", 0, 0.300, {}, "1.0 MobileNet v2 (reference keeps an expand conv in block 1)",
              3.5),
    Published(PAPER_T5, "mobilenet_v2", .375, 0.256, {}, "1.0 Oct-MobileNet v2", 3.5,
              "the reference saves less: its Oct-MobileNet v2 (which has block 1's expand conv) keeps more of the "
              "network vanilla than our placement on torchvision's"),
    Published(PAPER_T5, "mobilenet_v2", .5, 0.295, {"width_mult": 1.125}, "1.125 Oct-MobileNet v2", 4.2,
              "torchvision widens the last 1×1 conv to 1440 at width 1.125 and rounds widths to 8; the reference's "
              "1.125 network is narrower (4.2 M parameters)"),
    *(Published(DLI14, "resnet50", a, g, params_m=25.557) for a, g in ((0, 4.089), (.5, 2.367))),
    *(Published(DLI14, "resnet101", a, g, params_m=44.549) for a, g in ((0, 7.801), (.5, 3.991))),
    *(Published(DLI14, "resnet152", a, g, params_m=60.193) for a, g in ((0, 11.514), (.5, 5.615))),
    *(Published(DLI14, "mobilenet_v1", a, g, params_m=4.232) for a, g in ((0, 0.5687), (.5, 0.3182))),
)
