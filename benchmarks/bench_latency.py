"""Inference latency of a backbone, vanilla vs octave, timed in interleaved rounds.

    python benchmarks/bench_latency.py --model resnet50 --alpha 0.5 --batch-size 1 --threads 2
"""

from __future__ import annotations

import argparse
import sys

import torch

import octprofile
from octprofile.analysis.timing import DTYPES, TimingComparison, TimingOptions, time_variants


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50", help="a name from octprofile.list_models()")
    parser.add_argument("--alpha", type=float, default=0.5, help="share of low-frequency channels in the oct variant")
    parser.add_argument("--placement", default="reference", choices=["reference", "everywhere"])
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--input-size", type=int, default=None, help="default: the model's own")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None, help="default: PyTorch's current thread count")
    parser.add_argument("--dtype", default="float32", choices=list(DTYPES))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--min-run-time", type=float, default=0.1, help="seconds per variant per round")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="seeds the weights and the input")
    return parser.parse_args(argv)


def build_variants(args: argparse.Namespace) -> dict[str, torch.nn.Module]:
    variants = {}
    for name, alpha in (("vanilla", 0.0), (f"oct a={args.alpha:g}", args.alpha)):
        torch.manual_seed(args.seed)  # the same random weights run after run
        variants[name] = octprofile.build_model(args.model, alpha, placement=args.placement,
                                                input_size=args.input_size)
    return variants


def format_comparison(comparison: TimingComparison) -> str:
    header = (f"{'variant':<14}{'median ms':>11}{'IQR ms':>9}{'ratio':>8}{'ratio IQR':>11}"
              f"{'compile s':>11}{'peak MiB':>10}")
    lines = [header, "-" * len(header)]
    for name, timing in comparison.timings.items():
        ratio, ratio_iqr = comparison.ratios[name]
        compile_s = "-" if timing.compile_s is None else f"{timing.compile_s:.1f}"
        peak = "-" if timing.peak_memory_bytes is None else f"{timing.peak_memory_bytes / 2**20:.1f}"
        lines.append(f"{name:<14}{timing.latency_ms:>11.2f}{timing.latency_iqr_ms:>9.2f}{ratio:>8.3f}"
                     f"{ratio_iqr:>11.3f}{compile_s:>11}{peak:>10}")
    context = next(iter(comparison.timings.values())).context
    lines += ["", *(f"{key}: {value}" for key, value in context.items())]
    lines += ["", *(f"warning: {warning}" for warning in comparison.warnings)]
    return "\n".join(lines).rstrip()


def show_progress(done: int, total: int) -> None:
    print(f"\rmeasured {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    options = TimingOptions(device=args.device, threads=args.threads, dtype=args.dtype,
                            channels_last=args.channels_last, compile=args.compile, rounds=args.rounds,
                            min_run_time=args.min_run_time, warmup=args.warmup, seed=args.seed)
    input_shape = octprofile.resolve(args.model).input_shape(args.input_size, args.batch_size)
    comparison = time_variants(build_variants(args), input_shape, options, on_progress=show_progress)
    print(f"{args.model}, vanilla vs octave (alpha={args.alpha:g}, placement={args.placement}), "
          f"input {tuple(input_shape)}")
    print(format_comparison(comparison))


if __name__ == "__main__":
    main()
