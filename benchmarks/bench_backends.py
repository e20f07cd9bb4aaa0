"""Latency, vanilla vs Oct, prepared alike on each backend: the like-for-like matrix and the headline.

    python benchmarks/bench_backends.py            # resnet50, alpha 0.5: 2 threads batch 1 and 8, 1 thread batch 1
    python benchmarks/bench_backends.py --models resnet50 resnet18 mobilenet_v2 --alphas 0.25 0.5 0.75 \\
        --backends eager compile onnxruntime openvino --out reports

Per setting (threads x batch) and model, one timed sweep (``Study.sweep``) prepares vanilla and every Oct
variant on every backend and times them all in the same interleaved rounds. Ratios are medians of per-round
ratios against vanilla on the same backend (IQR in brackets); the headline divides the Oct variant on its
fastest backend by vanilla on its fastest backend, round by round. Figures print with the machine's context; ``--out``
also writes latency.md, latency.csv and one plot per model and setting
(latency/<model>_t<threads>_b<batch>.png).
ResNet-50 at one thread, batch 1 is also set beside the paper's Table 2; with ``--table5``, the paper's Table 5
MobileNets (``bench_table5.py``) at the thread count of each batch-1 setting, beside its milliseconds.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

import bench_table5  # benchmarks/ is sys.path[0] when a script of it runs

from octprofile.errors import OctprofileError
from octprofile.report.files import atomic_write
from octprofile.report.formats import to_csv
from octprofile.runtime.cpu_free import threads_text
from octprofile.runtime.prepare import BACKENDS
from octprofile.runtime.timing import TimingOptions
from octprofile.studies.sweep import COMPARE_COLUMNS, SweepResult, plot_title, sweep_plot
from octprofile.study import Study, StudyOptions


def setting(text: str) -> tuple[int, int]:
    try:
        threads, batch = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not THREADSxBATCH, e.g. 2x8") from None
    return threads, batch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet50"])
    parser.add_argument("--alphas", nargs="+", type=float, default=[0.5])
    parser.add_argument("--backends", nargs="+", default=["eager", "onnxruntime", "openvino"], choices=list(BACKENDS))
    parser.add_argument("--settings", nargs="+", type=setting, default=[(2, 1), (2, 8), (1, 1)],
                        metavar="THREADSxBATCH", help="timing threads and batch size, e.g. 2x1 2x8 1x1 (default; "
                        "1x1 is the paper's Table 2 setting)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--min-run-time", type=float, default=0.15, help="seconds per variant per round")
    parser.add_argument("--out", type=Path, default=None, help="folder for latency.md, latency.csv, latency/*.png")
    parser.add_argument("--table5", action="store_true",
                        help="also time the paper's Table 5 MobileNets at each batch-1 setting's threads")
    return parser.parse_args(argv)


# The paper's Table 2 (ResNet-50, one Skylake thread, TVM; vanilla also on MKL-DNN 119 ms), from
# ../shared/reference/published.md: milliseconds by alpha
TABLE2_TVM_MS = {0.0: 115.0, 0.125: 116.0, 0.25: 99.0, 0.5: 74.0, 0.75: 61.0}


def table(result: SweepResult) -> list[str]:
    """One Markdown row per backend and Oct variant, then the best-vs-best rows."""
    threads = result.timed.context.threads
    lines = []
    for backend in result.backends:
        vanilla = result.row("vanilla", backend)
        for row in result.on(backend):
            if row.alpha == 0:
                continue
            lines.append(f"| {row.model} | {threads} | {row.batch_size} | {backend} | {row.alpha:g} "
                         f"| {vanilla.latency_ms:.2f} | {row.latency_ms:.2f} "
                         f"| {row.latency_ratio:.3f} ({row.latency_ratio_iqr:.3f}) "
                         f"| {row.mac_ratio:.3f} | {vanilla.prepare_s:.1f} / {row.prepare_s:.1f} |")
    best_vanilla = result.fastest("vanilla")
    for row in result.variant_rows():
        if row.alpha > 0:
            best = result.fastest(row.variant)
            ratio = f"**{row.best_latency_ratio:.3f}** ({row.best_latency_ratio_iqr:.3f})"
            lines.append(f"| {row.model} | {threads} | {row.batch_size} | **best vs best** ({best.backend} ÷ "
                         f"{best_vanilla.backend}) | {row.alpha:g} | {best_vanilla.latency_ms:.2f} "
                         f"| {best.latency_ms:.2f} | {ratio} | {row.mac_ratio:.3f} | |")
    return lines


def paper_setting(results: list[SweepResult]) -> list[str]:
    """ResNet-50 at one thread, batch 1, per backend, beside Table 2's published milliseconds and ratio."""
    lines = []
    for result in results:
        if result.model != "resnet50" or result.timed.context.threads != 1 or result.input_shape[0] != 1:
            continue
        for backend in result.backends:
            vanilla = result.row("vanilla", backend)
            for row in result.on(backend):
                published = TABLE2_TVM_MS.get(row.alpha)
                if row.alpha == 0 or published is None:
                    continue
                lines.append(f"| {backend} | {row.alpha:g} | {vanilla.latency_ms:.1f} | {row.latency_ms:.1f} "
                             f"| {row.latency_ratio:.3f} ({row.latency_ratio_iqr:.3f}) | {TABLE2_TVM_MS[0.0]:.0f} "
                             f"| {published:.0f} | {published / TABLE2_TVM_MS[0.0]:.3f} |")
    if not lines:
        return []
    return ["", "## The paper's setting: ResNet-50, one thread, batch 1, beside Table 2", "",
            "Table 2 timed the paper's models with TVM on one Intel Skylake 2.0 GHz thread (vanilla 115 ms; "
            "119 ms on MKL-DNN); ours run on this machine's CPU, so compare the ratios, not the milliseconds.", "",
            "| backend | α | vanilla ms | Oct ms | Oct ÷ vanilla (IQR) | Table 2 vanilla ms | Table 2 Oct ms "
            "| Table 2 ratio |", "|---|---|---|---|---|---|---|---|", *lines]


def table5_sections(args: argparse.Namespace) -> list[str]:
    """With ``--table5``: per thread count of a batch-1 setting, Table 5's MobileNet pairs beside the paper's
    milliseconds (``bench_table5.py``, its split multiple; this run's rounds)."""
    if not args.table5:
        return []
    lines = []
    for threads in dict.fromkeys(t for t, batch in args.settings if batch == 1):
        table, _, warnings = bench_table5.measure(threads, args.rounds, args.min_run_time, multiple=16)
        lines += ["", f"## MobileNets beside the paper's Table 5: {threads_text(threads)}, batch 1, 224²", "",
                  "Table 5 timed its models on one CPU core (its own engine); ours are prepared alike per backend "
                  "here, with the paper's split floor(α·c) and with every low channel count a multiple of 16 "
                  "(`--low-multiple 16`); compare the ratios, not the milliseconds.", "",
                  *bench_table5.TABLE_HEADER, *table, *warnings]
    return lines


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    results: list[SweepResult] = []
    for threads, batch in args.settings:
        options = TimingOptions(device="cpu", threads=threads, backends=tuple(args.backends), rounds=args.rounds,
                                min_run_time=args.min_run_time, memory=False)
        for model in args.models:
            print(f"{model}, {threads} threads, batch {batch}: preparing and timing on {', '.join(args.backends)}",
                  file=sys.stderr, flush=True)
            study = Study(model, StudyOptions(batch_size=batch))
            results.append(study.sweep(args.alphas, fvcore=False, timing=options))
    context = results[0].timed.context
    header = ["| model | threads | batch | backend | α | vanilla ms | Oct ms | Oct ÷ vanilla (IQR) | MACs ÷ vanilla "
              "| preparation s (vanilla / Oct) |", "|---|---|---|---|---|---|---|---|---|---|"]
    rows = [line for result in results for line in table(result)]
    break_even = [f"- {r.model}, {threads_text(r.timed.context.threads)}, batch {r.input_shape[0]}, on {b}: "
                  f"{r.break_even(b).describe()}"
                  for r in results for b in r.backends] if len(args.alphas) > 1 else []
    warnings = [f"- {r.model}, {threads_text(r.timed.context.threads)}, batch {r.input_shape[0]}: {w}"
                for r in results for w in r.timed.warnings]
    text = "\n".join([
        "# Latency: vanilla vs Oct, prepared alike per backend (generated by `benchmarks/bench_backends.py`)", "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- command: `{' '.join(['python', *sys.argv])}`",
        f"- machine: {context.device_name}, ISA {context.isa}, {os.cpu_count()} cores, timed at "
        f"{', '.join(f'{threads_text(t)} batch {b}' for t, b in args.settings)}, torch "
        f"{context.torch_version}, float32, {args.rounds} interleaved rounds × {args.min_run_time} s per "
        "variant and backend (all variants and backends of one model and batch in the same rounds)",
        "- backends (each prepares vanilla and Oct alike; octave-specific work is marked):",
        *(f"  - `{name}`: {BACKENDS[name].description}" for name in args.backends), "",
        *header, *rows,
        *paper_setting(results),
        *table5_sections(args),
        *(["", "Break-even α (from which measured α Oct is faster than vanilla on the same backend):", *break_even]
          if break_even else []),
        *(["", "Timing warnings:", *warnings] if warnings else []), ""])
    print(text)
    if args.out:
        plots = args.out / "latency"
        plots.mkdir(parents=True, exist_ok=True)
        atomic_write(args.out / "latency.md", text)
        atomic_write(args.out / "latency.csv", to_csv([rec for r in results for rec in r.records()], COMPARE_COLUMNS))
        for result in results:
            atomic_write(plots / f"{result.model}_t{result.timed.context.threads}_b{result.input_shape[0]}.png",
                         sweep_plot(result, plot_title(result), "png"))
        print(f"written: {args.out / 'latency.md'}, {args.out / 'latency.csv'}, {plots}/", file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except OctprofileError as error:  # a bad model name, alpha, --rounds …: one line, as the CLI says it
        sys.exit(f"error: {error}")
