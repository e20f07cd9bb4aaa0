"""How many cores the machine has free for the timing threads, read just before timing starts.

Multi-threaded CPU latencies collapse when another process holds one of the cores the timing threads need:
every parallel region waits for its slowest thread, and a pre-empted thread waits a whole time slice. Measured
on a 2-core AMD EPYC (AVX2, torch 2.14.1) with one other CPU-bound process: resnet50 at 2 threads took
1136 ms (vanilla) and 2964 ms (Oct α=0.5), a 2.61× ratio, where 1 thread took 151 and 108 ms (0.72×) in the
same minute. So the thread count is chosen from what is free:

* the cores this process may run on (``os.sched_getaffinity``),
* the cgroup's CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``), rounded down,
* the cores other processes keep busy (``/proc/stat`` per-CPU busy time over ``WINDOW`` seconds, hypervisor
  steal included, this process's own CPU time left out),

at most the thread count torch is set to (by default, the physical cores). ``choose_threads`` decides from
given readings (pure: tests feed it readings); ``read_cpu_free`` reads this machine.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from octprofile.runtime.stats import TOLERANCE

WINDOW = 0.25  # seconds of /proc/stat sampling before timing


@dataclass(frozen=True)
class CpuReadings:
    """What was read: ``busy`` is, per allowed core, the share of the window it was busy (any process, this one
    included; empty when unknown), ``own`` the cores this process used meanwhile (its share to leave out)."""

    allowed: int  # cores in this process's affinity mask
    machine: int  # cores of the machine (os.cpu_count)
    busy: tuple[float, ...] = ()
    own: float = 0.0
    quota: float | None = None  # the cgroup's CPU quota, in CPUs; None: no quota

    @property
    def others(self) -> float | None:
        """Cores other processes kept busy, on average, among the allowed ones; None when unknown."""
        return max(0.0, sum(self.busy) - self.own) if self.busy else None

    @property
    def busy_cores(self) -> int:
        """Whole cores taken by others: their busy time rounded up once above ``TOLERANCE``."""
        others = self.others or 0.0
        return min(self.allowed, max(0, math.ceil(others - TOLERANCE)))

    @property
    def quota_cores(self) -> int | None:
        return None if self.quota is None else max(1, math.floor(self.quota + 1e-9))

    @property
    def free(self) -> int:
        """Cores free for timing threads: allowed, less those busy, within the quota; never below 1."""
        room = self.allowed - self.busy_cores
        if self.quota_cores is not None:
            room = min(room, self.quota_cores)
        return max(1, room)


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count timing runs at, and why."""

    threads: int
    readings: CpuReadings | None  # None: nothing was read (one thread asked, or not on a CPU)
    asked: int | None = None  # the caller's explicit count, honoured
    setting: int | None = None  # torch's thread count, the most a free choice takes

    def describe(self) -> str:
        """For the footer: 'timed at 1 thread: 1 of 2 cores busy', 'timed at 2 threads: all 2 cores free'."""
        head = f"timed at {threads_text(self.threads)}"
        if self.asked is not None:
            return f"{head}, as asked" + (f" ({self._load()})" if self.readings is not None else "")
        if self.readings is None:
            return head
        r = self.readings
        reasons = []
        if r.busy_cores:
            reasons.append(f"{r.busy_cores} of {r.allowed} cores busy")
        if r.quota_cores is not None and self.threads == r.quota_cores < r.allowed:
            reasons.append(f"cgroup CPU quota {r.quota:g} CPUs")
        if r.allowed < r.machine and self.threads == r.allowed:
            reasons.append(f"affinity allows {r.allowed} of {r.machine} cores")
        if self.setting is not None and self.threads == self.setting < r.free:
            reasons.append(f"torch set to {threads_text(self.setting)} ({r.free} cores free)")
        if not r.busy:
            reasons.append("load unknown (no /proc/stat)")
        return f"{head}: " + ("; ".join(reasons) or f"all {r.allowed} cores free")

    def warning(self) -> str | None:
        """When an explicit count asks for more threads than cores are free."""
        if self.asked is None or self.readings is None or self.asked <= self.readings.free:
            return None
        return (f"{threads_text(self.asked)} asked but only {self.readings.free} core(s) free ({self._load()}): "
                "threads sharing a core stall each other, so latencies inflate and ratios may invert")

    def _load(self) -> str:
        r = self.readings
        if not r.busy:
            return "load unknown"
        quota = f", quota {r.quota:g} CPUs" if r.quota is not None else ""
        return f"{r.busy_cores} of {r.allowed} cores busy{quota}"


def threads_text(n: int) -> str:
    """'1 thread', '2 threads'."""
    return f"{n} thread" if n == 1 else f"{n} threads"


def choose_threads(readings: CpuReadings | None, asked: int | None, setting: int) -> ThreadChoice:
    """``asked`` when given; otherwise the free cores of ``readings``, at most ``setting`` (torch's thread
    count), at least 1; ``setting`` when nothing was read."""
    if asked is not None:
        return ThreadChoice(asked, readings, asked=asked)
    if readings is None:
        return ThreadChoice(max(1, setting), None, setting=setting)
    return ThreadChoice(max(1, min(setting, readings.free)), readings, setting=setting)


# ---- reading this machine ----

def _allowed() -> list[int]:
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return allowed or list(range(os.cpu_count() or 1))


def read_cpu_free(window: float = WINDOW) -> CpuReadings:
    """The affinity mask, the cgroup quota and each allowed core's busy share over ``window`` seconds."""
    load = CoreLoad().start()
    time.sleep(window)
    return load.stop()


class CoreLoad:
    """Each allowed core's busy share between ``start()`` and ``stop()``, and this process's own share: what
    ``read_cpu_free`` samples before timing, and what shows whether the cores stayed free while timing."""

    def start(self) -> CoreLoad:
        self.allowed = _allowed()
        self.began = (_per_cpu_jiffies(), _own_cpu_seconds(), time.perf_counter())
        return self

    def stop(self) -> CpuReadings:
        before, own_before, start = self.began
        after, own_after, end = _per_cpu_jiffies(), _own_cpu_seconds(), time.perf_counter()
        busy = ()
        if before and after:
            busy = tuple(_busy_share(before.get(cpu), after.get(cpu)) for cpu in self.allowed)
        own = (own_after - own_before) / (end - start) if end > start else 0.0
        return CpuReadings(len(self.allowed), os.cpu_count() or 1, busy, own, cgroup_quota())


def _busy_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float:
    if before is None or after is None or after[1] <= before[1]:
        return 0.0
    return min(1.0, max(0.0, (after[0] - before[0]) / (after[1] - before[1])))


def _per_cpu_jiffies(path: str = "/proc/stat") -> dict[int, tuple[int, int]]:
    """cpu index -> (busy, total) ticks: user … steal are busy, idle and iowait are not."""
    found = {}
    try:
        with open(path) as stat:
            for line in stat:
                name, *values = line.split()
                if not name.startswith("cpu") or name == "cpu":
                    continue
                ticks = [int(value) for value in values[:8]]
                total = sum(ticks)
                found[int(name[3:])] = (total - ticks[3] - ticks[4], total)
    except (OSError, ValueError, IndexError):
        return {}
    return found


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def parse_cpu_max(text: str) -> float | None:
    """cgroup v2 ``cpu.max`` ('150000 100000', or 'max 100000'): the quota in CPUs, None for no quota."""
    parts = text.split()
    if not parts or parts[0] == "max":
        return None
    period = int(parts[1]) if len(parts) > 1 else 100_000
    return int(parts[0]) / period if period > 0 else None


def parse_cfs(quota_us: str, period_us: str) -> float | None:
    """cgroup v1 ``cpu.cfs_quota_us`` (-1: no quota) over ``cpu.cfs_period_us``, in CPUs."""
    quota, period = int(quota_us), int(period_us)
    return quota / period if quota > 0 and period > 0 else None


def cgroup_quota(root: str | Path = "/sys/fs/cgroup", membership: str | Path = "/proc/self/cgroup") -> float | None:
    """The tightest CPU quota on this process's cgroup and its ancestors (v2, else v1), in CPUs; None: none."""
    root = Path(root)
    try:
        lines = Path(membership).read_text().splitlines()
    except OSError:
        lines = []
    quotas = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        names = controllers.split(",")
        if controllers == "":  # v2 (the unified hierarchy)
            quotas += [_read(d / "cpu.max", parse_cpu_max) for d in _ancestry(root, path)]
        elif "cpu" in names:
            for mount in (root / controllers, root / "cpu", root / "cpu,cpuacct", root / "cpuacct,cpu"):
                quotas += [_read_cfs(d) for d in _ancestry(mount, path)]
    found = [quota for quota in quotas if quota is not None]
    return min(found) if found else None


def _ancestry(mount: Path, path: str) -> list[Path]:
    """``mount/path`` and every folder above it up to ``mount`` (inside a container, the cgroup is often
    mounted at its own root, so the path may not exist: the mount's own files then count)."""
    parts = [part for part in path.strip("/").split("/") if part]
    return [mount.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]


def _read(path: Path, parse) -> float | None:
    try:
        return parse(path.read_text())
    except (OSError, ValueError):
        return None


def _read_cfs(folder: Path) -> float | None:
    try:
        return parse_cfs((folder / "cpu.cfs_quota_us").read_text(), (folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
