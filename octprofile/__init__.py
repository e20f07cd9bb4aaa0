"""octprofile: what Octave Convolution really buys on a backbone.

    import octprofile
    model = octprofile.build_model("resnet50", alpha=0.5)                 # plain modules
    count = octprofile.count_model(model, (1, 3, 224, 224))               # MACs per layer and path
    fast = octprofile.prepare(model, torch.randn(1, 3, 224, 224), "eager")  # inference-only copy
    result = octprofile.compare("resnet50", 0.5, timing=octprofile.TimingOptions())
"""

import warnings

# fvcore (last release 2022) imports torch.jit.script, which torch 2.14 deprecates; the warning is
# about fvcore's import, not about anything a user does.
warnings.filterwarnings("ignore", message=r"`?torch\.jit\.script`? is deprecated", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=r"`?torch\.jit\.script`? is deprecated", category=FutureWarning)

from octprofile.analysis.counting import count_model  # noqa: E402
from octprofile.build import build_model  # noqa: E402
from octprofile.errors import OctprofileError  # noqa: E402
from octprofile.models import list_models, resolve  # noqa: E402
from octprofile.nn import ChannelSplit, OctBatchNorm2d, OctConv2d, OctPair  # noqa: E402
from octprofile.runtime import BACKENDS, PreparedModel, prepare  # noqa: E402
from octprofile.runtime.timing import TimingOptions, time_variants  # noqa: E402
from octprofile.study import Study, StudyOptions, check, compare, layers, sweep  # noqa: E402

__version__ = "0.2.0"
__all__ = ["BACKENDS", "ChannelSplit", "OctBatchNorm2d", "OctConv2d", "OctPair", "OctprofileError", "PreparedModel",
           "Study", "StudyOptions", "TimingOptions", "__version__", "build_model", "check", "compare", "count_model",
           "layers", "list_models", "prepare", "resolve", "sweep", "time_variants"]
