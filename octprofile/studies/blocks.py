"""blocks: where the time goes, block by block (e.g. each bottleneck): MAC ratio beside time ratio, and the
milliseconds the MAC saving does not explain."""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import asdict, dataclass, fields

import torch
from rich.markup import escape
from rich.table import Table

from octprofile.analysis.counting import CountResult, count_model
from octprofile.errors import BadValueError
from octprofile.nn import check_alpha
from octprofile.report.cells import timing_warning_lines
from octprofile.report.columns import Column, ColumnSet
from octprofile.runtime.block_timing import BETWEEN_BLOCKS, block_names, time_blocks
from octprofile.runtime.context import machine_context, resolve_device
from octprofile.runtime.cpu_free import threads_text
from octprofile.runtime.stats import iqr, noise_warning
from octprofile.runtime.timing import TimingOptions, timing_threads
from octprofile.studies.subject import Progress, Subject, Ticker


@dataclass
class BlockRow:
    """One block (e.g. ``layer3.2``, a bottleneck) of the vanilla and the Oct model, counted and timed.

    ``excess_ms`` is the time the MAC saving does not explain: Oct ms − vanilla ms × MAC ratio (blocks
    without MACs, such as pooling, are expected to take the vanilla time). Positive: overhead.
    """

    model: str
    alpha: float
    block: str  # a block name, "(between)" (work outside every block) or "total"
    macs_vanilla: int
    macs: int
    mac_ratio: float | None  # None where the block has no MACs
    latency_vanilla_ms: float  # median over passes
    latency_ms: float
    latency_ratio: float  # median of per-pass ratios (vanilla and Oct take turns pass by pass)
    latency_ratio_iqr: float
    excess_ms: float
    share_of_vanilla: float  # this block's share of the vanilla model's total time
    share_of_oct: float
    backend: str
    input_size: int
    batch_size: int
    device: str
    device_name: str
    cpu_isa: str | None
    threads: int
    torch_version: str


BLOCK_COLUMNS = ColumnSet(
    tuple(f.name for f in fields(BlockRow)),
    default=("model", "alpha", "block", "macs_vanilla", "macs", "mac_ratio", "latency_vanilla_ms", "latency_ms",
             "latency_ratio", "excess_ms", "share_of_oct", "backend"),
    display={"block": Column("block", "text"), "latency_vanilla_ms": Column("vanilla latency (ms)")})


@dataclass
class BlocksResult:
    """Where the time goes, block by block; the last two rows are "(between)" and "total"."""

    model: str
    alpha: float
    input_shape: tuple[int, ...]
    rows: list[BlockRow]
    passes: int  # timed forward passes per model
    warnings: list[str]

    @property
    def total(self) -> BlockRow:
        return self.rows[-1]

    def records(self) -> list[dict]:
        return [asdict(row) for row in self.rows]


def blocks(study: Subject, alpha: float, timing: TimingOptions = TimingOptions(), *, passes: int = 5,
           progress: Progress | None = None) -> BlocksResult:
    """Where the time goes: per block, vanilla and Oct MACs and times (``timing``'s first backend, which
    must run module by module: plain or eager), each model timed ``timing.rounds × passes`` times."""
    alpha = check_alpha(alpha)
    if alpha == 0:
        raise BadValueError("per-block timing compares an Oct model with vanilla: give an α above 0")
    if passes < 1:
        raise BadValueError(f"passes must be a positive integer, got {passes}")
    metas = {name: study.build(a, device="meta") for name, a in (("vanilla", 0.0), ("oct", alpha))}
    counts = {name: count_model(model, study.input_shape) for name, model in metas.items()}
    study.check_fits(metas["vanilla"], counts["vanilla"], False, timing)
    models = {"vanilla": study.build(0.0), "oct": study.build(alpha)}
    blocks = block_names(models["vanilla"])
    # the cores free now (or --threads), fixed for every pass and named in the rows
    timing = dataclasses.replace(timing, threads=timing_threads(timing, resolve_device(timing.device)).threads)
    tick = Ticker(progress, timing.rounds * passes * 2)
    tick.announce(f"preparing vanilla and oct on {timing.backends[0]}")
    samples = time_blocks(models, study.input_shape, timing, passes,
                          on_progress=tick.rounds("timing blocks", timing.rounds))
    context = machine_context(resolve_device(timing.device), timing.threads or torch.get_num_threads(), None)
    macs = {name: _macs_by_block(count, blocks) for name, count in counts.items()}
    totals = {name: statistics.median(samples[name]["total"]) for name in samples}
    rows = []
    for block in [*blocks, BETWEEN_BLOCKS, "total"]:
        vanilla_ms, oct_ms = (statistics.median(samples[name][block]) for name in ("vanilla", "oct"))
        per_pass = [o / v for o, v in zip(samples["oct"][block], samples["vanilla"][block], strict=True) if v > 0]
        mac_v, mac_o = macs["vanilla"][block], macs["oct"][block]
        mac_ratio = mac_o / mac_v if mac_v else None
        rows.append(BlockRow(
            model=study.model.name, alpha=alpha, block=block, macs_vanilla=mac_v, macs=mac_o, mac_ratio=mac_ratio,
            latency_vanilla_ms=vanilla_ms, latency_ms=oct_ms,
            latency_ratio=statistics.median(per_pass) if per_pass else float("nan"),
            latency_ratio_iqr=iqr(per_pass), excess_ms=oct_ms - vanilla_ms * (mac_ratio or 1.0),
            share_of_vanilla=vanilla_ms / totals["vanilla"], share_of_oct=oct_ms / totals["oct"],
            backend=timing.backends[0], input_size=study.input_shape[-1], batch_size=study.input_shape[0],
            device=context.device, device_name=context.device_name, cpu_isa=context.isa or None,
            threads=context.threads, torch_version=context.torch_version))
    total = rows[-1]
    warnings = [w for w in [noise_warning("total vanilla", total.latency_vanilla_ms,
                                          iqr(samples["vanilla"]["total"])),
                            noise_warning("total oct/vanilla ratio", total.latency_ratio, total.latency_ratio_iqr)]
                if w]
    return BlocksResult(study.model.name, alpha, study.input_shape, rows, timing.rounds * passes, warnings)


def _macs_by_block(count: CountResult, blocks: list[str]) -> dict[str, int]:
    """MACs of each block's layers; layers outside every block go to BETWEEN_BLOCKS; and the total."""
    found = dict.fromkeys([*blocks, BETWEEN_BLOCKS], 0)
    for layer in count.layers:
        owner = next((b for b in blocks if layer.name == b or layer.name.startswith(b + ".")), BETWEEN_BLOCKS)
        found[owner] += layer.macs
    found["total"] = count.macs
    return found


def blocks_table(result: BlocksResult, title: str) -> Table:
    """Per block: MAC ratio beside time ratio, and the milliseconds the MAC saving does not explain."""
    table = Table(title=escape(title), title_justify="left")
    for header in ("block", "MACs\n÷", "vanilla\nms", "oct\nms", "time ÷\n(IQR)", "excess\nms", "% of\ntime"):
        table.add_column(header, justify="left" if header == "block" else "right")
    for r in result.rows:
        if r.block == "total":
            table.add_section()
        table.add_row(r.block, "" if r.mac_ratio is None else f"{r.mac_ratio:.3f}", f"{r.latency_vanilla_ms:.2f}",
                      f"{r.latency_ms:.2f}", f"{r.latency_ratio:.2f} ({r.latency_ratio_iqr:.2f})",
                      f"{r.excess_ms:+.2f}", f"{100 * r.share_of_vanilla:.1f}")
    return table


def blocks_footer(result: BlocksResult, verbose: bool = False) -> str:
    r = result.total
    lines = [f"total: {r.mac_ratio:.3f}× MACs, {r.latency_ratio:.3f}× time (IQR {r.latency_ratio_iqr:.3f}); "
             f"{r.excess_ms:+.2f} ms beyond what the MAC ratio predicts",
             "excess ms = oct ms − vanilla ms × MACs ÷ (blocks without MACs: oct ms − vanilla ms); % of time: share "
             "of the vanilla model's time; times are medians of per-block wall time measured by hooks",
             f"timed on {r.device_name} ({r.device}{', ' + r.cpu_isa if r.cpu_isa else ''}), "
             f"{threads_text(r.threads)}, torch {r.torch_version}, backend {r.backend} for both, "
             f"{result.passes} interleaved passes each"]
    return "\n".join(lines + timing_warning_lines(result.warnings, verbose))
