"""Independent counts to check the analytic engine against: fvcore and PyTorch's FlopCounterMode."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from octprofile.nn.meta import run_on_meta

# fvcore's operator names that are conv or linear MACs (a traced nn.Linear can appear as addmm)
FVCORE_MAC_OPERATORS = ("conv", "linear", "addmm", "matmul")


@dataclass(frozen=True)
class FvcoreCount:
    macs: int  # conv + linear part: comparable to the analytic ``macs``
    total: int  # everything fvcore counts (adds batch norm, upsampling, adaptive pooling)
    by_operator: dict[str, int]
    unsupported: dict[str, int]  # ops fvcore skipped (counted as zero), with call counts


def fvcore_count(model: nn.Module, input_shape: tuple[int, ...], seed: int = 0) -> FvcoreCount:
    """FlopCountAnalysis on the eval model with a real input of batch 1, scaled to the batch size
    (conv and linear MACs are exactly linear in the batch; tracing a big batch only costs memory)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated")
        from fvcore.nn import FlopCountAnalysis
    batch, *rest = input_shape
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((1, *rest), generator=generator)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            analysis = FlopCountAnalysis(model, x)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            by_operator = {op: int(v) * batch for op, v in analysis.by_operator().items()}
            unsupported = dict(analysis.unsupported_ops())
    finally:
        model.train(was_training)
    macs = sum(by_operator.get(op, 0) for op in FVCORE_MAC_OPERATORS)
    return FvcoreCount(macs, sum(by_operator.values()), by_operator, unsupported)


def torch_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FlopCounterMode's total on the meta device: 2 x MACs by its convention."""
    with FlopCounterMode(display=False) as counter:
        run_on_meta(model, tuple(input_shape))
    return int(counter.get_total_flops())


def counter_disagreements(macs: int, flops_torch: int, macs_fvcore: int | None) -> list[str]:
    """How the three MAC counters disagree (empty when they agree): FlopCounterMode counts 2 x MACs,
    fvcore's conv + linear part counts MACs."""
    found = []
    if flops_torch != 2 * macs:
        found.append(f"FlopCounterMode {flops_torch:,} ≠ 2 × {macs:,} MACs")
    if macs_fvcore is not None and macs_fvcore != macs:
        found.append(f"fvcore conv+linear {macs_fvcore:,} ≠ {macs:,} MACs")
    return found
