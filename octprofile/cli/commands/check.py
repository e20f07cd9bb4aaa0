"""``octprofile check``: the CI gate on params and MAC counters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from octprofile.cli import base
from octprofile.cli.base import run_command
from octprofile.cli.options import (
    HL,
    LH,
    MODEL_HELP,
    Downsample,
    DownsampleOpt,
    Format,
    FormatOpt,
    Fvcore,
    InputSize,
    LowMultiple,
    OutputOpt,
    Placement,
    PlacementOpt,
    WidthMult,
    design_of,
    parse_alphas,
    study_for,
)
from octprofile.cli.output import emit, output_format, with_progress


def check(
    models_: Annotated[list[str], typer.Argument(metavar="MODEL...", help=MODEL_HELP)],
    alpha: Annotated[list[str], typer.Option("--alpha", "--alphas", metavar="A[,A...]",
                                             help="α values to check, comma-separated or repeated.")] = ("0.5",),
    input_size: InputSize = None, width_mult: WidthMult = None,
    placement: PlacementOpt = Placement.reference, hl: HL = True, lh: LH = True,
    downsample: DownsampleOpt = Downsample.pool, low_multiple: LowMultiple = None,
    fvcore: Fvcore = True,
    cross_checks: Annotated[bool, typer.Option(
        "--cross-checks/--no-cross-checks", show_default=False,
        help="Also reconcile ptflops and thop with the analytic count and compare a vanilla torchvision model with "
             "its published params and GFLOPS (default), or not.")] = True,
    fmt: FormatOpt = Format.table, output: OutputOpt = None,
    junit: Annotated[Path | None, typer.Option(
        "--junit", metavar="FILE",
        help="Also write a JUnit XML report (one test case per model and α) to this file, atomically.")] = None,
) -> None:
    """CI gate: exit 0 when Oct params equal vanilla (less the weights of dropped paths), the MAC counters
    agree (analytic, FlopCounterMode, and fvcore unless --no-fvcore) and the cross-checks pass (ptflops and thop
    reconciled with the analytic count; a vanilla torchvision model's published params and GFLOPS), 1 otherwise.
    Ends with a summary line.

    Example: octprofile check resnet50 mobilenet_v2 --alpha 0.25 --alpha 0.5 --junit check.xml
    """
    def action() -> int:
        from octprofile.report.cells import not_converted_lines
        from octprofile.report.files import AtomicFiles, check_distinct, check_writable
        from octprofile.studies.check import CHECK_COLUMNS, check_junit, check_summary, check_table

        values = parse_alphas(",".join(alpha))
        kind = output_format(fmt, output)
        if junit is not None:
            check_writable(junit)
            check_distinct({"--junit": junit, "--output": output})
        design = design_of(hl, lh, downsample, low_multiple)
        studies = [study_for(name, input_size, 1, width_mult, placement, design) for name in models_]
        jobs = [(study, a) for study in studies for a in values]

        def work(progress):
            results = []
            for index, (study, a) in enumerate(jobs, 1):
                results.append(study.check(a, fvcore=fvcore, cross_checks=cross_checks))
                if progress:
                    progress(f"check {study.model.name} α={a:g}", index, len(jobs))
            return results

        results = with_progress(work)
        several = len(studies) > 1
        skipped = dict.fromkeys(line for r in results
                                for line in not_converted_lines(r.not_converted, r.model if several else None))
        with AtomicFiles() as files:  # --output and --junit: both files or neither
            emit([r.record() for r in results], CHECK_COLUMNS, kind, output, lambda: check_table(results),
                 "\n".join(skipped), files=files)
            if junit is not None:
                files.write(junit, check_junit(results))
        for path in files.written:
            base.err.print(f"wrote {path}", markup=False)
        # the last line, unwrapped so CI logs can grep it; on stderr when stdout carries data
        (base.out if kind == "table" else base.err).print(check_summary(results), highlight=False, markup=False,
                                                         soft_wrap=True)  # e.g. "pip install 'octprofile[counters]'"
        return 0 if all(r.ok for r in results) else 1

    run_command(action)
