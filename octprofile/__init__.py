"""octprofile: what Octave Convolution really buys on a backbone.

    import octprofile
    model = octprofile.build_model("resnet50", alpha=0.5)                 # plain modules
    count = octprofile.count_model(model, (1, 3, 224, 224))               # MACs per layer and path
    fast = octprofile.prepare(model, torch.randn(1, 3, 224, 224), "eager")  # inference-only copy
    result = octprofile.compare("resnet50", 0.5, timing=octprofile.TimingOptions())

The public names are imported on first use (PEP 562), so ``import octprofile`` and the command line's
``--help``, ``--version`` and usage errors do not pay for importing torch.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING

# fvcore (last release 2022) imports torch.jit.script, which torch 2.14 deprecates; the warning is
# about fvcore's import, not about anything a user does. Set here, before any submodule can import fvcore.
warnings.filterwarnings("ignore", message=r"`?torch\.jit\.script`? is deprecated", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=r"`?torch\.jit\.script`? is deprecated", category=FutureWarning)

__version__ = "0.2.0"

# public name -> the module that defines it
_EXPORTS = {
    "count_model": "octprofile.analysis.counting",
    "build_model": "octprofile.build",
    "OctprofileError": "octprofile.errors",
    "list_models": "octprofile.models", "resolve": "octprofile.models",
    "ChannelSplit": "octprofile.nn", "OctBatchNorm2d": "octprofile.nn", "OctConv2d": "octprofile.nn",
    "OctConv1d": "octprofile.nn", "OctConv3d": "octprofile.nn", "OctConvTranspose2d": "octprofile.nn",
    "OctPair": "octprofile.nn",
    "BACKENDS": "octprofile.runtime", "PreparedModel": "octprofile.runtime", "prepare": "octprofile.runtime",
    "TimingOptions": "octprofile.runtime.timing", "time_variants": "octprofile.runtime.timing",
    "Study": "octprofile.study", "StudyOptions": "octprofile.study", "check": "octprofile.study",
    "compare": "octprofile.study", "layers": "octprofile.study", "sweep": "octprofile.study",
    "train": "octprofile.study", "StepOptions": "octprofile.runtime.training",
}
# subpackages reachable as attributes (``octprofile.nn.OctConv2d``), as when everything was imported eagerly
_SUBMODULES = {"analysis", "build", "cli", "convert", "errors", "models", "nn", "report", "results", "runtime",
               "studies", "study"}

__all__ = ["BACKENDS", "ChannelSplit", "OctBatchNorm2d", "OctConv1d", "OctConv2d", "OctConv3d", "OctConvTranspose2d",
           "OctPair", "OctprofileError", "PreparedModel",
           "Study", "StudyOptions", "TimingOptions", "__version__", "build_model", "check", "compare", "count_model",
           "layers", "list_models", "prepare", "resolve", "sweep", "time_variants", "train", "StepOptions"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBMODULES})


if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from octprofile.analysis.counting import count_model
    from octprofile.build import build_model
    from octprofile.errors import OctprofileError
    from octprofile.models import list_models, resolve
    from octprofile.nn import ChannelSplit, OctBatchNorm2d, OctConv1d, OctConv2d, OctConv3d, OctConvTranspose2d, OctPair
    from octprofile.runtime import BACKENDS, PreparedModel, prepare
    from octprofile.runtime.timing import TimingOptions, time_variants
    from octprofile.runtime.training import StepOptions
    from octprofile.study import Study, StudyOptions, check, compare, layers, sweep, train
