"""How long ``build_model(model, alpha, device="meta")`` takes once warm: the converter's own cost (tracing, the
dry runs that settle the plan, the layer swaps), which the test suite pays for every meta model it builds.

    python benchmarks/bench_meta_build.py                                  # the default models, α 0.5, 5 builds each
    python benchmarks/bench_meta_build.py --model resnet152 --model torchvision.models:inception_v3 --builds 3

Each figure: the median seconds of ``--builds`` builds after one warm-up build (imports, caches), wall clock with
its fastest and slowest, and CPU time of this process (steadier than wall clock on a machine others share). Quote
only with the header's CPU and torch version, and compare runs of the same command.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from bench_args import at_least  # benchmarks/ is sys.path[0] when a script of it runs

from octprofile.build import build_model
from octprofile.errors import OctprofileError
from octprofile.runtime.context import cpu_name

MODELS = ("resnet50", "resnet152", "mobilenet_v2", "densenet121", "torchvision.models:inception_v3",
          "torchvision.models:maxvit_t")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help=f"repeatable (default: {', '.join(MODELS)})")
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--builds", type=at_least(1), default=5, help="timed builds per model, after one warm-up")
    parser.add_argument("--threads", type=at_least(1), default=1)
    return parser.parse_args(argv)


def build_seconds(model: str, alpha: float, builds: int) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds) of each of ``builds`` meta builds, after one untimed build."""
    build_model(model, alpha, device="meta")
    wall, cpu = [], []
    for _ in range(builds):
        start, start_cpu = time.perf_counter(), time.process_time()
        build_model(model, alpha, device="meta")
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    print(f"meta builds at α={args.alpha:g}, {args.builds} per model after a warm-up; {cpu_name()}, "
          f"{args.threads} thread(s), torch {torch.__version__}")
    for model in args.model or MODELS:
        wall, cpu = build_seconds(model, args.alpha, args.builds)
        print(f"{model:34} median {statistics.median(wall):7.3f} s  (min {min(wall):.3f}, max {max(wall):.3f}), "
              f"CPU {statistics.median(cpu):7.3f} s", flush=True)


if __name__ == "__main__":
    try:
        main()
    except OctprofileError as error:  # a bad model name, alpha, --rounds …: one line, as the CLI says it
        sys.exit(f"error: {error}")
