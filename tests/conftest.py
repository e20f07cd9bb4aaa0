import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # makes `examples.mnist_net:mnist_net` importable as a module reference

MNIST_FILE = str(ROOT / "examples" / "mnist_net.py") + ":mnist_net"


@pytest.fixture
def mnist_file() -> str:
    return MNIST_FILE
