"""Issue 6 goal table: fast OctConv latency against the faster vanilla layout, CPU float32.

    python benchmarks/bench_fast.py                                  # default: ~5-8 minutes on 2 cores
    python benchmarks/bench_fast.py --rounds 20 --min-run-time 0.5   # steadier figures, ~4x longer
    python benchmarks/bench_fast.py --models resnet50 --alphas 0.5   # the goal rows only

Per model and batch size one interleaved timing (octprofile.analysis.timing.time_variants) covers:
vanilla NCHW; vanilla channels_last (the NCHW input is converted inside the timed call); vanilla with
the same generic treatment as the fast octave model (``accelerate``: cached kernels, folded norms,
channels_last), the like-for-like baseline; and per alpha the reference four-path octave model and
the fast one. Ratios are medians of per-round ratios, with their interquartile range. The goal
(issue 6) is on Oct-ResNet-50 alpha=0.5: fast / best vanilla <= 0.65 at batch 1 and <= 0.62 at batch 8.
Results go to ``--out`` as CSV and Markdown, with the machine context.
"""

from __future__ import annotations

import argparse
import copy
import csv
import datetime
import os
import statistics
import sys
from pathlib import Path

import torch
from torch import nn

import octprofile
from octprofile.analysis.timing import TimingComparison, TimingOptions, iqr, time_variants
from octprofile.nn.fast import accelerate

GOALS = {("resnet50", 0.5, 1): 0.65, ("resnet50", 0.5, 8): 0.62}
VANILLA_LAYOUTS = ("vanilla NCHW", "vanilla channels_last")
COLUMNS = ["model", "alpha", "batch", "vanilla_nchw_ms", "vanilla_cl_ms", "vanilla_fast_ms", "oct_reference_ms",
           "oct_fast_ms", "best_vanilla", "fast_vs_best", "fast_vs_best_iqr", "fast_vs_vanilla_fast",
           "fast_vs_vanilla_fast_iqr", "reference_vs_best", "goal", "meets_goal"]


class ChannelsLastInput(nn.Module):
    """A channels_last model fed the NCHW input: the conversion is part of the timed call."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.contiguous(memory_format=torch.channels_last))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet50", "mobilenet_v2"])
    parser.add_argument("--alphas", nargs="+", type=float, default=[0.25, 0.5, 0.75])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--min-run-time", type=float, default=0.15, help="seconds per variant per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="seeds the weights and the input")
    parser.add_argument("--out", type=Path, default=Path("reports/fast"))
    return parser.parse_args(argv)


def build_variants(name: str, alphas: list[float], seed: int) -> dict[str, nn.Module]:
    torch.manual_seed(seed)
    vanilla = octprofile.build_model(name)
    variants = {"vanilla NCHW": vanilla, "vanilla channels_last": ChannelsLastInput(copy.deepcopy(vanilla)),
                "vanilla fast": accelerate(copy.deepcopy(vanilla))}
    for alpha in alphas:
        torch.manual_seed(seed)
        reference = octprofile.build_model(name, alpha, impl="reference")
        fast = octprofile.build_model(name, alpha)
        fast.load_state_dict(reference.state_dict())  # the same weights in both
        variants[f"oct-reference a={alpha:g}"] = reference
        variants[f"oct-fast a={alpha:g}"] = fast
    return variants


def per_round_ratio(comparison: TimingComparison, variant: str, baseline: str) -> tuple[float, float]:
    """Median and IQR of ``variant``'s latency over ``baseline``'s, round by round."""
    ratios = [v / b for v, b in zip(comparison.timings[variant].samples_ms, comparison.timings[baseline].samples_ms,
                                    strict=True)]
    return statistics.median(ratios), iqr(ratios)


def rows_for(name: str, batch: int, alphas: list[float], comparison: TimingComparison) -> list[dict]:
    t = comparison.timings
    best = min(VANILLA_LAYOUTS, key=lambda v: t[v].latency_ms)
    rows = []
    for alpha in alphas:
        fast, reference = f"oct-fast a={alpha:g}", f"oct-reference a={alpha:g}"
        vs_best, vs_best_iqr = per_round_ratio(comparison, fast, best)
        vs_fast, vs_fast_iqr = per_round_ratio(comparison, fast, "vanilla fast")
        goal = GOALS.get((name, alpha, batch))
        rows.append({
            "model": name, "alpha": alpha, "batch": batch,
            "vanilla_nchw_ms": t["vanilla NCHW"].latency_ms, "vanilla_cl_ms": t["vanilla channels_last"].latency_ms,
            "vanilla_fast_ms": t["vanilla fast"].latency_ms, "oct_reference_ms": t[reference].latency_ms,
            "oct_fast_ms": t[fast].latency_ms, "best_vanilla": "NCHW" if best == "vanilla NCHW" else "channels_last",
            "fast_vs_best": vs_best, "fast_vs_best_iqr": vs_best_iqr,
            "fast_vs_vanilla_fast": vs_fast, "fast_vs_vanilla_fast_iqr": vs_fast_iqr,
            "reference_vs_best": per_round_ratio(comparison, reference, best)[0],
            "goal": goal, "meets_goal": None if goal is None else vs_best <= goal,
        })
    return rows


def markdown_table(rows: list[dict]) -> str:
    header = ("| model | alpha | batch | vanilla NCHW ms | vanilla CL ms | vanilla fast ms | oct-ref ms | oct-fast ms "
              "| fast / best vanilla (IQR) | fast / vanilla fast (IQR) | ref / best | goal |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in rows:
        goal = "" if r["goal"] is None else f"<= {r['goal']:.2f}: {'met' if r['meets_goal'] else 'missed'}"
        lines.append(
            f"| {r['model']} | {r['alpha']:g} | {r['batch']} | {r['vanilla_nchw_ms']:.1f} | {r['vanilla_cl_ms']:.1f} "
            f"| {r['vanilla_fast_ms']:.1f} | {r['oct_reference_ms']:.1f} | {r['oct_fast_ms']:.1f} "
            f"| {r['fast_vs_best']:.3f} ({r['fast_vs_best_iqr']:.3f}, vs {r['best_vanilla']}) "
            f"| {r['fast_vs_vanilla_fast']:.3f} ({r['fast_vs_vanilla_fast_iqr']:.3f}) "
            f"| {r['reference_vs_best']:.3f} | {goal} |")
    return "\n".join(lines)


def context_lines(args: argparse.Namespace, comparisons: list[TimingComparison]) -> list[str]:
    context = next(iter(comparisons[0].timings.values())).context
    loads = [c.timings[next(iter(c.timings))].context.get("load_average") for c in comparisons]
    return [
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- command: `{' '.join(['python', *sys.argv])}`",
        f"- CPU: {context['device_name']} ({os.cpu_count()} logical cores), torch {context['torch_version']}, "
        f"{context['threads']} threads, float32, eager",
        f"- rounds: {args.rounds} x {args.min_run_time} s per variant, {args.warmup} warm-up calls, interleaved",
        f"- load average before each timing: {', '.join('-' if x is None else f'{x:.1f}' for x in loads)}",
    ]


def write_reports(out: Path, rows: list[dict], lines: list[str], warnings: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "bench_fast.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    notes = [
        "# Fast OctConv: latency against the best vanilla layout (issue 6)", "", *lines, "",
        markdown_table(rows), "",
        "Ratios are medians of per-round ratios (IQR in brackets). *Best vanilla*: the faster of vanilla NCHW "
        "and vanilla channels_last (its NCHW-to-channels_last conversion is timed). *Vanilla fast*: the vanilla "
        "model with the same generic treatment as oct-fast (cached kernels, folded norms, channels_last), the "
        "like-for-like baseline: `fast / vanilla fast` is the part of the speed-up that is octave-specific.",
    ]
    if warnings:
        notes += ["", "Timing warnings:", *(f"- {w}" for w in warnings)]
    (out / "bench_fast.md").write_text("\n".join(notes) + "\n")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    options = TimingOptions(device="cpu", threads=args.threads, rounds=args.rounds, min_run_time=args.min_run_time,
                            warmup=args.warmup, seed=args.seed)
    rows, comparisons, warnings = [], [], []
    for name in args.models:
        variants = build_variants(name, args.alphas, args.seed)  # time_variants times copies of these
        for batch in args.batch_sizes:
            print(f"{name}, batch {batch}: timing {len(variants)} variants", file=sys.stderr, flush=True)
            shape = octprofile.resolve(name).input_shape(None, batch)
            comparison = time_variants(variants, shape, options)
            comparisons.append(comparison)
            warnings += [f"{name} batch {batch}: {w}" for w in comparison.warnings]
            rows += rows_for(name, batch, args.alphas, comparison)
            print(markdown_table(rows[-len(args.alphas):]), flush=True)
    lines = context_lines(args, comparisons)
    write_reports(args.out, rows, lines, warnings)
    print("\n".join(["", *lines, "", markdown_table(rows)]))
    print(f"\nwritten: {args.out / 'bench_fast.csv'}, {args.out / 'bench_fast.md'}")


if __name__ == "__main__":
    main()
