"""A user's model given as ``package.module:callable`` or ``path/to/file.py:callable``.

Loading it imports and runs the user's code (as ``python file.py`` would); nothing is fetched
from the network.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from torch import nn

from octprofile.errors import CustomModelError


def is_custom_reference(name: str) -> bool:
    return ":" in name


def load_custom_model(reference: str) -> nn.Module:
    target, _, attribute = reference.rpartition(":")
    if not target or not attribute:
        raise CustomModelError(f"custom model {reference!r} must look like module:callable or file.py:callable")
    module = _import_target(target, reference)
    factory = getattr(module, attribute, None)
    if factory is None:
        raise CustomModelError(f"{target!r} has no attribute {attribute!r}")
    if not callable(factory):
        raise CustomModelError(f"{reference!r} is not callable")
    try:
        model = factory()
    except Exception as error:  # the user's code: report its failure in one line
        raise CustomModelError(f"{reference} raised {type(error).__name__}: {error}") from error
    if not isinstance(model, nn.Module):
        raise CustomModelError(f"{reference} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _import_target(target: str, reference: str):
    if target.endswith(".py") or "/" in target:
        path = Path(target)
        if not path.is_file():
            raise CustomModelError(f"custom model file {target!r} does not exist")
        module_name = f"octprofile_user_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            sys.modules.pop(module_name, None)
            raise CustomModelError(f"importing {target} raised {type(error).__name__}: {error}") from error
        return module
    try:
        return importlib.import_module(target)
    except ImportError as error:
        raise CustomModelError(f"cannot import module {target!r} ({error})") from error
    except Exception as error:
        raise CustomModelError(f"importing {target} raised {type(error).__name__}: {error}") from error
