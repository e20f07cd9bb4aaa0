"""Why fewer MACs are not less time: ``Study.explain`` per model, on every installed backend, into reports/explain.md.

    python benchmarks/bench_explain.py                          # resnet50, resnet18, mobilenet_v2; alpha 0.5; batch 1
    python benchmarks/bench_explain.py --models resnet50 --backends eager onnxruntime --out reports

Per model, vanilla and Oct are prepared on each backend, timed without the profiler (interleaved rounds), then
profiled by that backend's own profiler; the tables and the one-sentence verdicts are the ones ``octprofile
explain`` prints, computed from the rows. Wall-clock figures depend on the machine and its load: rerun on an
otherwise idle machine before quoting them. ``--out`` also writes explain.csv (every column) and one plot per model
(explain/<model>.png).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from rich.console import Console

from octprofile.report.files import atomic_write
from octprofile.report.formats import to_csv
from octprofile.runtime.prepare import BACKENDS
from octprofile.runtime.timing import TimingOptions, installed_backends
from octprofile.studies.explain import EXPLAIN_COLUMNS, explain_footer, explain_plot, explain_tables
from octprofile.study import Study, StudyOptions


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet50", "resnet18", "mobilenet_v2"])
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--backends", nargs="+", default=None, choices=list(BACKENDS),
                        help="default: every backend installed here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="folder for explain.md, explain.csv, explain/*.png")
    return parser.parse_args(argv)


def rendered(result, title: str) -> str:
    """The 80-column tables and footer, as the terminal shows them."""
    console = Console(width=80, record=True, file=open("/dev/null", "w"))  # noqa: SIM115 - closed with the console
    console.print(explain_tables(result, title))
    console.print(explain_footer(result), highlight=False, markup=False)
    text = console.export_text()
    console.file.close()
    return "\n".join(line.rstrip() for line in text.splitlines())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    backends = tuple(args.backends) if args.backends else installed_backends()
    timing = TimingOptions(device="cpu", threads=args.threads, backends=backends, rounds=args.rounds, memory=False)
    sections, records = [], []
    for name in args.models:
        result = Study(name, StudyOptions(batch_size=args.batch_size)).explain(args.alpha, timing, passes=args.passes)
        title = f"{result.model} at {result.input_shape[-1]}², batch {result.input_shape[0]}, α={args.alpha:g}"
        text = rendered(result, title)
        print(text, flush=True)
        sections.append(f"## {name}\n\n```\n{text}\n```\n")
        records += result.records()
        if args.out:
            (args.out / "explain").mkdir(parents=True, exist_ok=True)
            atomic_write(args.out / "explain" / f"{name}.png", explain_plot(result, "png"))
    if args.out:
        header = (f"# Why fewer MACs are not less time\n\nGenerated {datetime.date.today()} by "
                  f"`python benchmarks/bench_explain.py {' '.join(sys.argv[1:])}`: α={args.alpha:g}, batch "
                  f"{args.batch_size}, {args.threads} threads, backends {', '.join(backends)}; {args.passes} profiled "
                  f"passes and {args.rounds} unprofiled rounds per model and backend. Wall-clock figures depend on "
                  "the machine and its load; rerun on an idle machine before quoting them. How to read the tables: "
                  "README, \"Why is my Oct model not faster?\". Every column: explain.csv; plots: explain/.\n\n")
        atomic_write(args.out / "explain.md", header + "\n".join(sections))
        atomic_write(args.out / "explain.csv", to_csv(records, EXPLAIN_COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
