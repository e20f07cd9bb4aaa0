"""Closed-form cost of an octave layer relative to the same vanilla layer (Chen et al., sec. 3).

With a fraction a_in of the input and a_out of the output channels at half resolution, each
path costs (channel fractions) x (area of the grid it runs on, relative to the vanilla output):
  stride 1: H->H 1, H->L 1/4, L->H 1/4 (the conv runs on X_L, then is upsampled), L->L 1/4
  stride 2: H->H 1, H->L 1/4, L->H 1 (X_L already has the output size),          L->L 1/4
At a_in = a_out = a, stride 1 this is 1 - 3/4 a (2 - a). A depthwise conv keeps H->H and L->L
only: 1 - 3/4 a. Exact when a * channels is an integer; floor(a * c) makes real layers differ.
The same holds in 1-d and 3-d. A 1-d low grid has 1/2 of the positions, so there the areas are 1/2 for the
1/4 above; a video's low grid halves H and W and keeps every frame (see OctConv3d), so it has 1/4 of the
positions, exactly as in 2-d, and the 2-d form applies unchanged (a temporal stride divides every path alike).
A transposed octave conv (OctConvTranspose2d) runs every path at the vanilla stride, its cross paths pooling
or up-sampling around the conv: the stride-1 form, whatever its stride.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def theory_mac_ratio(alpha_in: float, alpha_out: float, stride: int = 1, depthwise: bool = False,
                     exchange_hl: bool = True, exchange_lh: bool = True, octave_dims: int = 2) -> float:
    """``octave_dims``: how many dims the low grid halves (1 for a sequence; 2 for images and videos)."""
    low_area = 0.5 ** octave_dims
    if depthwise:
        return (1 - alpha_in) + alpha_in * low_area
    hi, li, ho, lo = 1 - alpha_in, alpha_in, 1 - alpha_out, alpha_out
    lh_area = 1.0 if stride == 2 else low_area
    ratio = hi * ho + li * lo * low_area
    ratio += hi * lo * low_area if exchange_hl else 0.0
    ratio += li * ho * lh_area if exchange_lh else 0.0
    return ratio


def theory_activation_ratio(alpha_out: float, octave_dims: int = 2) -> float:
    """Output feature-map elements against vanilla: the low part has a quarter of the pixels (half in 1-d)."""
    return 1 - (1 - 0.5 ** octave_dims) * alpha_out


def one_layer_mac_ratio(alpha: float) -> float:
    """The single-layer ratio 1 - 3/4 a (2 - a): a floor no whole network reaches, since the stem,
    the last stage and the classifier stay vanilla."""
    return theory_mac_ratio(alpha, alpha)


def layer_mac_ratio(layer) -> float:
    """The closed form for one counted layer (a ``LayerCount``): its alphas, stride, depthwise-ness and the
    paths it has; 1 for a vanilla layer."""
    return theory_mac_ratio(layer.alpha_in, layer.alpha_out, 1 if layer.transposed else layer.stride,
                            layer.depthwise, "hl" in layer.paths, "lh" in layer.paths, _octave_dims(layer))


def network_mac_ratio(layers: Sequence, vanilla_macs: Mapping[str, int]) -> float:
    """The network's MAC ratio that theory predicts: each layer's closed form weighted by the MACs of the
    same layer in the vanilla model. It differs from the counted ratio only where floor(a * c) or odd
    map sizes make a layer's real split differ from a * c."""
    total = sum(vanilla_macs[layer.name] for layer in layers)
    return sum(vanilla_macs[layer.name] * layer_mac_ratio(layer) for layer in layers) / total


def network_activation_ratio(layers: Sequence, vanilla_activations: Mapping[str, int]) -> float:
    """The same for activations: each layer's 1 - 3/4 a_out weighted by its vanilla output size."""
    total = sum(vanilla_activations[layer.name] for layer in layers)
    return sum(vanilla_activations[layer.name] * theory_activation_ratio(layer.alpha_out, _octave_dims(layer))
               for layer in layers) / total


def _octave_dims(layer) -> int:
    """How many dims a counted layer's low grid halves, from its output shape (C, *spatial)."""
    return min(len(layer.output_shapes[0]) - 1, 2) if layer.output_shapes else 2
