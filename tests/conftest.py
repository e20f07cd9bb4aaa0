import functools
import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # makes `examples.mnist_net:mnist_net` importable as a module reference

# xdist workers inherit COLUMNS=80; the CLI tests read piped output at its default width, so it goes
os.environ.pop("COLUMNS", None)

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one thread per worker: two workers with two OpenMP threads each on two cores stall each other
    torch.set_num_threads(1)

MNIST_FILE = str(ROOT / "examples" / "mnist_net.py") + ":mnist_net"


@pytest.fixture
def one_torch_thread():
    """One torch thread while a test runs: keeps real passes quick on a shared machine, where OpenMP threads
    stall each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def mnist_file() -> str:
    return MNIST_FILE


@functools.cache
def meta_model(name: str, alpha: float = 0.0, **options):
    """A model built on the meta device, shared by every test that only reads it (counting never changes it)."""
    from octprofile import build_model

    return build_model(name, alpha, device="meta", **options)


def materialised(name: str, alpha: float):
    """A real model without the cost of random initialisation: the meta model's layout, zero weights and
    unit variances. For counters, whose results depend on shapes only."""
    from octprofile import build_model

    model = build_model(name, alpha, device="meta").to_empty(device="cpu")
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            tensor.fill_(1 if key.endswith("running_var") else 0)
    return model
