"""How progress is measured and rolled up.

A key result's progress is its current value on a clamped linear scale from start to
target, so "reduce churn from 8 % to 5 %" (a decreasing target) works like any other.
A goal's progress is a weighted mean of its inputs, chosen per goal: its key results,
its aligned children, or both pooled into one mean. Weights default to 1; a plain
average would treat a large target and a small one alike, so weights let owners say
which matters more.
"""

from __future__ import annotations

from collections.abc import Sequence

Weighted = Sequence[tuple[float, float]]  # (progress 0..1, weight)


def key_result_progress(start: float, target: float, current: float) -> float:
    if target == start:
        return 1.0 if current == target else 0.0
    share = (current - start) / (target - start)
    return round(min(1.0, max(0.0, share)), 4)


def rolled_up_progress(mode: str, key_results: Weighted, children: Weighted, completed: bool) -> float:
    if completed:
        return 1.0
    inputs: list[tuple[float, float]] = []
    if mode in ("key_results", "both"):
        inputs.extend(key_results)
    if mode in ("children", "both"):
        inputs.extend(children)
    total_weight = sum(w for _, w in inputs if w > 0)
    if total_weight == 0:
        return 0.0
    return round(sum(p * w for p, w in inputs if w > 0) / total_weight, 4)
