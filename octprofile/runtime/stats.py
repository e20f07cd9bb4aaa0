"""Summaries of repeated measurements: medians, spreads, per-round ratios and the warnings they warrant."""

from __future__ import annotations

import statistics

NOISE_LIMIT = 0.10  # IQR / median above which a figure is flagged as noisy
TOLERANCE = 0.25  # cores of other processes' busy time ignored (daemons, a terminal) before a core counts as taken


def iqr(values: list[float]) -> float:
    """Interquartile range (inclusive quartiles); 0 for a single value."""
    if len(values) < 2:
        return 0.0
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q3 - q1


def noise_warning(label: str, median: float, spread: float, limit: float = NOISE_LIMIT) -> str | None:
    """A warning when ``spread`` (an IQR) exceeds ``limit`` times ``median``, else None."""
    relative = spread / median if median else float("inf")
    if relative <= limit:
        return None
    return f"{label}: IQR/median {relative:.1%} > {limit:.0%}: noisy machine"


def cpu_contention_warning(threads: int, other_load: float, cores: int) -> str | None:
    """A warning when other processes kept busy the cores that the timing threads needed.

    OpenMP threads wait for each other at every parallel region, so one thread pre-empted by another
    process stalls them all: on a loaded machine multi-threaded latencies inflate, sometimes 100-fold.
    ``other_load`` is measured while timing, so it holds only the share the timing threads left to others.
    """
    if threads + other_load <= cores + TOLERANCE:
        return None
    return (f"other processes kept {other_load:.1f} of {cores} cores busy while timing with {threads} thread(s): "
            "latencies are inflated")


def contention_doubt(threads: int, other_load: float | None, cores: int) -> str | None:
    """Why ratios timed at several threads cannot be trusted: other processes took cores those threads
    needed (a thread pre-empted at a barrier stalls the others, and not alike for every variant: one
    such run measured Oct 2.6× slower than vanilla where one thread measured it 0.72×). One thread only
    slows down in proportion, alike for variants timed in turns, so its ratio stands (its noise is judged
    by the IQR). None: no such doubt."""
    if threads < 2 or other_load is None or cpu_contention_warning(threads, other_load, cores) is None:
        return None
    return f"other processes took {other_load:.1f} of {cores} cores while timing at {threads} threads"
