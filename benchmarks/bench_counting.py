"""How long each counter takes on one model: the analytic engine vs FlopCounterMode vs fvcore.

    python benchmarks/bench_counting.py --model resnet50 --alpha 0.5 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from octprofile import build_model, resolve
from octprofile.analysis.counting import count_model
from octprofile.analysis.crosscheck import fvcore_count, torch_flops


def best_of(repeats: int, work) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--input-size", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    shape = resolve(args.model).input_shape(args.input_size, args.batch_size)
    meta_model = build_model(args.model, args.alpha, device="meta")
    real_model = build_model(args.model, args.alpha, seed=0)
    rows = [
        ("analytic engine (meta)", *best_of(args.repeats, lambda: count_model(meta_model, shape).macs)),
        ("FlopCounterMode (meta) / 2", *best_of(args.repeats, lambda: torch_flops(meta_model, shape) // 2)),
        ("fvcore conv+linear (real, batch 1)", *best_of(args.repeats, lambda: fvcore_count(real_model, shape).macs)),
    ]
    print(f"{args.model} α={args.alpha:g} input {shape}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}")
    print(f"{'counter':38} {'seconds':>9} {'MACs':>16}")
    for name, seconds, macs in rows:
        print(f"{name:38} {seconds:9.3f} {macs:16,}")


if __name__ == "__main__":
    main()
