"""Each deploy-form rewrite's effect, per backend: the model as built against its deploy form, vanilla and Oct.

    python benchmarks/bench_deploy.py                                  # resnet50, alpha 0.5, ORT and OpenVINO
    python benchmarks/bench_deploy.py --backends onnxruntime openvino compile --settings 2x1 2x8 1x1

For each setting (threads x batch), one ``time_variants`` call times vanilla and Oct on every backend twice
-- as built (``<backend> as built``) and on the deploy form (the registered backend) -- plus OpenVINO
through octprofile's ONNX export (``openvino via onnx``), all in the same interleaved rounds, and prints
Oct ÷ vanilla per backend (median of per-round ratios, IQR) with the milliseconds.
"""

from __future__ import annotations

import argparse
import sys

from octprofile import build_model
from octprofile.runtime.onnx_backend import onnxruntime_backend
from octprofile.runtime.openvino_backend import openvino_backend, openvino_onnx_backend
from octprofile.runtime.prepare import BACKENDS, Backend, _compile, on_deploy_form
from octprofile.runtime.timing import TimingOptions, time_variants

AS_BUILT = {"compile": _compile, "onnxruntime": onnxruntime_backend, "openvino": openvino_backend}


def register_variants(backends: list[str]) -> list[str]:
    """The backends to time: each asked one on the deploy form and as built (and OpenVINO's ONNX route)."""
    names = []
    for name in backends:
        as_built = f"{name} as built"
        BACKENDS[as_built] = Backend(as_built, f"{name} on the model as built", AS_BUILT[name],
                                     torch_memory=False)
        names += [name, as_built]
        if name == "openvino":
            BACKENDS["openvino via onnx"] = Backend("openvino via onnx", "openvino through the ONNX export",
                                                    on_deploy_form(openvino_onnx_backend), torch_memory=False)
            names.append("openvino via onnx")
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--backends", nargs="+", default=["onnxruntime", "openvino"], choices=list(AS_BUILT))
    parser.add_argument("--settings", nargs="+", default=["2x1"], help="THREADSxBATCH, e.g. 2x1 2x8 1x1")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--min-run-time", type=float, default=0.15)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args(argv)
    backends = register_variants(args.backends)
    models = {"vanilla": build_model(args.model, 0.0, seed=0), "oct": build_model(args.model, args.alpha, seed=0)}
    for setting in args.settings:
        threads, batch = (int(part) for part in setting.split("x"))
        print(f"{args.model} α={args.alpha}, {threads} threads, batch {batch}: timing {', '.join(backends)}",
              file=sys.stderr, flush=True)
        options = TimingOptions(device="cpu", threads=threads, backends=tuple(backends), rounds=args.rounds,
                                min_run_time=args.min_run_time, memory=False)
        timed = time_variants(models, (batch, 3, args.size, args.size), options)
        print(f"\n## {args.model} α={args.alpha}, {threads} threads, batch {batch}\n")
        print(f"- {timed.context.as_dict()}")
        for warning in timed.warnings:
            print(f"- warning: {warning}")
        print("\n| backend | vanilla ms | Oct ms | Oct ÷ vanilla (IQR) | preparation s (vanilla / Oct) |")
        print("|---|---|---|---|---|")
        for backend in backends:
            vanilla, oct_ = timed.timing("vanilla", backend), timed.timing("oct", backend)
            ratio = timed.ratio("oct", backend)
            print(f"| {backend} | {vanilla.latency_ms:.2f} | {oct_.latency_ms:.2f} | {ratio.median:.3f} "
                  f"({ratio.iqr:.3f}) | {vanilla.prepare_s:.1f} / {oct_.prepare_s:.1f} |")
        best = timed.best_ratio("oct")
        print(f"\nbest Oct ({best.backend}) ÷ best vanilla ({best.base_backend}): {best.median:.3f} ({best.iqr:.3f})")


if __name__ == "__main__":
    main()
