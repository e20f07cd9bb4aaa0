"""Memory budgets: parsing '16GiB' / '512MiB' / '2GB', and the memory this machine has free."""

from __future__ import annotations

import os
import re

import torch

from octprofile.errors import BadValueError

UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
         "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_memory(text: str) -> int:
    """Bytes from '16GiB', '512 MiB', '1.5GB' or '1048576' (a plain number is bytes); units are case-blind."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in UNITS:
        raise BadValueError(f"memory {text!r} is not a size like 16GiB, 512MiB or 2GB")
    value = int(float(match.group(1)) * UNITS[unit])
    if value <= 0:
        raise BadValueError(f"memory {text!r} must be above zero")
    return value


def available_memory(device: torch.device) -> int:
    """Free memory of ``device``: the GPU's free memory, or the RAM Linux can give without swapping
    (MemAvailable in /proc/meminfo; elsewhere the free physical pages)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def gib(value: int) -> str:
    return f"{value / 2**30:.2f} GiB"
