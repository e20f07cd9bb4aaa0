import copy
import functools
import os
import sys
import tempfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # makes `examples.mnist_net:mnist_net` importable as a module reference

# xdist workers inherit COLUMNS=80; the CLI tests read piped output at its default width, so it goes
os.environ.pop("COLUMNS", None)

# The count cache (analysis/count_cache.py) is off in tests, child processes included, and never the user's: a test
# that patches the counting code would otherwise read what an unpatched run kept. Tests of the cache turn it on in
# a folder of their own (tests/studies/test_count_cache.py: ``count_cache``).
os.environ["OCTPROFILE_NO_CACHE"] = "1"
os.environ["OCTPROFILE_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), f"octprofile-test-cache-{os.getpid()}")

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one thread per worker: two workers with two OpenMP threads each on two cores stall each other
    torch.set_num_threads(1)

MNIST_FILE = str(ROOT / "examples" / "mnist_net.py") + ":mnist_net"

# A guard against regrowth: a test may build at most MAX_FULL_SIZE_BUILDS real (not meta) models of at least
# FULL_SIZE_PARAMS parameters, each paying for its random initialisation. Count on the meta device, use
# ``materialised``, or a small model (resnet20_cifar, a 3-layer net) where the property shows on it. Counted per
# test, not per module: xdist splits a module between workers, which would make a module's count depend on luck.
# OCTPROFILE_BUILD_COUNTS=FILE appends each test's count to FILE, to find the heavy ones.
FULL_SIZE_PARAMS = 1_000_000
MAX_FULL_SIZE_BUILDS = 3  # the most any test builds today (the zoo's RegNets, built on the CPU)
_full_size_builds = {"count": 0}


def _counting_full_size_builds(build):
    @functools.wraps(build)
    def counted(*args, **kwargs):
        model = build(*args, **kwargs)
        tensors = list(model.parameters())
        if tensors and not tensors[0].is_meta and sum(t.numel() for t in tensors) >= FULL_SIZE_PARAMS:
            _full_size_builds["count"] += 1
        return model

    return counted


import octprofile.build  # noqa: E402 - patched before any test module imports build_model

octprofile.build.build_model = _counting_full_size_builds(octprofile.build.build_model)


@pytest.fixture(autouse=True)
def _full_size_build_guard(request):
    _full_size_builds["count"] = 0
    yield
    built = _full_size_builds["count"]
    if os.environ.get("OCTPROFILE_BUILD_COUNTS") and built:
        with open(os.environ["OCTPROFILE_BUILD_COUNTS"], "a") as log:
            log.write(f"{built} {request.node.nodeid}\n")
    assert built <= MAX_FULL_SIZE_BUILDS, (
        f"{request.node.name} built {built} full-size models for real (at most {MAX_FULL_SIZE_BUILDS}): "
        "count on the meta device, use conftest.materialised, or a small model")


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
    from octprofile.nn.meta import materialised as given_storage

    return given_storage(copy.deepcopy(meta_model(name, alpha)))
