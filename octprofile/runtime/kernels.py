"""Ways to evaluate one convolution on prepared (folded, reordered) weights, and the choice between them.

Each kernel holds derived tensors only, made once when it is built; ``make_kernel`` picks the fastest
one this machine has for a given input shape. All of them compute ``F.conv2d`` with zero padding;
other padding is applied before them by the caller (see ``prepared.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CHANNELS_LAST = torch.channels_last
# A 1x1 conv runs as a plain GEMM up to this many output pixels (N*H*W) and weights; beyond, oneDNN's
# blocked kernels win (measured on 2 AVX2 cores: GEMM is 1.2-2x faster on the small maps of the
# octave branches, 10-25% slower on 56x56 maps at batch 8 and on the 2048x512 weights of ResNet's last stage).
MATMUL_MAX_ROWS = 4096
MATMUL_MAX_WEIGHTS = 300_000
# Below this many input elements (batch 1, ungrouped) F.conv2d's own im2col + GEMM path beats oneDNN,
# whose fixed cost per call (~40 us here) dominates such small convs; 20480 is also where PyTorch
# itself stops choosing oneDNN for batch-1 convs.
ONEDNN_MIN_INPUT = 20480


def channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=CHANNELS_LAST)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """A channels_last map as its (N*H*W, C) matrix, without copying."""
    return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])


class MatmulKernel:
    """A 1x1, stride-1, unpadded, ungrouped conv as one GEMM on the channels_last rows."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.weight_t = weight.flatten(1).t().contiguous()
        self.bias = bias

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        rows = _rows(x)
        out = rows @ self.weight_t if self.bias is None else torch.addmm(self.bias, rows, self.weight_t)
        return out.view(n, h, w, -1).permute(0, 3, 1, 2)

    def accumulate_(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        _rows(out).addmm_(_rows(x), self.weight_t)  # GEMM with beta=1: no temporary, no extra pass
        return out if self.bias is None else out.add_(self.bias[:, None, None])


class OneDNNKernel:
    """A conv through oneDNN with its weight reordered once, for this input shape, into the blocked
    layout the primitive wants (eager F.conv2d repeats that reorder on every call)."""

    def __init__(self, weight, bias, stride, padding, dilation, groups: int, input_shape: torch.Size) -> None:
        self.args = (list(padding), list(stride), list(dilation), groups)
        self.weight = torch.ops.mkldnn._reorder_convolution_weight(weight, *self.args, list(input_shape))
        self.bias = bias

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._convolution_pointwise(x, self.weight, self.bias, *self.args, "none", [], None)

    def accumulate_(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # oneDNN's sum post-op: the conv adds into ``out`` as it writes it
        return torch.ops.mkldnn._convolution_pointwise_.binary(out, x, self.weight, self.bias, *self.args, "add",
                                                               None, None, [], None)


class ATenKernel:
    """``F.conv2d`` on cached channels_last weights: any device and dtype (e.g. cuDNN, bfloat16)."""

    def __init__(self, weight, bias, stride, padding, dilation, groups: int) -> None:
        self.weight = channels_last(weight)
        self.bias = bias
        self.args = (tuple(stride), tuple(padding), tuple(dilation), groups)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, *self.args)

    def accumulate_(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return out.add_(self(x))


def make_kernel(weight: torch.Tensor, bias: torch.Tensor | None, stride, padding, dilation, groups: int,
                input_shape: torch.Size):
    """The fastest evaluation this machine has for one zero-padded conv on inputs of ``input_shape``."""
    stride, padding, dilation = tuple(stride), tuple(padding), tuple(dilation)
    if weight.device.type != "cpu" or weight.dtype != torch.float32 or not torch.backends.mkldnn.is_available():
        return ATenKernel(weight, bias, stride, padding, dilation, groups)
    n, _, h, w = input_shape
    pointwise = (weight.shape[-2:] == (1, 1) and stride == (1, 1) and padding == (0, 0) and groups == 1)
    if pointwise and n * h * w <= MATMUL_MAX_ROWS and weight.numel() <= MATMUL_MAX_WEIGHTS:
        return MatmulKernel(weight, bias)
    if n == 1 and groups == 1 and input_shape.numel() <= ONEDNN_MIN_INPUT:
        return ATenKernel(weight, bias, stride, padding, dilation, groups)
    return OneDNNKernel(weight, bias, stride, padding, dilation, groups, input_shape)
