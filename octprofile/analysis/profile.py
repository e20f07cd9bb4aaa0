"""Vanilla vs Oct, side by side: the rows behind ``compare``, ``sweep``, ``layers`` and ``check``.

Every value a command shows comes from here, so it is reachable from Python too. A value that was
not measured (timing off, fvcore off) is ``None``, never 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from octprofile.analysis.counting import CountResult, count_model
from octprofile.analysis.crosscheck import fvcore_count, torch_flops
from octprofile.analysis.theory import network_theory_mac_ratio, theory_activation_ratio, theory_mac_ratio
from octprofile.build import build_model, resolve
from octprofile.nn import PATHS

# Interface columns (scripts and papers depend on these names and their order); more follow them.
COMPARE_COLUMNS = ("model", "variant", "alpha", "input_size", "batch_size", "params", "macs", "macs_fvcore",
                   "fvcore_total", "flops_torch", "mac_ratio", "theory_mac_ratio", "activations", "latency_ms",
                   "latency_iqr_ms", "device", "threads")
COMPARE_EXTRA_COLUMNS = ("activation_bytes", "activation_ratio", "theory_activation_ratio", "latency_ratio",
                         "latency_ratio_iqr", "peak_memory_bytes", "peak_memory_ratio", "pool_ops", "upsample_ops",
                         "add_ops", "bn_ops", "fvcore_unsupported", "params_equal", "counts_agree", "placement", "impl")
LAYER_COLUMNS = ("layer", "kind", "alpha_in", "alpha_out", "stride", "macs", "macs_vanilla", "mac_ratio",
                 "theory_mac_ratio", "macs_hh", "macs_hl", "macs_lh", "macs_ll", "activations")
LAYER_EXTRA_COLUMNS = ("activations_vanilla", "activation_ratio", "theory_activation_ratio", "params")

Progress = Callable[[str, int, int], None]


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep; ``rows`` holds the alphas that finished (with their ratios)."""

    def __init__(self, rows: list[dict], total: int) -> None:
        super().__init__(f"interrupted after {len(rows)} of {total} α values")
        self.rows = rows
        self.total = total


@dataclass(frozen=True)
class ProfileOptions:
    """What to profile and how; ``model_options`` go to the vanilla builder (e.g. width_mult)."""

    input_size: int | None = None
    batch_size: int = 1
    placement: str = "reference"
    impl: str | None = None  # None: build_model's default
    fvcore: bool = True
    timing: object | None = None  # octprofile.analysis.timing.TimingOptions, or None for no timing
    model_options: dict = field(default_factory=dict)


def _build(name: str, alpha: float, options: ProfileOptions, device=None) -> nn.Module:
    extra = {"impl": options.impl} if options.impl and alpha > 0 else {}
    return build_model(name, alpha, placement=options.placement, device=device, input_size=options.input_size,
                       **extra, **options.model_options)


def input_shape(name: str, options: ProfileOptions) -> tuple[int, int, int, int]:
    return resolve(name).input_shape(options.input_size, options.batch_size)


def _agree(count: CountResult, flops: int, fvcore_macs: int | None) -> bool:
    return flops == 2 * count.macs and (fvcore_macs is None or fvcore_macs == count.macs)


def sweep(name: str, alphas: Sequence[float], options: ProfileOptions = ProfileOptions(),
          progress: Progress | None = None, variant_names: Sequence[str] | None = None) -> list[dict]:
    """One row per alpha (alpha 0 is the vanilla model), with ratios against the vanilla model."""
    alphas = [float(a) for a in alphas]
    if 0.0 not in alphas:
        alphas = [0.0, *alphas]
    names = list(variant_names) if variant_names else [_variant(a) for a in alphas]
    shape = input_shape(name, options)
    needs_real = options.fvcore or options.timing is not None
    steps = len(alphas) * (1 + int(options.fvcore)) + int(options.timing is not None)
    done = 0

    def advance(what: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(what, done, steps)

    rows, real_models = [], {}
    try:
        for alpha, variant in zip(alphas, names):
            torch.manual_seed(0)
            model = _build(name, alpha, options, device=None if needs_real else "meta")
            count = count_model(model, shape)
            flops = torch_flops(model, shape)
            advance(f"counting {variant} α={alpha:g}")
            fv = None
            if options.fvcore:
                fv = fvcore_count(model, shape)
                advance(f"fvcore {variant} α={alpha:g}")
            if needs_real:
                real_models[variant] = model
            rows.append(_count_row(name, variant, alpha, shape, options, count, flops, fv))
    except KeyboardInterrupt:
        if rows:
            _add_ratios(rows)
        raise SweepInterrupted(rows, len(alphas)) from None
    _add_ratios(rows)
    if options.timing is not None:
        _add_timings(rows, real_models, shape, options)
        advance("timing")
    return rows


def compare(name: str, alpha: float, options: ProfileOptions = ProfileOptions(),
            progress: Progress | None = None) -> list[dict]:
    """Rows ``vanilla`` and ``oct`` for one alpha."""
    return sweep(name, [0.0, alpha], options, progress, variant_names=("vanilla", "oct"))


def _variant(alpha: float) -> str:
    return "vanilla" if alpha == 0 else f"oct-{alpha:g}"


def _count_row(name, variant, alpha, shape, options, count: CountResult, flops, fv) -> dict:
    other = count.other
    row = dict.fromkeys((*COMPARE_COLUMNS, *COMPARE_EXTRA_COLUMNS))
    row.update(
        model=name, variant=variant, alpha=alpha, input_size=shape[-1], batch_size=shape[0], params=count.params,
        macs=count.macs, macs_fvcore=fv.macs if fv else None, fvcore_total=fv.total if fv else None,
        flops_torch=flops, theory_mac_ratio=network_theory_mac_ratio(alpha), activations=count.activations,
        activation_bytes=count.activation_bytes(), theory_activation_ratio=theory_activation_ratio(alpha),
        pool_ops=other["pool"], upsample_ops=other["upsample"], add_ops=other["add"], bn_ops=other["bn"],
        fvcore_unsupported="; ".join(f"{op}×{n}" for op, n in sorted(fv.unsupported.items())) if fv else None,
        counts_agree=_agree(count, flops, fv.macs if fv else None), placement=options.placement,
        impl=(options.impl or "default") if alpha > 0 else "vanilla",
    )
    return row


def _add_ratios(rows: list[dict]) -> None:
    base = next(r for r in rows if r["alpha"] == 0)
    for row in rows:
        row["mac_ratio"] = row["macs"] / base["macs"]
        row["activation_ratio"] = row["activations"] / base["activations"]
        row["params_equal"] = row["params"] == base["params"]


def _add_timings(rows: list[dict], models: dict[str, nn.Module], shape, options: ProfileOptions) -> None:
    """Latency (interleaved) and the measured peak memory of one forward pass (the timing run's on
    CUDA; a profiled pass on CPU)."""
    from octprofile.analysis.measured_memory import peak_forward_memory
    from octprofile.analysis.timing import time_variants

    result = time_variants(models, shape, options.timing)
    for row in rows:
        timing = result.timings[row["variant"]]
        ratio, spread = result.ratios[row["variant"]]
        peak = timing.peak_memory_bytes
        if peak is None:
            peak = peak_forward_memory(models[row["variant"]], shape, "cpu")
        row.update(latency_ms=timing.latency_ms, latency_iqr_ms=timing.latency_iqr_ms,
                   latency_ratio=ratio, latency_ratio_iqr=spread, device=timing.context.get("device_name")
                   or timing.context.get("device"), threads=timing.context.get("threads"),
                   peak_memory_bytes=peak, peak_memory_ratio=peak / rows[0]["peak_memory_bytes"]
                   if rows[0]["peak_memory_bytes"] else 1.0)
    for row in rows:
        row["timing_warnings"] = "; ".join(result.warnings) or None


def layers(name: str, alpha: float, options: ProfileOptions = ProfileOptions()) -> list[dict]:
    """One row per conv/linear layer of the Oct model, beside the same layer of the vanilla model."""
    shape = input_shape(name, options)
    vanilla = count_model(_build(name, 0.0, options, device="meta"), shape).by_name()
    octave = count_model(_build(name, alpha, options, device="meta"), shape)
    rows = []
    for layer in octave.layers:
        base = vanilla[layer.name]
        row = dict(
            layer=layer.name, kind=layer.kind, alpha_in=layer.alpha_in, alpha_out=layer.alpha_out,
            stride=layer.stride, macs=layer.macs, macs_vanilla=base.macs, mac_ratio=layer.macs / base.macs,
            theory_mac_ratio=theory_mac_ratio(layer.alpha_in, layer.alpha_out, layer.stride, layer.depthwise,
                                              layer.exchange_hl, layer.exchange_lh),
            **{f"macs_{p}": layer.paths.get(p) if layer.kind == "octconv" else None for p in PATHS},
            activations=layer.activations, activations_vanilla=base.activations,
            activation_ratio=layer.activations / base.activations,
            theory_activation_ratio=theory_activation_ratio(layer.alpha_out), params=layer.params,
        )
        rows.append(row)
    return rows


@dataclass(frozen=True)
class CheckResult:
    model: str
    alpha: float
    params_vanilla: int
    params_oct: int
    macs: int
    flops_torch: int
    macs_fvcore: int | None

    @property
    def failures(self) -> list[str]:
        found = []
        if self.params_oct != self.params_vanilla:
            found.append(f"params {self.params_oct:,} ≠ vanilla {self.params_vanilla:,}")
        if self.flops_torch != 2 * self.macs:
            found.append(f"FlopCounterMode {self.flops_torch:,} ≠ 2 × {self.macs:,} MACs")
        if self.macs_fvcore is not None and self.macs_fvcore != self.macs:
            found.append(f"fvcore conv+linear {self.macs_fvcore:,} ≠ {self.macs:,} MACs")
        return found

    @property
    def ok(self) -> bool:
        return not self.failures


def check(name: str, alpha: float, options: ProfileOptions = ProfileOptions()) -> CheckResult:
    """The CI gate for one model and alpha: equal parameters, and the three MAC counts agree."""
    shape = input_shape(name, options)
    vanilla_params = sum(p.numel() for p in _build(name, 0.0, options, device="meta").parameters())
    model = _build(name, alpha, options, device=None if options.fvcore else "meta")
    count = count_model(model, shape)
    fv = fvcore_count(model, shape).macs if options.fvcore else None
    return CheckResult(name, alpha, vanilla_params, count.params, count.macs, torch_flops(model, shape), fv)
