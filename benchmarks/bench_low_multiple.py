"""Channel splits that fit the vector width: Oct ÷ vanilla latency of MobileNet v2 at α 0.375 with the paper's
split, floor(α·c) low channels (36 of 96, 54 of 144, …), and with every map's low channels rounded to the nearest
multiple of 8 and of 16 (``--low-multiple``, ``OctDesign(low_multiple=N)``), on eager, onnxruntime and openvino.

    python benchmarks/bench_low_multiple.py                        # 1 thread, every installed backend of the three
    python benchmarks/bench_low_multiple.py --multiples 8 --backends onnxruntime --rounds 10
    python benchmarks/bench_low_multiple.py --no-time              # splits and counts only

Every variant (vanilla, the floor split and each rounded one) is prepared alike on each backend and timed in the
same interleaved rounds (``Study.ablate``: ratios are medians of per-round ratios on the same backend, IQR in
brackets; ``÷ floor`` divides by the floor split's latency). Counts are cross-checked (analytic = FlopCounterMode
÷ 2). The header names the CPU, its ISA, the threads and torch: a figure is only worth quoting with them, on an
otherwise idle machine.
"""

from __future__ import annotations

import argparse
import sys

from octprofile.nn import FULL, OctDesign
from octprofile.nn.octconv import OctConvNd
from octprofile.runtime.prepare import BACKENDS
from octprofile.runtime.timing import TimingOptions
from octprofile.study import Study

BACKEND_NAMES = ("eager", "onnxruntime", "openvino")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--alpha", type=float, default=0.375)
    parser.add_argument("--multiples", default="8,16", help="comma-separated N of --low-multiple N")
    parser.add_argument("--backends", default=",".join(BACKEND_NAMES),
                        help="comma-separated; those not installed here are skipped, and said so")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--min-run-time", type=float, default=0.2, help="seconds per variant per round")
    parser.add_argument("--no-time", action="store_true", help="splits and counts only")
    return parser.parse_args(argv)


def low_counts(study: Study, alpha: float, design: OctDesign) -> str:
    """The distinct (low of channels) splits of the octave maps, e.g. '36/96 54/144 …'."""
    model = study.build(alpha, device="meta", design=design)
    splits = sorted({(s.channels, s.low) for m in model.modules() if isinstance(m, OctConvNd)
                     for s in (m.in_split, m.out_split) if s.low})
    return " ".join(f"{low}/{channels}" for channels, low in splits)


def _ratio(median: float | None, iqr: float | None) -> str:
    return "" if median is None else f"{median:.3f} ({iqr:.3f})"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    designs = [FULL, *(OctDesign(low_multiple=int(n)) for n in args.multiples.split(","))]
    asked = [name.strip() for name in args.backends.split(",")]
    backends = tuple(name for name in asked if BACKENDS[name].available())
    for name in set(asked) - set(backends):
        print(f"skipped {name}: {BACKENDS[name].missing}", file=sys.stderr)
    timing = None if args.no_time or not backends else TimingOptions(
        device="cpu", threads=args.threads, backends=backends, rounds=args.rounds, min_run_time=args.min_run_time,
        memory=False)
    study = Study(args.model)
    for design in designs:
        print(f"{design.name}: low/channels {low_counts(study, args.alpha, design)}")
    print(f"{args.model} α={args.alpha:g}: counting{'' if timing is None else ' and timing'}", file=sys.stderr,
          flush=True)
    result = study.ablate(args.alpha, designs, fvcore=False, timing=timing)
    timed = result.sweep.timed
    if timed is not None:
        c = timed.context
        print(f"CPU {c.device_name}, ISA {c.isa or '?'}, {c.threads} thread{'s' * (c.threads != 1)}, torch "
              f"{c.torch_version}, float32, {args.rounds} interleaved rounds × {args.min_run_time} s per variant")
        print(*(f"  {name}: {words}" for name, words in timed.backends.items()), sep="\n")
        print(*(f"timing warning: {w}" for w in timed.warnings), sep="\n")
    print("| variant | backend | MACs ÷ vanilla | counts agree | ms (IQR) | Oct ÷ vanilla (IQR) | ÷ floor (IQR) |")
    print("|---" * 7 + "|")
    for r in result.rows:
        cells = [r.variant if r.variant != "full" else "floor(α·c)", r.backend or "", f"{r.mac_ratio:.4f}",
                 "yes" if r.counts_agree else "**no**",
                 "" if r.latency_ms is None else f"{r.latency_ms:.3f} ({r.latency_iqr_ms:.3f})",
                 _ratio(r.latency_ratio if r.alpha else None, r.latency_ratio_iqr),
                 _ratio(r.latency_ratio_vs_full if r.variant != "full" else None, r.latency_ratio_vs_full_iqr)]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
