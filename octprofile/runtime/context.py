"""The machine a figure was measured on: what must be printed beside every latency to make it citable."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass

import torch

from octprofile.errors import BadValueError

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class MachineContext:
    torch_version: str
    device: str  # e.g. "cpu", "cuda:0"
    device_name: str  # CPU model or GPU name
    isa: str  # CPU vector instruction set PyTorch uses (e.g. AVX512, AVX2); "" on a GPU
    threads: int
    other_load: float | None  # cores other processes kept busy, on average, while the timing ran

    def as_dict(self) -> dict:
        return asdict(self)


VECTOR_FLOATS = {"AVX512": 16, "AVX2": 8}  # float32 lanes of PyTorch's CPU capabilities


def vector_floats(isa: str) -> int | None:
    """How many float32 a vector register of ``isa`` holds (the channel block of CPU conv kernels); None if unknown."""
    return VECTOR_FLOATS.get(isa)


def resolve_device(name: str) -> torch.device:
    """The device ``name`` stands for; ``"auto"`` is CUDA when a GPU is available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BadValueError(f"unknown device {name!r}; use one of {', '.join(DEVICES)}") from None
    if device.type not in ("cpu", "cuda"):
        raise BadValueError(f"device {name!r} is not supported; use one of {', '.join(DEVICES)}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BadValueError(f"device {name!r} requested but no CUDA GPU is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BadValueError(f"device {name!r} requested but only {torch.cuda.device_count()} CUDA GPU(s) exist")
    return device


def machine_context(device: torch.device, threads: int, other_load: float | None = None) -> MachineContext:
    on_gpu = device.type == "cuda"
    return MachineContext(
        torch_version=torch.__version__,
        device=str(device),
        device_name=torch.cuda.get_device_name(device) if on_gpu else cpu_name(),
        isa="" if on_gpu else torch.backends.cpu.get_cpu_capability(),
        threads=threads,
        other_load=other_load,
    )


class OtherLoad:
    """How many cores other processes kept busy between ``start()`` and ``stop()``, on average.

    The machine's busy CPU time (``/proc/stat``, hypervisor steal included) minus this process's own:
    unlike the load average, it neither lags by minutes nor counts this process's earlier work (a
    compilation just before timing). None where ``/proc/stat`` is unavailable.
    """

    def start(self) -> OtherLoad:
        self.began = (_machine_busy_seconds(), _own_cpu_seconds(), time.perf_counter())
        return self

    def stop(self) -> float | None:
        busy, own, wall = _machine_busy_seconds(), _own_cpu_seconds(), time.perf_counter()
        busy0, own0, wall0 = self.began
        if busy is None or busy0 is None or wall <= wall0:
            return None
        return max(0.0, (busy - busy0) - (own - own0)) / (wall - wall0)


def _machine_busy_seconds() -> float | None:
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle + iowait; the rest (user ... steal) is busy
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
