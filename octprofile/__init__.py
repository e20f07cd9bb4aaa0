"""octprofile: what Octave Convolution really buys on a backbone."""

import warnings

# fvcore (last release 2022) imports torch.jit.script, which torch 2.14 deprecates; the warning is
# about fvcore's import, not about anything a user does.
warnings.filterwarnings("ignore", message=r"`?torch\.jit\.script`? is deprecated", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=r"`?torch\.jit\.script`? is deprecated", category=FutureWarning)

from octprofile.build import build_model, resolve  # noqa: E402
from octprofile.models import list_models  # noqa: E402
from octprofile.nn import ChannelSplit, OctBatchNorm2d, OctConv2d, OctPair  # noqa: E402

__version__ = "0.1.0"
__all__ = ["ChannelSplit", "OctBatchNorm2d", "OctConv2d", "OctPair", "build_model", "list_models",
           "resolve", "__version__"]
