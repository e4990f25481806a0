"""How progress is measured and rolled up.

A key result's progress is its current value on a clamped linear scale from start to
target, so "reduce churn from 8 % to 5 %" (a decreasing target) works like any other.
A goal's progress is a weighted mean of its inputs, chosen per goal: its key results,
its live aligned children (retired ones excluded), or both pooled into one mean.
Weights default to 1; a plain average would treat a large target and a small one alike,
so weights let owners say which matters more.

Every result is finite and in [0, 1], whatever finite numbers come in: differences
that overflow a float are taken exactly, and weights are scaled by the largest before
summing, so no sum can overflow (two weights of 1.7e308 once rolled up to NaN and broke
the alignment tree for every tenant). ``goal_progress`` is the one rule: the alignment
tree and read-your-writes both call it, so they cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from fractions import Fraction

from trellis.core.errors import InvalidInput

Weighted = Sequence[tuple[float, float]]  # (progress 0..1, weight)
Child = tuple[float, float, str]  # an aligned child's (progress, weight, status)

# Weights say how much one input matters beside another. A ratio of 1000 to 1 already
# makes the light input all but invisible at the 4 decimals progress is kept to (it
# moves the mean by under 0.001), so no meaningful weighting needs more; the bound
# keeps weights in a range people can read and compare.
MAX_WEIGHT = 1000.0
ROLLUPS = ("key_results", "children", "both")


def check_weight(weight: float) -> None:
    """A weight must be a finite number in (0, MAX_WEIGHT]."""
    if not math.isfinite(weight) or not 0 < weight <= MAX_WEIGHT:
        raise InvalidInput(
            f"weight must be a number greater than 0 and at most {MAX_WEIGHT:g}",
            details={"field": "weight", "max": MAX_WEIGHT},
        )


def key_result_progress(start: float, target: float, current: float) -> float:
    if not (math.isfinite(start) and math.isfinite(target) and math.isfinite(current)):
        return 0.0  # never stored by the domain; a value that cannot be placed shows no progress
    if target == start:
        return 1.0 if current == target else 0.0
    done, span = current - start, target - start
    if math.isfinite(done) and math.isfinite(span):
        share = done / span  # finite over finite non-zero: a float, or ±inf clamped below
    else:  # extreme ends overflow the subtraction: the exact ratio, clamped before it is a float
        exact = (Fraction(current) - Fraction(start)) / (Fraction(target) - Fraction(start))
        share = float(min(Fraction(1), max(Fraction(0), exact)))
    return round(min(1.0, max(0.0, share)), 4)


def rolled_up_progress(mode: str, key_results: Weighted, children: Weighted, completed: bool) -> float:
    """The weighted mean of the inputs ``mode`` chooses (100 % once completed)."""
    if completed:
        return 1.0
    inputs: list[tuple[float, float]] = []
    if mode in ("key_results", "both"):
        inputs.extend(key_results)
    if mode in ("children", "both"):
        inputs.extend(children)
    return _weighted_mean(inputs)


def goal_progress(mode: str, key_results: Weighted, children: Iterable[Child], completed: bool) -> float:
    """A goal's progress from its key results and its aligned children (the live ones count)."""
    live = [(progress, weight) for progress, weight, status in children if status != "retired"]
    return rolled_up_progress(mode, key_results, live, completed)


def _weighted_mean(inputs: Iterable[tuple[float, float]]) -> float:
    usable = [(_unit(p), w) for p, w in inputs if math.isfinite(w) and w > 0]
    if not usable:
        return 0.0
    heaviest = max(w for _, w in usable)
    # Scaled by the heaviest, every weight is in (0, 1]: the total is at least 1 and at
    # most the number of inputs, so neither sum can overflow or divide by zero.
    scaled = [(p, w / heaviest) for p, w in usable]
    mean = math.fsum(p * w for p, w in scaled) / math.fsum(w for _, w in scaled)
    return round(min(1.0, max(0.0, mean)), 4)


def _unit(progress: float) -> float:
    """A progress value forced into [0, 1] (a non-finite one counts as none)."""
    if not math.isfinite(progress):
        return 0.0
    return min(1.0, max(0.0, progress))
