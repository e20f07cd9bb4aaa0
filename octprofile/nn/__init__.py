"""The octave operator and its companions."""

from octprofile.nn.design import ABLATIONS, DOWNSAMPLING, FULL, OctDesign
from octprofile.nn.norm import OctBatchNorm2d
from octprofile.nn.octconv import PATHS, OctConv2d
from octprofile.nn.pair import OctPair, OctPairError, pool2x, upsample2x
from octprofile.nn.split import ChannelSplit, check_alpha

__all__ = ["ABLATIONS", "DOWNSAMPLING", "FULL", "PATHS", "ChannelSplit", "OctBatchNorm2d", "OctConv2d",
           "OctDesign", "OctPair", "OctPairError", "check_alpha", "pool2x", "upsample2x"]
