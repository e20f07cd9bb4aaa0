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


PAPER_T2 = "paper Table 2"
PAPER_T5 = "paper Table 5"
PAPER_T9 = "paper suppl. Table 9 (pre-act.)"
DLI14 = "d-li14/octconv.pytorch"

PUBLISHED = (
    *(Published(PAPER_T2, "resnet50", a, g) for a, g in ((0, 4.1), (.125, 3.6), (.25, 3.1), (.5, 2.4), (.75, 1.9))),
    *(Published(PAPER_T9, "resnet50", a, g)
      for a, g in ((0, 4.105), (.125, 3.587), (.25, 3.123), (.5, 2.383), (.75, 1.891))),
    *(Published(PAPER_T9, "resnext50_32x4d", a, g) for a, g in ((0, 4.250), (.25, 3.196), (.5, 2.406), (.75, 1.891))),
    *(Published(PAPER_T9, "resnet101", a, g) for a, g in ((0, 7.822), (.125, 6.656), (.25, 5.625), (.5, 4.012))),
    Published(PAPER_T5, "mobilenet_v1", 0, 0.325, {"width_mult": 0.75}, "0.75 MobileNet v1"),
    Published(PAPER_T5, "mobilenet_v1", .375, 0.213, {"width_mult": 0.75}, "0.75 Oct-MobileNet v1"),
    Published(PAPER_T5, "mobilenet_v2", 0, 0.300, {}, "1.0 MobileNet v2 (reference keeps an expand conv in block 1)"),
    Published(PAPER_T5, "mobilenet_v2", .375, 0.256, {}, "1.0 Oct-MobileNet v2"),
    *(Published(DLI14, "resnet50", a, g) for a, g in ((0, 4.089), (.5, 2.367))),
    *(Published(DLI14, "resnet101", a, g) for a, g in ((0, 7.801), (.5, 3.991))),
    *(Published(DLI14, "resnet152", a, g) for a, g in ((0, 11.514), (.5, 5.615))),
    *(Published(DLI14, "mobilenet_v1", a, g) for a, g in ((0, 0.5687), (.5, 0.3182))),
)
