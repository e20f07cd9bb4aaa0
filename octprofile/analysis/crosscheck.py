"""Independent counts to check the analytic engine against: fvcore and PyTorch's FlopCounterMode."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from octprofile.analysis.rules import ATTENTION_RULES, module_rule
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
    fastpath = torch.backends.mha.get_fastpath_enabled()
    try:
        # attention traced as its linear layers and matmuls, which fvcore counts, not as one fused op
        torch.backends.mha.set_fastpath_enabled(False)
        with torch.no_grad():
            analysis = FlopCountAnalysis(model, x).set_op_handle(
                "aten::scaled_dot_product_attention", _attention_macs, "aten::baddbmm", _baddbmm_macs)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            by_operator = {op: int(v) * batch for op, v in analysis.by_operator().items()}
            unsupported = dict(analysis.unsupported_ops())
            attention = batch * _inside_attention(model, analysis)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        model.train(was_training)
    macs = sum(by_operator.get(op, 0) for op in FVCORE_MAC_OPERATORS) + attention
    return FvcoreCount(macs, sum(by_operator.values()), by_operator, unsupported)


# fvcore's operators for the matmuls inside nn.MultiheadAttention (scores and weighted sum), which the analytic
# count holds in the attention layer's MACs; elsewhere these matmuls are not conv or linear MACs
ATTENTION_OPERATORS = ("bmm", "baddbmm", "scaled_dot_product_attention")


def _shape(value) -> list[int]:
    return value.type().sizes()


def _attention_macs(inputs, outputs) -> int:
    """aten::scaled_dot_product_attention: Q·Kᵀ and the weighted sum of V, (batch x heads x L x S x head dim) each."""
    query, key = _shape(inputs[0]), _shape(inputs[1])
    return 2 * math.prod(query) * key[-2]


def _baddbmm_macs(inputs, outputs) -> int:
    """aten::baddbmm(input, batch1, batch2): batch1 @ batch2 added to input."""
    first, second = _shape(inputs[1]), _shape(inputs[2])
    return math.prod(first) * second[-1]


def _inside_attention(model: nn.Module, analysis) -> int:
    """What fvcore counted as attention matmuls inside the outermost attention layers (nn.MultiheadAttention,
    timm's attention pools: the layers whose analytic rule holds their attention matmuls)."""
    names = [name for name, module in model.named_modules() if module_rule(module) in ATTENTION_RULES]
    outermost = [name for name in names if not any(name.startswith(other + ".") for other in names)]
    counted = analysis.by_module_and_operator()
    return sum(int(counted.get(name, {}).get(op, 0)) for name in outermost for op in ATTENTION_OPERATORS)


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
