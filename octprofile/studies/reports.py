"""report: the repository's reports/ folder, regenerated: α sweeps (CSV, Markdown, plots) of every backbone,
our counts beside the published ones, and (with timm installed) which timm models convert, per module (timm.md:
``ZOO_PER_MODULE`` sampled models per module, so that the whole regeneration stays affordable).

Count files (CSV, Markdown) are deterministic: same code, same bytes, so a test can diff them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

from octprofile.analysis.counting import count_model
from octprofile.build import build_model
from octprofile.models import list_models, resolve
from octprofile.report.columns import Column, ColumnSet
from octprofile.report.files import AtomicFiles, check_writable
from octprofile.report.formats import to_csv, to_markdown
from octprofile.report.published import DEFINITIONS, PUBLISHED
from octprofile.studies.coverage import ZOO_PER_MODULE, zoo_coverage, zoo_markdown
from octprofile.studies.subject import StudyOptions, Subject
from octprofile.studies.sweep import COMPARE_COLUMNS, plot_title, sweep, sweep_plot

REPORT_ALPHAS = (0.0, 0.125, 0.25, 0.5, 0.75)
# Counts only (deterministic): the fvcore and timing columns stay out of the committed files.
SWEEP_COLUMNS = COMPARE_COLUMNS[:COMPARE_COLUMNS.index("placement") + 1]
SWEEP_COLUMNS = tuple(c for c in SWEEP_COLUMNS if c not in (
    "macs_fvcore", "fvcore_total", "fvcore_unsupported", "latency_ms", "latency_iqr_ms", "device", "threads",
    "latency_ratio", "latency_ratio_iqr", "peak_memory_bytes", "peak_memory_ratio"))
PUBLISHED_COLUMNS = ColumnSet(  # reports/published.md, already in GMACs
    ("source", "model", "alpha", "published_gmacs", "ours_gmacs", "difference_pct", "published_params_m",
     "ours_params_m", "params_difference_pct", "definition", "note", "reason"),
    display={"published_gmacs": Column("published GMACs"), "ours_gmacs": Column("our GMACs"),
             "difference_pct": Column("difference (%)"), "note": Column("note", "text"),
             "published_params_m": Column("published Mparams"), "ours_params_m": Column("our Mparams"),
             "params_difference_pct": Column("params difference (%)"), "definition": Column("definition", "text"),
             "reason": Column("reason", "text")})
DIFFERENCE_EXPLAINED_ABOVE_PCT = 1.0  # a difference larger than this gets its one-line reason


@functools.cache
def _default_counts(model: str, alpha: float, options: tuple[tuple[str, object], ...]) -> tuple[float, float]:
    """Our analytic GMACs at the model's default input, batch 1, and millions of parameters (cached: sources
    repeat models)."""
    shape = resolve(model).input_shape()
    built = build_model(model, alpha, device="meta", **dict(options))
    return count_model(built, shape).macs / 1e9, sum(p.numel() for p in built.parameters()) / 1e6


def _difference_pct(ours: float, published: float) -> float:
    return round(100 * (ours - published) / published, 2)


def published_rows() -> list[dict]:
    rows = []
    for entry in PUBLISHED:
        gmacs, params_m = _default_counts(entry.model, entry.alpha, tuple(sorted(entry.options.items())))
        difference = _difference_pct(gmacs, entry.gmacs)
        params = {} if entry.params_m is None else dict(
            published_params_m=entry.params_m, ours_params_m=round(params_m, 3),
            params_difference_pct=_difference_pct(params_m, entry.params_m))
        rows.append(dict(source=entry.source, model=entry.model, alpha=entry.alpha, published_gmacs=entry.gmacs,
                         ours_gmacs=round(gmacs, 4), difference_pct=difference, **params,
                         definition=DEFINITIONS[entry.model], note=entry.label,
                         reason=entry.reason if max(abs(difference), abs(params.get("params_difference_pct", 0)))
                         > DIFFERENCE_EXPLAINED_ABOVE_PCT else ""))
    return rows


def generate_report(output_dir: str | Path, models: Sequence[str] | None = None, plots: bool = True,
                    progress: Callable[[str, int, int], None] | None = None, timm: bool = False,
                    cache: bool = True) -> list[Path]:
    """Write sweep CSV/Markdown (+ plots) for each backbone and the published-figures table; ``timm``: timm.md too
    (which timm models convert, per module); ``cache``: the sweeps read and keep their counts in the count cache.

    All or nothing: every file is staged beside its target and the set is renamed into place only at the end, so
    a failure or an interrupt leaves the previous files as they were (and no temporary files). A missing
    ``output_dir`` is created with its parents (and removed again when nothing could be written)."""
    output_dir = Path(output_dir)
    models = list(models or list_models())
    names = [f"sweep_{name}.png" for name in models] if plots else []
    for name in [*names, "sweep.csv", "sweep.md", "published.md", *["timm.md"] * timm]:
        check_writable(output_dir / name)  # before any work
    all_rows = []
    with AtomicFiles() as files:
        for index, name in enumerate(models, 1):
            result = sweep(Subject(name, StudyOptions(cache=cache)), REPORT_ALPHAS, fvcore=False)
            all_rows += result.records()
            if plots:
                files.write(output_dir / f"sweep_{name}.png", sweep_plot(result, plot_title(result), "png"))
            if progress:
                progress(f"sweep {name}", index, len(models) + 1)
        files.write(output_dir / "sweep.csv", to_csv(all_rows, SWEEP_COLUMNS))
        files.write(output_dir / "sweep.md", _sweep_markdown(all_rows))
        files.write(output_dir / "published.md", _published_markdown(published_rows()))
        if progress:
            progress("published figures", len(models) + 1, len(models) + 1)
        if timm:
            survey = zoo_coverage(per_module=ZOO_PER_MODULE, progress=(
                lambda what, done, total: progress(f"timm {what}", done, total)) if progress else None)
            files.write(output_dir / "timm.md", zoo_markdown(survey))
    return files.written


def _sweep_markdown(rows: Sequence[dict]) -> str:
    columns = ("model", "alpha", "input_size", "params", "macs", "mac_ratio", "theory_mac_ratio", "activations",
               "activation_ratio", "params_equal", "counts_agree")
    header = ("# α sweep: analytic counts, vanilla vs Oct (generated by `octprofile report`)\n\n"
              "MACs: multiply-accumulates of conv + linear layers at batch 1 (the unit the paper calls FLOPs); "
              "theory MACs ÷ vanilla: the one-layer ratio 1−¾α(2−α); counts agree: the analytic count equals "
              "FlopCounterMode ÷ 2 (fvcore is cross-checked by `octprofile check` and the tests). Counts are "
              "exact; sweep.csv has every ratio at full precision.\n\n")
    # exact counts (no K/M/G scaling chosen from the data): a partial run's lines stay lines of the full file
    return header + to_markdown(rows, COMPARE_COLUMNS, columns, scale=False)


def _published_markdown(rows: Sequence[dict]) -> str:
    header = ("# Our counts beside the published ones (generated by `octprofile report`)\n\n"
              "Units: GMACs of conv + linear layers (the sources call them GFLOPs). The paper's figures include a "
              "few ops beyond conv + linear (about 0.3–0.7 % more) and its supplement ResNets are pre-activation "
              "variants; d-li14's are pure conv + linear MACs. The reference MobileNet v2 keeps a 1×1 expand conv "
              "in its first block, which torchvision's has not. Parameters in millions, where the source gives "
              "them. *definition*: which network our row counts (a pre-activation bottleneck has the same convs, "
              "so the same MACs, as torchvision's post-activation one). Our Oct networks follow the reference "
              "placement, and every strided conv after the stem pools 2×2 and runs at stride 1, as in the "
              "reference code. *reason*: why a difference exceeds 1 %.\n\n")
    return header + to_markdown(rows, PUBLISHED_COLUMNS, PUBLISHED_COLUMNS)
