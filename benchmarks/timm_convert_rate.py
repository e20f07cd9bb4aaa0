"""How many of timm's convolutional models convert, per timm module: a cheap survey on the meta device.

For every model of each module in ``CNN_MODULES`` (or ``--modules``), at a small input side (default 64; counts
are exact at any size): build the vanilla model and the Oct model at ``--alpha`` (default 0.5) on the meta device,
then check that the params are equal and that the analytic MACs equal FlopCounterMode ÷ 2 (both meta passes;
fvcore needs real tensors and is left to the tests). A model that does not convert gets its one-line reason.

    PYTHONPATH=. python benchmarks/timm_convert_rate.py --csv /tmp/timm_rate.csv          # every module
    PYTHONPATH=. python benchmarks/timm_convert_rate.py --modules efficientnet,mobilenetv3 --limit 10

Prints one Markdown row per module (models, converted with equal params and exact counts, refused, mean share
of the vanilla MACs α reaches over the converted models, the most common refusal) and writes one CSV row per
model with ``--csv``. Each model's row is flushed as soon as it is done, so a long run can be watched.
"""

from __future__ import annotations

import argparse
import collections
import csv
import math
import signal
import sys
import time
import warnings

from octprofile.models.timm_source import CNN_MODULES  # noqa: E402 - after the docstring's imports

FIELDS = ("module", "model", "status", "params_equal", "counts_exact", "mac_ratio", "share_reached", "seconds",
          "reason")


class OverTime(BaseException):  # not an Exception: the survey's own ``except Exception`` lets it through
    """A model took longer than ``--max-seconds``."""


def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def survey_model(name: str, side: int, alpha: float) -> dict:
    """Build vanilla and Oct on meta, compare params and the two counters; the share of vanilla MACs α reaches."""
    from octprofile.analysis.counting import count_model
    from octprofile.analysis.crosscheck import torch_flops
    from octprofile.build import build_model
    from octprofile.nn import OctConvNd

    shape = (1, 3, side, side)
    try:
        vanilla = build_model("timm:" + name, 0.0, device="meta", input_size=side)
    except Exception as error:  # noqa: BLE001 - a survey: every failure is a row
        return dict(status="vanilla fails", reason=one_line(error))
    try:
        octave = build_model("timm:" + name, alpha, device="meta", input_size=side)
    except Exception as error:  # noqa: BLE001
        return dict(status="refused", reason=f"{type(error).__name__}: {one_line(error)}")
    try:
        v_count, o_count = count_model(vanilla, shape), count_model(octave, shape)
        flops = torch_flops(octave, shape)
    except Exception as error:  # noqa: BLE001
        return dict(status="count fails", reason=f"{type(error).__name__}: {one_line(error)}")
    params_equal = v_count.params == o_count.params
    counts_exact = 2 * o_count.macs == flops
    modules = dict(octave.named_modules())
    reached = sum(layer.macs for layer in v_count.layers
                  if isinstance(modules.get(layer.name), OctConvNd)
                  and (modules[layer.name].alpha_in, modules[layer.name].alpha_out) != (0.0, 0.0))
    ok = params_equal and counts_exact and reached > 0
    return dict(status="converts" if ok else "mismatch", params_equal=params_equal, counts_exact=counts_exact,
                mac_ratio=round(o_count.macs / v_count.macs, 4), share_reached=round(reached / v_count.macs, 4),
                reason="" if ok else "no layer reached" if reached == 0 else
                f"params {v_count.params} vs {o_count.params}, 2×MACs {2 * o_count.macs} vs FlopCounterMode {flops}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", default=",".join(CNN_MODULES))
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--limit", type=int, default=0,
                        help="at most this many models per module, evenly spaced (0: all)")
    parser.add_argument("--csv", default="")
    parser.add_argument("--max-seconds", type=int, default=0, help="give up a model after this long (0: never)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    import timm
    import torch

    torch.set_num_threads(1)

    def give_up(_signum, _frame):
        raise OverTime

    signal.signal(signal.SIGALRM, give_up)
    rows: list[dict] = []
    out = open(args.csv, "w", newline="") if args.csv else None  # noqa: SIM115 - flushed row by row
    writer = csv.DictWriter(out, FIELDS) if out else None
    if writer:
        writer.writeheader()
    for module in args.modules.split(","):
        names = timm.list_models(module=module)
        step = math.ceil(len(names) / args.limit) if args.limit else 1
        for name in names[::step]:  # evenly spaced, so a sample is the same before and after a change
            start = time.perf_counter()
            signal.alarm(args.max_seconds)
            try:
                row = dict(module=module, model=name, **survey_model(name, args.side, args.alpha))
            except OverTime:
                row = dict(module=module, model=name, status="timeout", reason=f"over {args.max_seconds} s")
            signal.alarm(0)
            row["seconds"] = round(time.perf_counter() - start, 2)
            rows.append(row)
            if writer:
                writer.writerow(row)
                out.flush()
            print(f"{module:>16} {name:<40} {row['status']:<14} {row.get('reason', '')[:110]}", file=sys.stderr)
    if out:
        out.close()
    print(summary(rows))
    return 0


def summary(rows: list[dict]) -> str:
    by_module: dict[str, list[dict]] = collections.defaultdict(list)
    for row in rows:
        by_module[row["module"]].append(row)
    lines = ["| timm module | models | convert | refused | share of MACs α reaches | most common refusal |",
             "|---|---:|---:|---:|---:|---|"]
    total = converted = 0
    for module, group in by_module.items():
        ok = [r for r in group if r["status"] == "converts"]
        reasons = collections.Counter(r.get("reason", "")[:120] for r in group if r["status"] != "converts")
        share = sum(float(r["share_reached"]) for r in ok) / len(ok) if ok else 0.0
        common = f"{reasons.most_common(1)[0][0]} ({reasons.most_common(1)[0][1]})" if reasons else ""
        lines.append(f"| {module} | {len(group)} | {len(ok)} | {len(group) - len(ok)} | "
                     f"{100 * share:.1f} % | {common.replace('|', '/')} |")
        total, converted = total + len(group), converted + len(ok)
    lines.append(f"| **all** | {total} | {converted} ({100 * converted / max(total, 1):.1f} %) | "
                 f"{total - converted} | | |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
