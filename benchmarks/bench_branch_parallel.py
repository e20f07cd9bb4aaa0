"""Branch-level parallelism: do the engines' parallel modes let the octave branches overlap at 2 threads?

An octave layer's high and low branches are independent, so an engine that runs independent nodes side by side
could hide the low branch's small convs behind the high branch's. This probe opens each model (vanilla and Oct:
octprofile's ONNX export of their deploy forms) in several engine settings and times every setting of both models
in the same interleaved rounds, so the search is alike for both:

* onnxruntime: ``intra`` threads inside each node, sequential (octprofile's setting); ``ORT_PARALLEL`` with
  ``inter`` threads running independent nodes, each node ``intra`` threads;
* openvino: the ``LATENCY`` hint (octprofile's setting) against ``NUM_STREAMS`` > 1 (streams run separate
  inferences, so they cannot shorten one: shown as a control).

    python benchmarks/bench_branch_parallel.py                                   # mobilenet_v2 α 0.375, 2 threads
    python benchmarks/bench_branch_parallel.py --model resnet50 --alpha 0.5 --rounds 15

Each figure: median ms over the rounds (IQR), and Oct ÷ vanilla as the median of per-round ratios in the same
setting. Quote only with the header's CPU, ISA, threads, engine versions and load.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time

import torch
from bench_args import at_least  # benchmarks/ is sys.path[0] when a script of it runs

from octprofile.build import build_model
from octprofile.errors import OctprofileError
from octprofile.runtime.context import cpu_name
from octprofile.runtime.prepare import prepare


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--alpha", type=float, default=0.375)
    parser.add_argument("--threads", type=at_least(1), default=2)
    parser.add_argument("--rounds", type=at_least(1), default=10)
    parser.add_argument("--calls", type=at_least(1), default=20,
                        help="calls per setting per round (their mean is one sample)")
    return parser.parse_args(argv)


def ort_sessions(model_bytes: bytes, threads: int) -> dict[str, object]:
    import onnxruntime as ort

    def session(intra: int, inter: int | None):
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = intra
        options.add_session_config_entry("session.force_spinning_stop", "1")
        if inter:
            options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
            options.inter_op_num_threads = inter
        return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])

    settings = {f"ort sequential, intra {threads}": session(threads, None)}
    settings[f"ort parallel, inter {threads}, intra 1"] = session(1, threads)
    settings[f"ort parallel, inter {threads}, intra {threads}"] = session(threads, threads)
    return settings


def openvino_models(model_bytes: bytes, threads: int) -> dict[str, object]:
    import openvino as ov

    converted = ov.convert_model(io.BytesIO(model_bytes))  # the same deploy form's ONNX export as onnxruntime's
    core = ov.Core()
    base = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
    return {"openvino latency hint": core.compile_model(converted, "CPU", {**base, "PERFORMANCE_HINT": "LATENCY"}),
            "openvino 2 streams": core.compile_model(converted, "CPU", {**base, "NUM_STREAMS": "2"})}


def caller(engine: object, example: torch.Tensor):
    array = example.numpy()
    if hasattr(engine, "get_inputs"):  # an onnxruntime session
        name = engine.get_inputs()[0].name
        return lambda: engine.run(None, {name: array})
    request = engine.create_infer_request()
    return lambda: request.infer([array])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    example = torch.randn(1, 3, 224, 224)
    calls: dict[tuple[str, str], object] = {}
    for variant, alpha in (("vanilla", 0.0), ("oct", args.alpha)):
        built = build_model(args.model, alpha, seed=0)
        prepared = prepare(built, example, "onnxruntime")
        for setting, session in ort_sessions(prepared.runner.model_bytes, args.threads).items():
            calls[setting, variant] = caller(session, example)
        for setting, compiled in openvino_models(prepared.runner.model_bytes, args.threads).items():
            calls[setting, variant] = caller(compiled, example)
    for call in calls.values():  # warm-up
        for _ in range(5):
            call()
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
    for _ in range(args.rounds):
        for key, call in calls.items():
            start = time.perf_counter()
            for _ in range(args.calls):
                call()
            samples[key].append((time.perf_counter() - start) * 1e3 / args.calls)
    import onnxruntime
    import openvino
    print(f"{args.model} α={args.alpha}, batch 1, 224², {args.threads} threads, {args.rounds} interleaved rounds × "
          f"{args.calls} calls; {cpu_name()} ({torch.backends.cpu.get_cpu_capability()}), torch {torch.__version__}, "
          f"onnxruntime {onnxruntime.__version__}, openvino {openvino.__version__}; load average "
          f"{os.getloadavg()[0]:.2f} at the end")
    for setting in dict.fromkeys(setting for setting, _ in calls):
        vanilla, octave = samples[setting, "vanilla"], samples[setting, "oct"]
        ratio = statistics.median(o / v for o, v in zip(octave, vanilla, strict=True))
        print(f"{setting:34} vanilla {statistics.median(vanilla):7.2f} ms  oct {statistics.median(octave):7.2f} ms  "
              f"oct ÷ vanilla {ratio:.3f}")


if __name__ == "__main__":
    try:
        main()
    except OctprofileError as error:  # a bad model name, --min-run-time …: one line, as the CLI says it
        sys.exit(f"error: {error}")
