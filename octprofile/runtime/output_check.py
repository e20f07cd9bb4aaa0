"""The prepare-time check: a prepared model must compute what the built model computes.

``prepare`` runs the prepared form once on the example input and compares its output with the built model's
(an eval-mode copy at the same device and dtype, on the same input). The deviation is the largest absolute
difference over every output tensor, divided by the largest magnitude of the built model's output, so one
tolerance fits logits and feature maps of any scale. A deviation past the tolerance raises
``OutputMismatchError``: a latency of another function is worse than no latency, so nothing is timed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from octprofile.errors import OutputMismatchError
from octprofile.nn import OctPair

# relative to the output's largest magnitude; float rounding of folded weights and other kernels stays far below
TOLERANCE = 1e-4
LOW_PRECISION = {torch.float16: 2e-2, torch.bfloat16: 1e-1}  # 11 and 8 significant bits, rounded at every layer
TF32_TOLERANCE = 1e-2  # float32 convs on CUDA may run in TF32 (10 significant bits)


def tolerance(example: torch.Tensor) -> float:
    """The relative tolerance for outputs computed in ``example``'s dtype on its device."""
    if example.dtype in LOW_PRECISION:
        return LOW_PRECISION[example.dtype]
    if example.device.type == "cuda" and example.dtype == torch.float32 and (
            torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32):
        return TF32_TOLERANCE
    return TOLERANCE


def output_tensors(output) -> list[torch.Tensor]:
    """Every tensor of an output (a tensor, an octave pair, a tuple, list or dict of them), in order."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, OctPair):
        return [output.high, output.low]
    if isinstance(output, list | tuple):
        return [t for item in output for t in output_tensors(item)]
    if isinstance(output, dict):
        return [t for key in output for t in output_tensors(output[key])]
    return []


@dataclass(frozen=True)
class Reference:
    """The built model's output on the example, or why there is none."""

    tensors: list[torch.Tensor]
    missing: str = ""  # why the built model gave no output to check against


def reference_output(model: Callable, example: torch.Tensor) -> Reference:
    """``model`` (an eval-mode copy on the example's device and dtype) run once on ``example``."""
    try:
        with torch.no_grad():
            tensors = [t.detach() for t in output_tensors(model(example))]
    except Exception as error:  # noqa: BLE001 - e.g. a lone octave layer prepared on one branch of its input
        return Reference([], f"the built model does not run on the example input ({type(error).__name__})")
    if not tensors:
        return Reference([], "the built model's output holds no tensor")
    if not all(bool(t.isfinite().all()) for t in tensors if t.is_floating_point() or t.is_complex()):
        return Reference([], "the built model's output is not finite on the example input")
    return Reference(tensors)


def check_output(backend: str, runner: Callable, x: torch.Tensor, reference: Reference, limit: float) -> str:
    """The note saying how closely ``runner(x)`` matched ``reference``; ``OutputMismatchError`` past ``limit``."""
    if reference.missing:
        return f"output not checked against the built model: {reference.missing}"
    with torch.inference_mode():
        got = output_tensors(runner(x))
    want = reference.tensors
    if not got or len(got) > len(want) or any(g.shape != w.shape for g, w in zip(got, want, strict=False)):
        raise OutputMismatchError(
            f"backend {backend!r}: the prepared model's output ({_shapes(got)}) is not the built model's "
            f"({_shapes(want)}); it would time another function")
    scale = max(float(w.abs().max()) if w.numel() else 0.0 for w in want) or 1.0
    deviation = max(_deviation(g, w) for g, w in zip(got, want, strict=False))
    relative = deviation / scale
    if not relative <= limit:
        raise OutputMismatchError(
            f"backend {backend!r}: the prepared model's output differs from the built model's by up to {deviation:.3g} "
            f"({relative:.2g} of the output's largest magnitude {scale:.3g}; tolerance {limit:g}) on the example "
            "input, so its latency would be another function's; nothing was timed (a layer the backend rewrites "
            "wrongly: please report it)")
    partly = f", the first {len(got)} of its {len(want)} output tensors" if len(got) < len(want) else ""
    return (f"output checked against the built model on the example input{partly}: max deviation {relative:.1g} "
            f"of its largest magnitude (tolerance {limit:g})")


def _deviation(got: torch.Tensor, want: torch.Tensor) -> float:
    """The largest absolute difference; a NaN where the built model has a number is as far off as can be."""
    if not want.numel():
        return 0.0
    difference = (got.to(want.device, want.dtype) - want).abs().max()
    return float(torch.nan_to_num(difference.float(), nan=float("inf")))


def _shapes(tensors: list[torch.Tensor]) -> str:
    return ", ".join(str(tuple(t.shape)) for t in tensors) or "no tensor"
