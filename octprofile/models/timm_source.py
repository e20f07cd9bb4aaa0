"""timm's models as ``timm:NAME`` (the optional extra ``octprofile[timm]``), always built with
``pretrained=False``: nothing is downloaded.

octprofile places timm's ResNet family (the ``resnet`` module) by the ``resnet`` rule and its EfficientNet,
MobileNet v3/v4 and HardCoReNAS modules by the inverted-residual rule (``FAMILIES``). Other timm models resolve as
a chain of convs (the ``chain`` rule) and convert when their layers allow it; the conversion otherwise fails
naming the layer. Members of the placed families with a part that has no octave meaning are listed with the
reason in ``UNSUPPORTED``: they run as vanilla models only.
"""

from __future__ import annotations

import difflib
import re
from functools import partial

from octprofile.errors import MissingEngineError, UnknownModelError
from octprofile.models.resolved import ResolvedModel

PREFIX = "timm:"
INSTALL = "pip install 'octprofile[timm]'"
# timm module -> placement family (a rule of ``convert.placement.RULES``); other modules: the chain rule
FAMILIES = {"resnet": "resnet", "efficientnet": "timm_inverted_residual", "mobilenetv3": "timm_inverted_residual",
            "hardcorenas": "timm_inverted_residual"}
# timm modules whose models are convolutional networks (their stems, stages and heads are convs; hybrids whose
# stages are attention blocks are left out): what ``octprofile coverage --source timm`` surveys
CNN_MODULES = (
    "resnet", "efficientnet", "byobnet", "nfnet", "regnet", "mobilenetv3", "convnext", "cspnet", "resnetv2", "dla",
    "hrnet", "vovnet", "ghostnet", "hgnet", "rexnet", "senet", "res2net", "resnest", "vgg", "dpn", "densenet",
    "hardcorenas", "repghost", "repvit", "sknet", "selecsls", "xception", "xception_aligned", "tresnet",
    "inception_v3", "inception_v4", "inception_resnet_v2", "nasnet", "pnasnet", "fasternet", "starnet", "rdnet",
    "cspnext", "lcnetv2", "convmixer", "inception_next",
)
# (architecture pattern, the timm layer class at fault, why): the refusal names the first such layer by path
UNSUPPORTED = (
    (re.compile(r"blur"), "BlurPool2d", "its blur pooling filters the padded map with a fixed kernel, which has no "
                                        "octave version"),
    (re.compile(r"^mixnet|^tf_mixnet"), "MixedConv2d", "its MixedConv2d splits the channels into groups of "
                                                       "different kernels, which the (high, low) split would cut "
                                                       "across"),
    (re.compile(r"^gc_"), "GlobalContext", "its global-context attention (GlobalContext) reshapes the map as one "
                                           "tensor"),
    (re.compile(r"hybrid"), "MultiQueryAttention2d", "its attention blocks (MultiQueryAttention2d) reshape the map "
                                                     "as one tensor"),
    (re.compile(r"_ln$"), "LayerNormAct2d", "its LayerNormAct2d normalises each pixel over the channels of both "
                                            "frequencies"),
)


def is_timm_reference(name: str) -> bool:
    return name.startswith(PREFIX)


def import_timm():
    """The timm module, or a one-line error naming the extra to install."""
    try:
        import timm
    except ImportError:
        raise MissingEngineError(f"timm models need timm, which is not installed: {INSTALL}") from None
    return timm


def unsupported_reason(architecture: str) -> str | None:
    """Why an architecture of a family octprofile places cannot be converted (None: it can): known refusals,
    found by ``benchmarks/timm_convert_rate.py``, so that ``models --source timm`` lists only what converts."""
    return next((reason for pattern, _, reason in UNSUPPORTED if pattern.search(architecture)), None)


def unsupported_layer(architecture: str) -> str | None:
    """The timm layer class at fault where ``unsupported_reason`` refuses ``architecture``."""
    return next((layer for pattern, layer, _ in UNSUPPORTED if pattern.search(architecture)), None)


def family_of(timm, architecture: str) -> str:
    return next((family for module, family in FAMILIES.items() if architecture in timm.list_models(module=module)),
                "chain")


def input_size_of(timm, name: str) -> int:
    config = timm.models.get_pretrained_cfg(name)
    return int(config.input_size[-1]) if config is not None and config.input_size else 224


def convertible_models() -> list[tuple[str, str, int]]:
    """(``timm:NAME``, family, default input side) of every timm model octprofile converts, by family."""
    timm = import_timm()
    return [(PREFIX + name, family, input_size_of(timm, name))
            for module, family in FAMILIES.items() for name in timm.list_models(module=module)
            if unsupported_reason(name) is None]


def resolve_timm(reference: str):
    """A ``ResolvedModel`` for ``timm:NAME``; unknown names get the closest timm names as a hint."""
    name = reference[len(PREFIX):]
    timm = import_timm()
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(PREFIX + c for c in close)}?" if close else ""
        raise UnknownModelError(f"unknown timm model {name!r}{hint} (`octprofile models --source timm` lists those "
                                "octprofile converts)")
    architecture = timm.models.get_arch_name(name)
    family = family_of(timm, architecture)
    unsupported = unsupported_reason(architecture) if family != "chain" else None
    return ResolvedModel(reference, family, "timm", input_size_of(timm, name), 3, (),
                         partial(timm.create_model, name, pretrained=False), unsupported,
                         unsupported_layer(architecture) if unsupported else None)
