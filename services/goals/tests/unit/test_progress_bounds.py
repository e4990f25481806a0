"""Progress is always a finite number in [0, 1], and the domain refuses numbers that cannot be rolled up."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import pytest

from trellis.contracts.goals import GoalChanged, KeyResultAdded, KeyResultProgressRecorded
from trellis.core.errors import InvalidInput
from trellis.goals.domain.goal import Goal
from trellis.goals.domain.progress import MAX_WEIGHT, goal_progress, key_result_progress, rolled_up_progress

from .test_goal import TENANT, created, given, then, then_raises

BIGGEST = sys.float_info.max
TINIEST = 5e-324  # the smallest positive float


def with_key_result(**kw: float) -> Goal:
    fields: dict[str, float] = {"start": 0.0, "target": 10.0, "current": 0.0, "weight": 1.0, **kw}
    return given("g", created("g"), KeyResultAdded(goal_id="g", key_result_id="k", name="k", **fields))


def test_two_key_results_weighted_1_7e308_roll_up_to_their_mean_not_nan() -> None:
    assert rolled_up_progress("key_results", [(1.0, 1.7e308), (0.0, 1.7e308)], [], False) == 0.5
    assert rolled_up_progress("both", [(1.0, BIGGEST)], [(0.0, BIGGEST), (0.0, BIGGEST)], False) == 0.3333


def test_a_weight_dwarfed_by_another_still_counts_and_a_tiny_one_divides_by_nothing() -> None:
    assert rolled_up_progress("key_results", [(1.0, 1000.0), (0.0, 1.0)], [], False) == 0.999
    assert rolled_up_progress("key_results", [(0.5, TINIEST), (0.5, TINIEST)], [], False) == 0.5


@pytest.mark.parametrize(
    "inputs",
    [
        [(math.nan, 1.0), (1.0, 1.0)],
        [(1.0, math.nan), (1.0, math.inf), (0.0, -1.0), (0.25, 1.0)],
        [(7.0, 1.0), (-3.0, 1.0)],
        [(math.inf, BIGGEST), (0.5, BIGGEST)],
    ],
)
def test_whatever_comes_in_the_roll_up_is_finite_and_in_0_1(inputs: list[tuple[float, float]]) -> None:
    progress = rolled_up_progress("both", inputs, inputs, False)
    assert math.isfinite(progress) and 0.0 <= progress <= 1.0


@pytest.mark.parametrize(
    "start, target, current, expected",
    [
        (-BIGGEST, BIGGEST, 0.0, 0.5),  # the span overflows a float
        (-BIGGEST, BIGGEST, BIGGEST, 1.0),
        (BIGGEST, -BIGGEST, BIGGEST, 0.0),
        (-BIGGEST, 0.0, BIGGEST, 1.0),  # so does current - start
        (0.0, TINIEST, BIGGEST, 1.0),  # the quotient overflows
        (0.0, 1.0, math.nan, 0.0),
        (0.0, math.inf, 1.0, 0.0),
    ],
)
def test_key_result_progress_of_extreme_numbers_is_finite_and_clamped(
    start: float, target: float, current: float, expected: float
) -> None:
    assert key_result_progress(start, target, current) == expected


def test_only_live_children_count() -> None:
    children = [(1.0, 1.0, "on_track"), (0.0, 1.0, "retired"), (0.5, 2.0, "completed")]
    assert goal_progress("children", [], children, False) == round(2 / 3, 4)
    assert goal_progress("both", [(0.0, 1.0)], [(1.0, 1.0, "retired")], False) == 0.0


@pytest.mark.parametrize("weight", [0.0, -1.0, math.nan, math.inf, MAX_WEIGHT * 1.001, 1.7e308])
def test_weights_must_be_finite_positive_and_at_most_the_bound(weight: float) -> None:
    new = Goal("n", TENANT)
    then_raises(
        new,
        lambda g: g.create(level="individual", title="t", owner_id="emil", period="Q4", weight=weight),
        InvalidInput,
        "weight",
    )
    then_raises(
        given("g", created("g")), lambda g: g.add_key_result("k", "k", 0, 1, weight=weight), InvalidInput
    )
    then_raises(given("g", created("g")), lambda g: g.change(weight=weight), InvalidInput, "weight")


def test_the_bound_itself_is_a_valid_weight() -> None:
    then(
        given("g", created("g")),
        lambda g: g.change(weight=MAX_WEIGHT),
        GoalChanged(goal_id="g", changes={"weight": MAX_WEIGHT}, material=False),
    )


def test_a_key_result_from_a_value_to_itself_is_refused() -> None:
    then_raises(given("g", created("g")), lambda g: g.add_key_result("k", "k", 5, 5), InvalidInput, "target")


@pytest.mark.parametrize(
    "when",
    [
        lambda g: g.add_key_result("k2", "k", math.nan, 1),
        lambda g: g.add_key_result("k2", "k", 0, math.inf),
        lambda g: g.add_key_result("k2", "k", 0, 1, current=-math.inf),
        lambda g: g.record_progress("k", math.nan),
        lambda g: g.record_progress("k", math.inf),
    ],
)
def test_key_result_numbers_must_be_finite(when: Callable[[Goal], None]) -> None:
    then_raises(with_key_result(), when, InvalidInput, "finite")


def test_a_goal_keeps_the_confidence_of_its_last_progress_like_the_view() -> None:
    goal = with_key_result()
    goal.apply(
        KeyResultProgressRecorded(goal_id="g", key_result_id="k", value=2, previous_value=0, confidence=4)
    )
    assert goal.key_results["k"].confidence == 4
