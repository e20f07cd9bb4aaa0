"""Training cost against α: one optimizer step's MACs (forward + backward), time and memory, vanilla and Oct.

    python benchmarks/bench_training.py                       # prints the tables of reports/training.md
    python benchmarks/bench_training.py --out reports         # also writes training.md, training.csv, one png each
    python benchmarks/bench_training.py --no-measure          # analytic only (seconds)

Settings: ResNet-50, ResNet-18 and MobileNetV2 at α 0, 0.25, 0.5, 0.75, batch 32 at 224², SGD with momentum,
on the CPU. Each model is one ``Study.train_sweep``: MACs analytic and traced (FlopCounterMode), memory analytic
(from shapes) and measured on a real step (profiler memory events; saved-tensor hooks), step time in interleaved
rounds, and the largest batch that fits the memory budget (analytic).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from octprofile.report.files import atomic_write
from octprofile.report.formats import to_csv
from octprofile.runtime.budget import parse_memory
from octprofile.runtime.training import StepOptions
from octprofile.studies.train import TRAINING_COLUMNS, TrainingResult, training_plot, training_plot_title
from octprofile.study import Study, StudyOptions

MODELS = ("resnet50", "resnet18", "mobilenet_v2")
ALPHAS = (0.0, 0.25, 0.5, 0.75)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--optimizer", default="sgd")
    parser.add_argument("--memory", default="16GiB", help="budget for the largest batch")
    parser.add_argument("--no-measure", action="store_true", help="analytic only")
    parser.add_argument("--out", type=Path, default=None, help="folder for training.md, training.csv and plots")
    return parser.parse_args(argv)


def _gib(value: int | None) -> str:
    return "" if value is None else f"{value / 2**30:.3f}"


def table(result: TrainingResult) -> list[str]:
    lines = ["| α | train GMACs | FLOPs ÷ 2 = analytic | MACs ÷ vanilla (theory) | step ms (IQR) | step ÷ vanilla "
             "(IQR) | kept high GiB | kept low GiB | peak GiB analytic | peak GiB measured | measured ÷ analytic "
             "| peak ÷ vanilla | largest batch |",
             "|---" * 13 + "|"]
    for r in result.rows:
        timed = r.step_ms is not None
        lines.append("| " + " | ".join([
            f"{r.alpha:g}", f"{r.train_macs / 1e9:.2f}", "yes" if r.train_counts_agree else "**no**",
            f"{r.train_mac_ratio:.3f} ({r.theory_train_mac_ratio:.3f})",
            f"{r.step_ms:.0f} ({r.step_iqr_ms:.0f})" if timed else "",
            f"{r.step_ratio:.3f} ({r.step_ratio_iqr:.3f})" if timed else "",
            _gib(r.saved_high_bytes), _gib(r.saved_low_bytes), _gib(r.peak_train_bytes),
            _gib(r.measured_peak_train_bytes),
            "" if r.measured_peak_vs_analytic is None else f"{r.measured_peak_vs_analytic:.3f}",
            f"{r.peak_train_ratio:.3f}", str(r.max_batch_size)]) + " |")
    return lines


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    steps = None if args.no_measure else StepOptions(device="cpu", threads=args.threads, rounds=args.rounds)
    budget = parse_memory(args.memory)
    sections, results = [], []
    for model in args.models.split(","):
        print(f"{model}: training steps at α {', '.join(f'{a:g}' for a in ALPHAS)}", file=sys.stderr, flush=True)
        study = Study(model, StudyOptions(input_size=args.input_size, batch_size=args.batch_size))
        result = study.train_sweep(ALPHAS, optimizer=args.optimizer, steps=steps, memory_budget=budget,
                                   progress=lambda what, done, total: print(f"  {what}", file=sys.stderr,
                                                                            flush=True))
        results.append(result)
        sections += [f"## {model}, {args.input_size}², batch {args.batch_size}", "", *table(result), ""]
        sections += [f"Timing warning: {w}" for w in result.warnings] + ([""] if result.warnings else [])
        if args.out:
            atomic_write(args.out / f"training_{model}.png", training_plot(result, training_plot_title(result), "png"))
        text = report(args, steps, sections, results)
    print(text)


def report(args: argparse.Namespace, steps: StepOptions | None, sections: list[str],
           results: list[TrainingResult]) -> str:
    """The report of the models done so far, written with --out after each model (so a long run that is
    stopped keeps what finished)."""
    first = results[0].rows[0]
    machine = []
    if steps is not None:
        machine = [f"- machine: {first.device_name}, ISA {first.cpu_isa}, {first.threads} threads, torch "
                   f"{first.torch_version}, float32; {args.rounds} interleaved rounds of one step per variant after "
                   "one warm-up step; step time = forward, cross-entropy loss, backward, optimizer update, "
                   "gradients set to None"]
    text = "\n".join([
        "# Training cost against α (generated by `benchmarks/bench_training.py`)", "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- command: `{' '.join(['python', *sys.argv])}`", *machine,
        f"- optimizer: {args.optimizer} (SGD: momentum 0.9, weight decay 1e-4); memory budget for the largest "
        f"batch: {args.memory}",
        "- train MACs: forward + backward of conv and linear layers, analytic (per layer: forward, weight "
        "gradient, and input gradient except for the first layer, whose input needs none); `FLOPs ÷ 2 = "
        "analytic`: FlopCounterMode over forward + backward agrees (its grouped-conv weight gradient counted "
        "once); theory: each layer's closed form weighted by its vanilla training MACs",
        "- kept high / low: activations autograd keeps for the backward pass (storages counted once), on the "
        "high grid (and in vanilla layers) and on the low grid of octave layers, analytic (measured by "
        "saved-tensor hooks on the real step: in training.csv)",
        "- peak analytic: weights and buffers + optimizer state + the batch + the most the step holds above them, "
        "followed op by op on the meta device (every op that allocates); peak measured: the same resident bytes "
        "+ the step's peak in PyTorch's CPU allocator (profiler memory events); memory a library allocates "
        "outside PyTorch's allocator (oneDNN scratch) is not seen",
        "- largest batch: the largest whose analytic peak × 1.10 fits the budget (not confirmed by a step here)",
        "", *sections])
    if args.out:
        atomic_write(args.out / "training.md", text)
        atomic_write(args.out / "training.csv", to_csv([rec for r in results for rec in r.records()],
                                                        TRAINING_COLUMNS))
        print(f"written: {args.out / 'training.md'}, {args.out / 'training.csv'}", file=sys.stderr)
    return text

if __name__ == "__main__":
    main()
