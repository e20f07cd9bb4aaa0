"""The paper's Table 5 (MobileNets on CPU) beside octprofile's measurement on this machine.

    python benchmarks/bench_table5.py                              # 1 thread, batch 1, eager/onnxruntime/openvino
    python benchmarks/bench_table5.py --threads 2 --out reports    # also writes reports/mobilenets_t2.md

For each of Table 5's pairs (0.75 MobileNet v1 at α .375; MobileNet v2 at α .375 and .5, width 1.0 for both
variants, where the paper's α .5 row widens Oct to 1.125), vanilla and Oct are prepared alike on every backend and
timed in the same interleaved rounds (``Study.ablate``), with the paper's split floor(α·c) and with every low
channel count rounded to a multiple of 16 (``--low-multiple 16``, the AVX-512 vector block; the split is named and
its MACs counted exactly). Ratios: medians of per-round ratios on the same backend, IQR in brackets; "best ÷ best"
divides Oct on its fastest backend by vanilla on its fastest. The paper's milliseconds come from
``../shared/reference/published.md`` (its own CPU and engine): compare the ratios, not the milliseconds.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from bench_args import at_least  # benchmarks/ is sys.path[0] when a script of it runs

from octprofile.errors import OctprofileError
from octprofile.nn import FULL, OctDesign
from octprofile.report.files import atomic_write
from octprofile.runtime.prepare import BACKENDS
from octprofile.runtime.timing import TimingOptions
from octprofile.study import Study, StudyOptions

# (label, model, width, α, the paper's vanilla ms, the paper's Oct ms); Table 5 of Chen et al. 2019
TABLE5 = (("0.75 MobileNet v1", "mobilenet_v1", 0.75, 0.375, 13.4, 11.9),
          ("1.0 MobileNet v2", "mobilenet_v2", 1.0, 0.375, 24.5, 17.1),
          ("1.0 MobileNet v2", "mobilenet_v2", 1.0, 0.5, 24.5, None))  # the paper's α .5 row is 1.125 wide
BACKEND_NAMES = ("eager", "onnxruntime", "openvino")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=at_least(1), default=1)
    parser.add_argument("--rounds", type=at_least(1), default=10)
    parser.add_argument("--min-run-time", type=float, default=0.1, help="seconds per variant per round")
    parser.add_argument("--multiple", type=at_least(1), default=16, help="the rounded split: --low-multiple N")
    parser.add_argument("--out", type=Path, help="also write mobilenets_t<threads>.md in this directory")
    return parser.parse_args(argv)


def rows_of(label: str, alpha: float, paper: tuple[float, float | None], result) -> list[str]:
    """One row per split and backend, then the split's best ÷ best."""
    vanilla_ms = {r.backend: r.latency_ms for r in result.sweep.rows if r.alpha == 0}
    paper_ratio = f"{paper[1] / paper[0]:.2f} ({paper[0]} → {paper[1]} ms)" if paper[1] else "– (1.125 wide)"
    lines = []
    for design in dict.fromkeys(r.variant for r in result.sweep.rows if r.alpha > 0):
        rows = [r for r in result.sweep.rows if r.variant == design]
        split = "floor(α·c)" if design == "full" else design
        start = f"| {label} | {alpha:g} | {split} | {rows[0].mac_ratio:.3f} | "
        lines += [f"{start}{r.backend}: {vanilla_ms[r.backend]:.2f} → {r.latency_ms:.2f} ms, **{r.latency_ratio:.3f}** "
                  f"({r.latency_ratio_iqr:.3f}) | {paper_ratio} |" for r in rows]
        lines.append(f"{start}best ÷ best: **{rows[0].best_latency_ratio:.3f}** ({rows[0].best_latency_ratio_iqr:.3f}),"
                     f" Oct on {rows[0].best_backend} | {paper_ratio} |")
    return lines


TABLE_HEADER = ["| model | α | low split | MACs ÷ vanilla | vanilla → Oct, Oct ÷ vanilla (IQR) "
                "| paper, Oct ÷ vanilla |", "|---|---|---|---|---|---|"]


def measure(threads: int, rounds: int, min_run_time: float, multiple: int):
    """Table 5's pairs timed at ``threads``, batch 1: (Markdown rows, the timing context, warning lines)."""
    backends = tuple(name for name in BACKEND_NAMES if BACKENDS[name].available())
    timing = TimingOptions(device="cpu", threads=threads, backends=backends, rounds=rounds,
                           min_run_time=min_run_time, memory=False)
    table, warnings, context = [], [], None
    for label, model, width, alpha, paper_vanilla, paper_oct in TABLE5:
        print(f"{label} α={alpha}, {threads} thread(s)", file=sys.stderr, flush=True)
        study = Study(model, StudyOptions(model_options={"width_mult": width}))
        result = study.ablate(alpha, [FULL, OctDesign(low_multiple=multiple)], fvcore=False, timing=timing)
        table += rows_of(label, alpha, (paper_vanilla, paper_oct), result)
        context = result.sweep.timed.context
        warnings += [f"- warning ({label} α {alpha}): {w}" for w in result.sweep.timed.warnings]
    return table, context, warnings


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    table, context, warnings = measure(args.threads, args.rounds, args.min_run_time, args.multiple)
    header = ["# MobileNets against the paper's Table 5 (generated by `benchmarks/bench_table5.py`)", "",
              f"- date: {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}",
              f"- command: `python benchmarks/bench_table5.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
              f"- machine: {context.device_name}, ISA {context.isa}, {context.threads} thread(s), batch 1, 224², "
              f"torch {context.torch_version}, float32, {args.rounds} interleaved rounds × {args.min_run_time} s",
              "- each backend prepares vanilla and Oct alike; ratios are medians of per-round ratios on the same "
              "backend; the paper's milliseconds are its own CPU's: compare ratios", *warnings, ""]
    text = "\n".join(header + TABLE_HEADER + table) + "\n"
    print(text)
    if args.out:
        atomic_write(args.out / f"mobilenets_t{args.threads}.md", text)


if __name__ == "__main__":
    try:
        main()
    except OctprofileError as error:  # a bad model name, --min-run-time …: one line, as the CLI says it
        sys.exit(f"error: {error}")
