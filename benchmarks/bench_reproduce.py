"""Does a stated latency interval cover a rerun? Oct ÷ vanilla timed in several fresh processes.

Each process builds vanilla and Oct (same seed), prepares both on every backend asked and times them in
interleaved rounds, ``--repeat`` independent runs in that process (each preparing afresh), exactly as
``octprofile compare`` does. The parent then states, per backend, each run's median ratio and interquartile
interval, whether each interval covers the medians of the *other processes'* runs, and how the spread between
processes compares with the spread between runs inside one process (what a process holds: allocator, OpenMP
pool, core placement, against what a fresh preparation changes).

    python benchmarks/bench_reproduce.py                       # resnet50 α 0.5, all, 2 threads, 3 processes
    python benchmarks/bench_reproduce.py --backends onnxruntime,openvino --repeat 3
    python benchmarks/bench_reproduce.py --order oct-first     # which variant takes the first turn
    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_reproduce.py  # the environment reaches the children

Figures are worth quoting only with the header's CPU, ISA, threads and torch, on an otherwise idle machine (the
header gives the load average before and after, and each process's own contention measure).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from bench_args import at_least  # benchmarks/ is sys.path[0] when a script of it runs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--backends", default="all", help="comma-separated, or all (every installed backend)")
    parser.add_argument("--threads", type=at_least(1), default=2)
    parser.add_argument("--processes", type=at_least(1), default=3, help="fresh processes, one after the other")
    parser.add_argument("--repeat", type=at_least(1), default=1, help="independent runs inside each process")
    parser.add_argument("--rounds", type=at_least(2), default=10, help="at least 2: a run states quartiles")
    parser.add_argument("--order", choices=("vanilla-first", "oct-first"), default="vanilla-first",
                        help="which variant takes the first turn in each round")
    parser.add_argument("--block", type=at_least(0), default=0,
                        help="also split each run into blocks of this many consecutive rounds: does one preparation "
                             "drift as much as a fresh one differs?")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def child(args: argparse.Namespace) -> None:
    """Time once, as compare does, and print every per-round ratio as JSON on stdout."""
    from octprofile.build import build_model
    from octprofile.runtime.timing import TimingOptions, time_variants

    backends = "all" if args.backends == "all" else tuple(args.backends.split(","))
    options = TimingOptions(device="cpu", threads=args.threads, backends=backends, rounds=args.rounds,
                            repeats=args.repeat)
    built = {"vanilla": build_model(args.model, alpha=0.0, seed=0), "oct": build_model(args.model, args.alpha, seed=0)}
    order = ("oct", "vanilla") if args.order == "oct-first" else ("vanilla", "oct")
    timing = time_variants({name: built[name] for name in order}, (1, 3, 224, 224), options, base="vanilla")
    per_round = {}
    for backend in timing.options.backends:
        oct_ms, base_ms = timing.timing("oct", backend).samples_ms, timing.timing("vanilla", backend).samples_ms
        per_round[backend] = {"ratios": [o / v for o, v in zip(oct_ms, base_ms, strict=True)],
                              "vanilla_ms": statistics.median(base_ms), "oct_ms": statistics.median(oct_ms)}
    print(json.dumps({"per_round": per_round, "other_load": timing.context.other_load,
                      "threads": timing.context.threads, "cpu": timing.context.device_name,
                      "isa": timing.context.isa, "torch": timing.context.torch_version}))


def quartiles(values: list[float]) -> tuple[float, float]:
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child(args)
        return
    command = [sys.executable, __file__, "--child", *(argv if argv is not None else sys.argv[1:])]
    load_before = os.getloadavg()[0]
    results = []
    for index in range(args.processes):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(f"process {index + 1} failed: {(done.stderr.strip().splitlines() or ['no message'])[-1]}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"process {index + 1}: {time.perf_counter() - started:.0f} s, others kept "
              f"{results[-1]['other_load']:.2f} cores busy while it timed", file=sys.stderr)
    first = results[0]
    print(f"{args.model} α={args.alpha}, batch 1, 224², {first['threads']} threads, {args.rounds} rounds × "
          f"{args.repeat} run(s) per process × {args.processes} processes, order {args.order}; {first['cpu']} "
          f"({first['isa']}), torch {first['torch']}; load average {load_before:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    print("backend | process.run: median ratio [Q1, Q3] (vanilla ms, oct ms) | covers other processes' medians? |"
          " spread between processes | spread between runs in one process")
    for backend in first["per_round"]:
        runs = []  # (process, run, median, (q1, q3))
        for process, result in enumerate(results):
            ratios = result["per_round"][backend]["ratios"]
            for run in range(args.repeat):
                chunk = ratios[run * args.rounds:(run + 1) * args.rounds]
                runs.append((process, run, statistics.median(chunk), quartiles(chunk)))
        for process, run, median, (q1, q3) in runs:
            others = [m for p, _, m, _ in runs if p != process]
            covered = sum(q1 <= m <= q3 for m in others)
            timings = results[process]["per_round"][backend]
            print(f"{backend:12} {process + 1}.{run + 1}: {median:.3f} [{q1:.3f}, {q3:.3f}] "
                  f"({timings['vanilla_ms']:.2f}, {timings['oct_ms']:.2f} ms) covers {covered} of {len(others)}")
        process_medians = [statistics.median(results[p]["per_round"][backend]["ratios"])
                           for p in range(args.processes)]
        within = [max(m for p, _, m, _ in runs if p == process) - min(m for p, _, m, _ in runs if p == process)
                  for process in range(args.processes)] if args.repeat > 1 else []
        within_text = ", ".join(f"{w:.3f}" for w in within) if within else "n/a (--repeat 1)"
        pooled = [r for result in results for r in result["per_round"][backend]["ratios"]]
        low, high = quartiles(pooled)
        inside = sum(low <= median <= high for _, _, median, _ in runs)
        print(f"{backend:12} every round of every run: {statistics.median(pooled):.3f} [{low:.3f}, {high:.3f}], "
              f"covering {inside} of {len(runs)} run medians")
        if args.block:
            for process, result in enumerate(results):
                ratios = result["per_round"][backend]["ratios"]
                blocks = [statistics.median(ratios[start:start + args.block])
                          for start in range(0, len(ratios) - args.block + 1, args.block)]
                print(f"{backend:12} process {process + 1}, medians of blocks of {args.block} rounds in time order: "
                      + " ".join(f"{b:.3f}" for b in blocks) + f"; max − min {max(blocks) - min(blocks):.3f}")
        print(f"{backend:12} between processes (max − min of process medians): "
              f"{max(process_medians) - min(process_medians):.3f}; between runs inside each process: {within_text}")


if __name__ == "__main__":
    main()
