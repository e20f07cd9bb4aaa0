"""A user's model given as ``package.module:callable`` or ``path/to/file.py:callable``.

Loading it imports and runs the user's code (as ``python file.py`` would); nothing is fetched
from the network. The working directory (and a file's own folder) is appended to ``sys.path`` only
here, after octprofile's own imports, so a user's ``rich.py`` never shadows a dependency. Anything the
user's code raises, ``sys.exit`` included, becomes a one-line ``CustomModelError``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedParameter

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
    except SystemExit as error:  # the user's code must not end octprofile (check would exit 0 unchecked)
        raise CustomModelError(f"{reference} called sys.exit({error.code!r}) instead of returning a model") from None
    except Exception as error:  # the user's code: report its failure in one line
        raise CustomModelError(f"{reference} raised {type(error).__name__}: {error}") from error
    if not isinstance(model, nn.Module):
        raise CustomModelError(f"{reference} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _search_also(folder: str) -> None:
    """Let the user's code import its neighbours, after everything installed (never shadowing it)."""
    folder = os.path.abspath(folder)
    if folder not in (os.path.abspath(p or os.curdir) for p in sys.path):
        sys.path.append(folder)


def _import_target(target: str, reference: str):
    path = Path(target)
    looks_like_file = "/" in target or os.sep in target or (path.suffix != ".py" and path.is_file())
    if looks_like_file and path.suffix != ".py":
        raise CustomModelError(f"custom model file {target!r} is not a .py file; give path/to/file.py:callable "
                               "or package.module:callable")
    _search_also(os.curdir)
    if target.endswith(".py"):
        if not path.is_file():
            raise CustomModelError(f"custom model file {target!r} does not exist")
        _search_also(str(path.parent))
        module_name = f"octprofile_user_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except SystemExit as error:
            sys.modules.pop(module_name, None)
            raise CustomModelError(f"importing {target} called sys.exit({error.code!r})") from None
        except Exception as error:
            sys.modules.pop(module_name, None)
            raise CustomModelError(f"importing {target} raised {type(error).__name__}: {error}") from error
        return module
    try:
        return importlib.import_module(target)
    except ImportError as error:
        raise CustomModelError(f"cannot import module {target!r} ({error})") from error
    except SystemExit as error:
        raise CustomModelError(f"importing {target} called sys.exit({error.code!r})") from None
    except Exception as error:
        raise CustomModelError(f"importing {target} raised {type(error).__name__}: {error}") from error


def as_analysed(model: nn.Module, reference: str, input_shape: tuple[int, ...]) -> nn.Module:
    """``model`` made ready for octprofile, in place: floating weights and buffers in float32 (the dtype it counts
    and converts in; a float64 or bfloat16 model counts the same MACs, and timing casts to its ``--dtype``), and
    lazy layers (``nn.LazyConv2d``...) given their shapes by one forward pass at ``input_shape`` (eval mode, no
    gradient, zeros), as their first call would."""
    if any(t.is_floating_point() and t.dtype != torch.float32 for t in (*model.parameters(), *model.buffers())):
        model.float()
    lazy = [name for name, module in model.named_modules() if isinstance(module, LazyModuleMixin)
            and module.has_uninitialized_params()]
    if not lazy:
        return model
    if input_shape[1] == 0:
        first = model.get_submodule(lazy[0])
        raise CustomModelError(f"layer '{lazy[0]}' ({type(first).__name__}) of {reference} reads the model's input "
                               "and leaves its channel count open: give the first layer its in_channels")
    device = next((t.device for t in model.parameters() if not isinstance(t, UninitializedParameter)), None)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(input_shape, device=device))
    except Exception as error:  # the user's code: report its failure in one line
        raise CustomModelError(f"{reference} raised {type(error).__name__} while its lazy layers "
                               f"({', '.join(lazy[:3])}) took their shapes from input {tuple(input_shape)}: "
                               f"{error}") from error
    finally:
        model.train(was_training)
    return model
