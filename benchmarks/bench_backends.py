"""Latency, vanilla vs Oct, prepared alike on each backend: the like-for-like matrix and the headline.

    python benchmarks/bench_backends.py                                   # resnet50, alpha 0.5, batch 1 and 8
    python benchmarks/bench_backends.py --models resnet50 resnet18 mobilenet_v2 --alphas 0.25 0.5 0.75 \\
        --backends plain eager compile --out reports/latency

Per model, batch size and backend, one interleaved timing (``octprofile.time_variants``) covers the vanilla
model and the Oct model at each alpha, all prepared by that backend. Ratios are medians of per-round ratios
against vanilla on the same backend (IQR in brackets). The headline divides the best Oct latency on any
backend by the best vanilla latency on any backend. Figures print with the machine's context; ``--out``
also writes them as Markdown and CSV.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import sys
from pathlib import Path

import octprofile
from octprofile.runtime.prepare import BACKENDS
from octprofile.runtime.timing import TimingComparison

COLUMNS = ["model", "batch", "backend", "alpha", "vanilla_ms", "oct_ms", "ratio", "ratio_iqr", "prepare_s",
           "cpu", "isa", "threads", "torch"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet50"])
    parser.add_argument("--alphas", nargs="+", type=float, default=[0.5])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--backends", nargs="+", default=["plain", "eager"], choices=list(BACKENDS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--min-run-time", type=float, default=0.15, help="seconds per variant per round")
    parser.add_argument("--out", type=Path, default=None, help="folder for latency.md and latency.csv")
    return parser.parse_args(argv)


def rows_for(model: str, batch: int, alphas: list[float], comparison: TimingComparison) -> list[dict]:
    t, c = comparison.timings, comparison.context
    rows = []
    for alpha in alphas:
        ratio, spread = comparison.ratios[f"oct-{alpha:g}"]
        rows.append(dict(model=model, batch=batch, backend=comparison.options.backend, alpha=alpha,
                         vanilla_ms=t["vanilla"].latency_ms, oct_ms=t[f"oct-{alpha:g}"].latency_ms, ratio=ratio,
                         ratio_iqr=spread, prepare_s=t[f"oct-{alpha:g}"].prepare_s, cpu=c.device_name, isa=c.isa,
                         threads=c.threads, torch=c.torch_version))
    return rows


def headline(rows: list[dict]) -> list[str]:
    """Best Oct on any backend ÷ best vanilla on any backend, per model, batch and alpha."""
    lines = []
    for key in sorted({(r["model"], r["batch"], r["alpha"]) for r in rows}):
        group = [r for r in rows if (r["model"], r["batch"], r["alpha"]) == key]
        best_vanilla = min(group, key=lambda r: r["vanilla_ms"])
        best_oct = min(group, key=lambda r: r["oct_ms"])
        lines.append(f"- {key[0]} batch {key[1]} α={key[2]:g}: best Oct ({best_oct['backend']}, "
                     f"{best_oct['oct_ms']:.2f} ms) ÷ best vanilla ({best_vanilla['backend']}, "
                     f"{best_vanilla['vanilla_ms']:.2f} ms) = {best_oct['oct_ms'] / best_vanilla['vanilla_ms']:.3f}")
    return lines


def markdown(rows: list[dict]) -> str:
    lines = ["| model | batch | backend | α | vanilla ms | Oct ms | Oct ÷ vanilla (IQR) | Oct preparation s |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['batch']} | {r['backend']} | {r['alpha']:g} | {r['vanilla_ms']:.2f} "
              f"| {r['oct_ms']:.2f} | {r['ratio']:.3f} ({r['ratio_iqr']:.3f}) | {r['prepare_s']:.2f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rows, warnings, context = [], [], None
    for model in args.models:
        study = octprofile.Study(model)
        variants = {"vanilla": study.build(0.0), **{f"oct-{a:g}": study.build(a) for a in args.alphas}}
        for batch in args.batch_sizes:
            shape = study.model.input_shape(None, batch)
            for backend in args.backends:
                print(f"{model}, batch {batch}, {backend}: timing", file=sys.stderr, flush=True)
                options = octprofile.TimingOptions(device="cpu", threads=args.threads, backend=backend,
                                                   rounds=args.rounds, min_run_time=args.min_run_time, memory=False)
                comparison = octprofile.time_variants(variants, shape, options, base="vanilla")
                context = comparison.context
                warnings += [f"{model} batch {batch} {backend}: {w}" for w in comparison.warnings]
                rows += rows_for(model, batch, args.alphas, comparison)
    described = [f"- `{name}`: {BACKENDS[name].description}" for name in args.backends]
    text = "\n".join([
        "# Latency: vanilla vs Oct, prepared alike per backend (generated by `benchmarks/bench_backends.py`)", "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- command: `{' '.join(['python', *sys.argv])}`",
        f"- machine: {context.device_name}, ISA {context.isa}, {context.threads} threads, torch "
        f"{context.torch_version}, float32, {args.rounds} interleaved rounds × {args.min_run_time} s",
        "- backends:", *(f"  {line}" for line in described), "",
        markdown(rows), "", "Headline (best on any backend):", *headline(rows),
        *(["", "Timing warnings:", *(f"- {w}" for w in warnings)] if warnings else []), ""])
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "latency.md").write_text(text)
        with open(args.out / "latency.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        print(f"written: {args.out / 'latency.md'}, {args.out / 'latency.csv'}", file=sys.stderr)


if __name__ == "__main__":
    main()
