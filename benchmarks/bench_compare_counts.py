"""How long `compare --no-time` takes after the imports: Study.compare with and without fvcore, median of repeats,
and how many times the backbone's forward ran (each count, memory pass, dry run and trace enters it once); counted
afresh (the count cache off), then read back from a count cache in a temporary folder.

    python benchmarks/bench_compare_counts.py --model resnet50 --alpha 0.5 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time

import torch

from octprofile.study import Study, StudyOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = Study(args.model).build(0.0, device="meta")
    entered = [0]
    model_class = type(model)
    original = model_class.forward

    def counted(self, *inputs, **kwargs):
        entered[0] += 1
        return original(self, *inputs, **kwargs)

    model_class.forward = counted  # counts every forward of this backbone class, vanilla and Oct alike
    print(f"{args.model} α={args.alpha}, {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
          f"threads, torch {torch.__version__}")
    fresh = StudyOptions(cache=False)
    Study(args.model, fresh).compare(args.alpha, fvcore=False)  # first call: lazy imports, not measured
    with tempfile.TemporaryDirectory() as folder:
        os.environ["OCTPROFILE_CACHE_DIR"] = folder
        os.environ.pop("OCTPROFILE_NO_CACHE", None)
        Study(args.model).compare(args.alpha, fvcore=True)  # fills the cache, not measured
        for cached, fvcore in ((False, False), (False, True), (True, False), (True, True)):
            times = []
            for _ in range(args.repeats):
                entered[0] = 0
                start = time.perf_counter()
                Study(args.model, StudyOptions(cache=cached)).compare(args.alpha, fvcore=fvcore)
                times.append(time.perf_counter() - start)
            print(f"{'cached' if cached else 'counted'}, fvcore={fvcore}: median {statistics.median(times):.3f} s of "
                  f"{args.repeats} (min {min(times):.3f}), forward entered {entered[0]} times")


if __name__ == "__main__":
    main()
