"""The octave operator and its companions."""

from octprofile.nn.design import ABLATIONS, DOWNSAMPLING, FULL, OctDesign
from octprofile.nn.norm import (
    OCTAVE_NORMS,
    OctBatchNorm1d,
    OctBatchNorm2d,
    OctBatchNorm3d,
    OctBatchNormNd,
    OctGroupNorm,
    OctNormAct,
    octave_norm_class,
    octave_norm_rule,
)
from octprofile.nn.octconv import (
    OCTAVE_CONVS,
    PATHS,
    OctConv1d,
    OctConv2d,
    OctConv3d,
    OctConvNd,
    OctConvTranspose2d,
    octave_class,
)
from octprofile.nn.pair import OctPair, OctPairError, pool2x, upsample2x
from octprofile.nn.split import ChannelSplit, check_alpha, rounding_note
from octprofile.nn.std_conv import OctStdConv2d, is_std_conv

__all__ = [
    "ABLATIONS", "DOWNSAMPLING", "FULL", "OCTAVE_CONVS", "OCTAVE_NORMS", "PATHS", "ChannelSplit", "OctBatchNorm1d",
    "OctBatchNorm2d", "OctBatchNorm3d", "OctBatchNormNd", "OctConv1d", "OctConv2d", "OctConv3d", "OctConvNd",
    "OctConvTranspose2d", "OctGroupNorm", "OctNormAct", "OctDesign", "OctPair", "OctPairError", "OctStdConv2d",
    "check_alpha", "is_std_conv", "octave_class", "octave_norm_class", "octave_norm_rule", "pool2x", "rounding_note",
    "upsample2x",
]
