"""A model built inside ``torch.inference_mode()`` against the same model built outside it, both prepared
and timed alike: the two must time the same (a built model holds no context-dependent state).

    python benchmarks/bench_build_context.py --model resnet50 --alpha 0.5 --batch-size 1
"""

from __future__ import annotations

import argparse

import torch

import octprofile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--backend", default="eager")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    outside = octprofile.build_model(args.model, args.alpha, seed=0)
    with torch.inference_mode():
        inside = octprofile.build_model(args.model, args.alpha, seed=0)
    options = octprofile.TimingOptions(device="cpu", threads=args.threads, backend=args.backend, rounds=args.rounds,
                                       memory=False)
    shape = octprofile.resolve(args.model).input_shape(None, args.batch_size)
    comparison = octprofile.time_variants({"built outside": outside, "built inside": inside}, shape, options)
    c = comparison.context
    print(f"{args.model} α={args.alpha:g} batch {args.batch_size}, backend {args.backend}; {c.device_name} "
          f"({c.isa}), {c.threads} threads, torch {c.torch_version}")
    for name, timing in comparison.timings.items():
        ratio, spread = comparison.ratios[name]
        print(f"{name:14} {timing.latency_ms:8.2f} ms (IQR {timing.latency_iqr_ms:.2f})  ratio {ratio:.3f} "
              f"(IQR {spread:.3f})")
    for warning in comparison.warnings:
        print(f"warning: {warning}")


if __name__ == "__main__":
    main()
