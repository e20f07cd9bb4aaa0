"""The machine a figure was measured on: what must be printed beside every latency to make it citable."""

from __future__ import annotations

import os
import platform
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
    load_average: float | None  # 1-minute, before timing

    def as_dict(self) -> dict:
        return asdict(self)


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


def machine_context(device: torch.device, threads: int, load_average: float | None = None) -> MachineContext:
    on_gpu = device.type == "cuda"
    return MachineContext(
        torch_version=torch.__version__,
        device=str(device),
        device_name=torch.cuda.get_device_name(device) if on_gpu else cpu_name(),
        isa="" if on_gpu else torch.backends.cpu.get_cpu_capability(),
        threads=threads,
        load_average=load_average,
    )


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on Windows, or unavailable
        return None


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
