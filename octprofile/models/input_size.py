"""The smallest input side a model runs on, to name it when a requested size is too small."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

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
