"""Input sizes: the spatial sizes an ``--input-size`` means for a model, and the smallest side a model runs on,
to name it when a requested size is too small."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from octprofile.errors import BadValueError
from octprofile.nn.meta import run_on_meta


def runs_at(model: nn.Module, shape_for: Callable[[int], tuple[int, ...]], size: int) -> bool:
    try:
        run_on_meta(model, shape_for(size))
        return True
    except Exception:  # noqa: BLE001 - any failure means "does not run at this size"
        return False


def smallest_input_size(model: nn.Module, shape_for: Callable[[int], tuple[int, ...]], upper: int) -> int | None:
    """The smallest side in [1, upper] at which ``model`` runs (on meta tensors), assuming that larger sides
    run once one does; None when it does not run at ``upper`` either."""
    if not runs_at(model, shape_for, upper):
        return None
    low, high = 0, upper  # runs at high, not at low (a side of 0 never runs)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if runs_at(model, shape_for, middle) else (middle, high)
    return high


InputSize = int | tuple[int, ...]


def spatial_sizes(size: InputSize, default: InputSize) -> tuple[int, ...]:
    """The spatial sizes (L; H, W; or T, H, W) of an input of ``size`` for a model whose default is ``default``.

    An int is a side: a square image, or a video's H = W with the default number of frames; a tuple gives every
    size and must have as many as the model's input has (one for a sequence, three for a video). A 1-d model's
    int is its length."""
    dims = len(default) if isinstance(default, tuple) else 2
    if isinstance(size, int):
        if dims == 1:
            return (size,)
        kept = default[:-2] if isinstance(default, tuple) else ()
        return (*kept, size, size)
    sizes = tuple(size)
    if len(sizes) != dims and not (dims == 2 and len(sizes) == 1):
        wanted = {1: "L", 2: "H,W (or one side)", 3: "T,H,W (or one side H = W)"}[dims]
        raise BadValueError(f"input size {','.join(map(str, sizes))} has {len(sizes)} value(s); this model takes "
                            f"{wanted}")
    return (sizes[0], sizes[0]) if len(sizes) == 1 and dims == 2 else sizes


def format_input_size(size: InputSize) -> str:
    """As ``--input-size`` takes it: '224', or '16,112,112'."""
    return str(size) if isinstance(size, int) else ",".join(map(str, size))
