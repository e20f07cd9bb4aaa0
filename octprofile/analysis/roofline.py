"""This machine's ceilings (peak MAC rate, memory bandwidth) and where a kind of work sits under them.

The ceilings are measured once per run, on the threads and dtype of the run: the peak from a large
square GEMM (``torch.mm``), the bandwidth from a large copy (each byte read once and written once).
Both are the best of a few repetitions, so they are what the machine reaches, not an average.

A kind of work is placed by comparing its measured time with its roofline time, the larger of
MACs ÷ peak and bytes ÷ bandwidth:
* ``overhead``: each call takes more than ``OVERHEAD_FACTOR`` × its roofline time and less than
  ``OVERHEAD_CALL_MS``: short calls dominated by their fixed cost (dispatch, launch, allocation);
* ``compute``: otherwise, when its MACs take longer at peak than its bytes at full bandwidth;
* ``memory``: otherwise.
A kind without an analytic count (layout reorders, fused kernels) is not placed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

GEMM_SIZE = 1024  # a 1024³ GEMM: ~1 GMAC, large enough for the blocked kernels to reach their peak
COPY_BYTES = 128 * 2**20  # far larger than any cache
REPEATS = 5
OVERHEAD_FACTOR = 4.0
OVERHEAD_CALL_MS = 0.1


@dataclass(frozen=True)
class Ceilings:
    peak_gmacs_per_s: float
    bandwidth_gb_per_s: float  # GB = 1e9 bytes

    @property
    def ridge(self) -> float:
        """MACs per byte at which compute and memory take equally long."""
        return self.peak_gmacs_per_s / self.bandwidth_gb_per_s

    def roofline_ms(self, macs: int, moved: int | None) -> float:
        return max(macs / self.peak_gmacs_per_s, (moved or 0) / self.bandwidth_gb_per_s) / 1e6

    def place(self, macs: int, moved: int | None, ms: float, calls: int) -> str:
        """'compute', 'memory' or 'overhead' (see the module docstring); '' when it cannot be placed."""
        if calls == 0 or (not macs and not moved):
            return ""
        ideal = self.roofline_ms(macs, moved)
        if ms > OVERHEAD_FACTOR * ideal and ms / calls < OVERHEAD_CALL_MS:
            return "overhead"
        return "compute" if macs / self.peak_gmacs_per_s >= (moved or 0) / self.bandwidth_gb_per_s else "memory"


def _best_seconds(work, repeats: int = REPEATS) -> float:
    work()  # warm: first-touch page faults and kernel selection are not the ceiling
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def measure_ceilings(device: torch.device, dtype: torch.dtype) -> Ceilings:
    """Peak GMAC/s and bandwidth on ``device`` and ``dtype``, with the thread count set by the caller."""
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    a = torch.randn(GEMM_SIZE, GEMM_SIZE, device=device).to(dtype)
    b = torch.randn(GEMM_SIZE, GEMM_SIZE, device=device).to(dtype)

    def gemm() -> None:
        torch.mm(a, b)
        sync()

    element = torch.empty((), dtype=dtype).element_size()
    source = torch.empty(COPY_BYTES // element, device=device, dtype=dtype).fill_(1)
    target = torch.empty_like(source)

    def copy() -> None:
        target.copy_(source)
        sync()

    peak = GEMM_SIZE**3 / _best_seconds(gemm) / 1e9
    bandwidth = 2 * COPY_BYTES / _best_seconds(copy) / 1e9
    return Ceilings(peak, bandwidth)
