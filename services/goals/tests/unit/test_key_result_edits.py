"""Editable key results, given-when-then: rename, rescale, reweigh and remove a key
result, and change a goal's roll-up source; each an event, nothing when nothing changes."""

from __future__ import annotations

import math

import pytest

from trellis.contracts.goals import (
    GoalChanged,
    GoalCreated,
    GoalRetired,
    KeyResultAdded,
    KeyResultChanged,
    KeyResultProgressRecorded,
    KeyResultRemoved,
)
from trellis.core.errors import InvalidInput, NotFound, RuleViolation
from trellis.goals.domain.goal import Goal

CREATED = GoalCreated(goal_id="g", level="individual", title="Grow", owner_id="emil", period="Q4")
ADDED = KeyResultAdded(goal_id="g", key_result_id="kr", name="Users", start=0, target=100, current=0)
AT_40 = KeyResultProgressRecorded(goal_id="g", key_result_id="kr", value=40, previous_value=0)


def goal(*extra: object) -> Goal:
    return Goal.rehydrate("g", "acme", [CREATED, ADDED, AT_40, *extra])  # type: ignore[list-item]


def test_a_new_target_is_recorded_and_the_progress_follows_the_new_scale() -> None:
    g = goal()
    g.change_key_result("kr", target=200, name=" Active users ")
    assert g.pending == [KeyResultChanged(goal_id="g", key_result_id="kr", name="Active users", target=200.0)]
    after = Goal.rehydrate("g", "acme", [CREATED, ADDED, AT_40, *g.pending])
    kr = after.key_results["kr"]
    assert (kr.current, kr.progress) == (40, 0.2)


def test_a_change_to_the_same_values_records_nothing() -> None:
    g = goal()
    g.change_key_result("kr", name="Users", start=0, target=100, unit="", weight=1.0)
    assert g.pending == []


@pytest.mark.parametrize(
    "changes, error",
    [
        ({"target": 0}, InvalidInput),  # the start: no scale left
        ({"start": 100}, InvalidInput),
        ({"name": "  "}, InvalidInput),
        ({"weight": 0}, InvalidInput),
        ({"target": math.inf}, InvalidInput),
    ],
)
def test_a_change_that_breaks_the_key_result_is_refused(changes: dict[str, object], error: type) -> None:
    g = goal()
    with pytest.raises(error):
        g.change_key_result("kr", **changes)  # type: ignore[arg-type]
    assert g.pending == []


def test_removing_a_key_result_takes_it_out_of_the_goal() -> None:
    g = goal()
    g.remove_key_result("kr", reason="measured elsewhere")
    assert g.pending == [
        KeyResultRemoved(goal_id="g", key_result_id="kr", name="Users", reason="measured elsewhere")
    ]
    after = Goal.rehydrate("g", "acme", [CREATED, ADDED, AT_40, *g.pending])
    assert after.key_results == {}
    with pytest.raises(NotFound):
        after.record_progress("kr", 50)


def test_an_unknown_key_result_is_not_found_and_a_retired_goal_refuses_edits() -> None:
    with pytest.raises(NotFound):
        goal().change_key_result("other", target=5)
    with pytest.raises(NotFound):
        goal().remove_key_result("other")
    retired = goal(GoalRetired(goal_id="g"))
    with pytest.raises(RuleViolation):
        retired.change_key_result("kr", target=5)
    with pytest.raises(RuleViolation):
        retired.remove_key_result("kr")


def test_the_roll_up_source_can_change_and_must_be_known() -> None:
    g = goal()
    g.change(progress_rollup="children")
    assert g.pending == [GoalChanged(goal_id="g", changes={"progress_rollup": "children"}, material=False)]
    with pytest.raises(InvalidInput):
        goal().change(progress_rollup="vibes")
