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
    """Why the ratios cannot be trusted: other processes took cores the timing threads needed (the
    condition of ``cpu_contention_warning``). Several threads stall at every barrier while one of them waits
    for its core, and not alike for every variant (one such run measured Oct 2.6× slower than vanilla where
    one thread measured 0.72×); one thread that shares its core in time slices is steadier but still drifted:
    on a 2-core machine with others keeping 1.5 and 1.7 cores busy, two 1-thread runs of resnet50 α=0.5 gave
    0.70× and 0.86×, each with an IQR under 6 %. None: the timing threads had their cores."""
    if other_load is None or cpu_contention_warning(threads, other_load, cores) is None:
        return None
    plural = "s" if threads != 1 else ""
    return f"other processes took {other_load:.1f} of {cores} cores while timing at {threads} thread{plural}"
