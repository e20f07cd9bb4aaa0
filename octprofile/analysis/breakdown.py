"""Profiled calls summed by kind of work, beside their analytic cost, for one backend: the rows of ``explain``.

Times are means over the profiled passes, so the kinds, with what no call covers (``(unattributed)``),
add up to the mean profiled pass exactly. The excess is what the MAC ratio does not explain (see
``results.ExplainRow``).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass

from octprofile.analysis.op_kinds import MAC_FREE_KINDS, UNATTRIBUTED, KindCost, KindMap
from octprofile.analysis.profiled import PassProfile
from octprofile.analysis.roofline import Ceilings

SLOWEST = 10
# ATen ops that only reshape a view (no kernel runs): their time counts, but they are not calls of their own
VIEW_OPS = frozenset({"aten::view", "aten::reshape", "aten::permute", "aten::as_strided", "aten::unflatten",
                      "aten::flatten", "aten::t", "aten::transpose", "aten::expand", "aten::slice", "aten::select",
                      "aten::unsqueeze", "aten::squeeze", "aten::alias", "aten::detach", "aten::empty",
                      "aten::resize_", "aten::_unsafe_view"})


@dataclass
class KindTimes:
    """One variant's profile summed by kind: calls and ms per pass, the mean pass, the slowest calls."""

    calls: dict[str, int]
    ms: dict[str, float]  # includes UNATTRIBUTED
    wall_ms: float
    slowest: list[tuple[str, str, float]]  # (call, kind, ms), slowest first


def kind_times(profile: PassProfile, kinds: KindMap) -> KindTimes:
    passes = len(profile.wall_ms)
    ms: dict[str, float] = defaultdict(float)
    calls: Counter = Counter()
    labelled_calls: set = set()
    per_call: dict[tuple, list[float]] = defaultdict(list)
    seen: Counter = Counter()
    for node in profile.nodes:
        kind = kinds.kind(node)
        ms[kind] += node.ms / passes
        if node.call:  # the ops of one labelled conv call are one call
            calls[kind] += (node.pass_index, node.call) not in labelled_calls
            labelled_calls.add((node.pass_index, node.call))
        elif node.op not in VIEW_OPS:
            calls[kind] += 1
        name = f"{node.label}: {node.name}" if node.label else node.name  # an ONNX node's name has its scope
        seen[node.pass_index, name] += 1
        per_call[name, seen[node.pass_index, name], kind].append(node.ms)
    wall = statistics.fmean(profile.wall_ms)
    ms[UNATTRIBUTED] = wall - sum(ms.values())
    slowest = sorted(((f"{name} #{i}" if i > 1 else name, kind, sum(times) / passes)
                      for (name, i, kind), times in per_call.items()), key=lambda item: -item[2])[:SLOWEST]
    return KindTimes({k: round(c / passes) for k, c in calls.items()}, dict(ms), wall, slowest)


@dataclass
class KindLine:
    """One kind, both variants: what ``Study.explain`` turns into an ``ExplainRow``."""

    kind: str
    calls: tuple[int, int]  # vanilla, oct
    ms: tuple[float, float]
    macs: tuple[int, int]
    bytes: tuple[int | None, int | None]
    gmacs_per_s: tuple[float | None, float | None]
    bound: tuple[str, str]
    excess_ms: float


def kind_lines(times: tuple[KindTimes, KindTimes], costs: tuple[dict[str, KindCost], dict[str, KindCost]],
               ceilings: Ceilings) -> list[KindLine]:
    """Every kind either variant has (calls or MACs), kinds with MACs first, then MAC-free kinds, then
    the unattributed time; the excess is against the vanilla pass's conv rate."""
    names = set()
    for variant_times, variant_costs in zip(times, costs, strict=True):
        names |= {k for k, c in variant_times.calls.items() if c}
        names |= {k for k, c in variant_costs.items() if c.macs}
    with_macs = sorted(k for k in names if any(c.get(k, KindCost()).macs for c in costs))
    mac_free = [k for k in MAC_FREE_KINDS if k in names and k not in with_macs]
    others = sorted(names - set(with_macs) - set(mac_free) - {UNATTRIBUTED})
    vanilla_conv_ms = sum(times[0].ms.get(k, 0.0) for k in with_macs)
    vanilla_macs = sum(costs[0].get(k, KindCost()).macs for k in with_macs)
    rate = vanilla_conv_ms / vanilla_macs if vanilla_macs else 0.0  # vanilla ms per MAC
    lines = []
    for kind in [*with_macs, *mac_free, *others, UNATTRIBUTED]:
        calls = tuple(t.calls.get(kind, 0) for t in times)
        ms = tuple(t.ms.get(kind, 0.0) for t in times)
        macs = tuple(c.get(kind, KindCost()).macs for c in costs)
        # bytes of MAC-free work are those of the model as written: shown where the backend runs that kind
        moved = tuple((c[kind].bytes or None) if kind in c and (m or n) else None
                      for c, m, n in zip(costs, macs, calls, strict=True))
        rates = tuple(m / (t * 1e6) if m and t > 0 else None for m, t in zip(macs, ms, strict=True))
        bound = tuple("" if kind == UNATTRIBUTED else ceilings.place(m, b, t, n)
                      for m, b, t, n in zip(macs, moved, ms, calls, strict=True))
        excess = ms[1] - macs[1] * rate if kind in with_macs else ms[1] - ms[0]
        lines.append(KindLine(kind, calls, ms, macs, moved, rates, bound, excess))
    return lines
