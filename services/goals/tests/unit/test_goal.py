"""The Goal aggregate, given-when-then: given past events, when a command, then new events or an error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.goals import (
    GoalAligned,
    GoalChanged,
    GoalCompleted,
    GoalCreated,
    GoalRetired,
    GoalStatusChanged,
    GoalUnaligned,
    KeyResultAdded,
    KeyResultProgressRecorded,
    RealignmentRequested,
    RealignmentResolved,
    registry,
)
from trellis.core.errors import Forbidden, InvalidInput, NotFound, RuleViolation
from trellis.core.runtime.auth import Actor
from trellis.goals.domain.goal import Goal
from trellis.goals.domain.permissions import ensure_may_change, may_create
from trellis.goals.domain.progress import key_result_progress, rolled_up_progress

TENANT = "acme"


def created(
    goal_id: str, level: str = "individual", parent_id: str | None = None, **kw: object
) -> GoalCreated:
    return GoalCreated(
        goal_id=goal_id,
        level=level,
        title=f"goal {goal_id}",
        owner_id="emil",
        period="Q4",
        parent_id=parent_id,
        **kw,
    )


def given(goal_id: str, *events: DomainEvent, tenant: str = TENANT) -> Goal:
    return Goal.rehydrate(goal_id, tenant, events)


def then(goal: Goal, when: Callable[[Goal], None], *expected: DomainEvent) -> None:
    when(goal)
    assert goal.pending == list(expected)


def then_raises(
    goal: Goal, when: Callable[[Goal], None], error: type[Exception], match: str | None = None
) -> None:
    with pytest.raises(error, match=match):
        when(goal)
    assert goal.pending == []


COMPANY = given("c", created("c", "company"))
TEAM = given("t", created("t", "team", parent_id="c"))


def test_creating_a_goal_aligned_to_a_team_goal() -> None:
    goal = Goal("g", TENANT)
    then(
        goal,
        lambda g: g.create(
            level="individual",
            title=" Ship it ",
            owner_id="emil",
            period="Q4",
            parent=TEAM,
            parent_ancestor_ids=["c"],
        ),
        GoalCreated(
            goal_id="g", level="individual", title="Ship it", owner_id="emil", period="Q4", parent_id="t"
        ),
    )


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"level": "galaxy"}, InvalidInput),
        ({"title": "  "}, InvalidInput),
        ({"period": ""}, InvalidInput),
        ({"weight": 0}, InvalidInput),
    ],
)
def test_creating_with_bad_fields_is_refused(kwargs: dict, error: type) -> None:
    fields = {"level": "individual", "title": "t", "owner_id": "o", "period": "Q", **kwargs}
    then_raises(Goal("g", TENANT), lambda g: g.create(**fields), error)


def test_a_goal_cannot_be_created_twice() -> None:
    then_raises(
        given("g", created("g")),
        lambda g: g.create(level="individual", title="t", owner_id="o", period="Q"),
        RuleViolation,
    )


@pytest.mark.parametrize(
    "level, parent, error, match",
    [
        ("company", TEAM, RuleViolation, "company objective cannot be aligned"),
        ("team", TEAM, RuleViolation, "team goal aligns to a company"),
        ("individual", given("i", created("i")), RuleViolation, "not a individual goal"),
        ("individual", given("x", created("x", "team"), GoalRetired(goal_id="x")), RuleViolation, "retired"),
        ("individual", given("t", created("t", "team"), tenant="globex"), NotFound, "not found"),
    ],
)
def test_alignment_rules(level: str, parent: Goal, error: type, match: str) -> None:
    goal = given("g", created("g", level))
    then_raises(goal, lambda g: g.align(parent, []), error, match)


def test_alignment_that_would_make_a_cycle_is_refused() -> None:
    team = given("t", created("t", "team"))
    then_raises(team, lambda g: g.align(team, []), RuleViolation, "cycle")
    # t is an ancestor of the would-be parent: a three-level loop
    other = given("o", created("o", "company"))
    then_raises(team, lambda g: g.align(other, ["x", "t"]), RuleViolation, "cycle")


def test_realigning_moves_the_goal_and_aligning_to_the_same_parent_is_a_no_op() -> None:
    goal = given("g", created("g", parent_id="t"))
    then(goal, lambda g: g.align(TEAM, ["c"]))
    other_team = given("t2", created("t2", "team"))
    then(
        goal,
        lambda g: g.align(other_team, []),
        GoalAligned(goal_id="g", parent_id="t2", previous_parent_id="t"),
    )


def test_unaligning_an_aligned_goal_and_refusing_it_twice() -> None:
    then(
        given("g", created("g", parent_id="t")),
        lambda g: g.unalign(),
        GoalUnaligned(goal_id="g", previous_parent_id="t"),
    )
    then_raises(given("g", created("g")), lambda g: g.unalign(), RuleViolation, "not aligned")


def test_changes_record_only_what_differs_and_say_whether_they_are_material() -> None:
    goal = given("g", created("g"))
    then(
        goal,
        lambda g: g.change(title="goal g", due_date=dt.date(2026, 12, 31)),
        GoalChanged(goal_id="g", changes={"due_date": "2026-12-31"}, material=False),
    )
    goal = given("g", created("g"))
    then(
        goal,
        lambda g: g.change(title="new title"),
        GoalChanged(goal_id="g", changes={"title": "new title"}, material=True),
    )
    then(given("g", created("g")), lambda g: g.change(title="goal g"))
    then_raises(
        given("g", created("g"), GoalRetired(goal_id="g")), lambda g: g.change(title="x"), RuleViolation
    )


def test_key_results_and_progress() -> None:
    goal = given("g", created("g"))
    then(
        goal,
        lambda g: g.add_key_result("k", "signups", 0, 100),
        KeyResultAdded(goal_id="g", key_result_id="k", name="signups", start=0, target=100, current=0),
    )
    goal = given(
        "g",
        created("g"),
        KeyResultAdded(goal_id="g", key_result_id="k", name="n", start=0, target=100, current=0),
    )
    then(
        goal,
        lambda g: g.record_progress("k", 40, "good week", 4),
        KeyResultProgressRecorded(
            goal_id="g", key_result_id="k", value=40, previous_value=0, comment="good week", confidence=4
        ),
    )
    assert goal.progress_of_key_results() == [(0.4, 1.0)]
    then_raises(given("g", created("g")), lambda g: g.record_progress("nope", 1), NotFound)
    fresh = given(
        "g",
        created("g"),
        KeyResultAdded(goal_id="g", key_result_id="k", name="n", start=0, target=1, current=0),
    )
    then_raises(fresh, lambda g: g.record_progress("k", 50, confidence=9), InvalidInput)
    then_raises(fresh, lambda g: g.add_key_result("k", "again", 0, 1), RuleViolation)


def test_status_completion_and_retirement() -> None:
    then(
        given("g", created("g")),
        lambda g: g.set_status("at_risk"),
        GoalStatusChanged(goal_id="g", status="at_risk", previous_status="on_track"),
    )
    then_raises(given("g", created("g")), lambda g: g.set_status("completed"), InvalidInput)
    then(given("g", created("g")), lambda g: g.complete(), GoalCompleted(goal_id="g"))
    then(given("g", created("g"), GoalCompleted(goal_id="g")), lambda g: g.complete())
    then(given("g", created("g")), lambda g: g.retire("pivot"), GoalRetired(goal_id="g", reason="pivot"))
    then(given("g", created("g"), GoalRetired(goal_id="g")), lambda g: g.retire())
    then_raises(given("g", created("g"), GoalRetired(goal_id="g")), lambda g: g.complete(), RuleViolation)


def test_commands_on_a_goal_that_does_not_exist_are_not_found() -> None:
    then_raises(Goal("g", TENANT), lambda g: g.retire(), NotFound)


def test_realignment_is_requested_once_per_cause_and_resolved_by_relinking() -> None:
    requested = RealignmentRequested(
        goal_id="g", cause_goal_id="c", cause_event_id="e1", reason="ancestor_retired"
    )
    then(
        given("g", created("g", parent_id="t")),
        lambda g: g.request_realignment(cause_goal_id="c", cause_event_id="e1", reason="ancestor_retired"),
        requested,
    )
    flagged = given("g", created("g", parent_id="t"), requested)
    then(
        flagged,
        lambda g: g.request_realignment(cause_goal_id="c", cause_event_id="e1", reason="ancestor_retired"),
    )
    then(
        given("g", created("g", parent_id="t"), requested),
        lambda g: g.align(TEAM, ["c"]),
        RealignmentResolved(goal_id="g", cause_event_ids=["e1"], resolution="confirmed"),
    )
    other = given("t2", created("t2", "team"))
    then(
        given("g", created("g", parent_id="t"), requested),
        lambda g: g.align(other, []),
        GoalAligned(goal_id="g", parent_id="t2", previous_parent_id="t"),
        RealignmentResolved(goal_id="g", cause_event_ids=["e1"], resolution="realigned"),
    )
    then(
        given("g", created("g", parent_id="t"), requested),
        lambda g: g.unalign(),
        GoalUnaligned(goal_id="g", previous_parent_id="t"),
        RealignmentResolved(goal_id="g", cause_event_ids=["e1"], resolution="unaligned"),
    )


@pytest.mark.parametrize(
    "start, target, current, expected",
    [
        (0, 100, 50, 0.5),
        (0, 100, 150, 1.0),
        (0, 100, -5, 0.0),
        (8, 5, 6.5, 0.5),
        (8, 5, 9, 0.0),
        (3, 3, 3, 1.0),
        (3, 3, 2, 0.0),
    ],
)
def test_key_result_progress_is_a_clamped_linear_scale(
    start: float, target: float, current: float, expected: float
) -> None:
    assert key_result_progress(start, target, current) == expected


def test_roll_up_is_a_weighted_mean_of_the_chosen_inputs() -> None:
    krs, children = [(1.0, 3.0), (0.0, 1.0)], [(0.5, 1.0)]
    assert rolled_up_progress("key_results", krs, children, False) == 0.75
    assert rolled_up_progress("children", krs, children, False) == 0.5
    assert rolled_up_progress("both", krs, children, False) == round(3.5 / 5, 4)
    assert rolled_up_progress("both", [], [], False) == 0.0
    assert rolled_up_progress("both", [], [], True) == 1.0


def actor(*roles: str, me: str = "emil") -> Actor:
    return Actor(employee_id=me, tenant_id=TENANT, roles=frozenset(roles))


@pytest.mark.parametrize(
    "who, level, owner, manages, allowed",
    [
        (actor("admin"), "company", "x", False, True),
        (actor("hr"), "individual", "x", False, True),
        (actor("manager"), "company", "emil", False, False),
        (actor("manager"), "team", "emil", False, True),
        (actor("manager"), "team", "x", True, True),
        (actor("manager"), "team", "x", False, False),
        (actor("employee"), "team", "emil", False, False),
        (actor("employee"), "individual", "emil", False, True),
        (actor("employee"), "individual", "x", False, False),
        (actor("employee"), "individual", "x", True, True),
    ],
)
def test_who_may_create_and_change_goals(
    who: Actor, level: str, owner: str, manages: bool, allowed: bool
) -> None:
    assert may_create(who, level, owner, manages) is allowed


def test_a_forbidden_change_says_so() -> None:
    with pytest.raises(Forbidden):
        ensure_may_change(actor("employee", me="olga"), given("g", created("g")), False)


def test_every_event_has_a_json_schema_and_round_trips() -> None:
    schemas = registry.json_schemas()
    schemas = {k: v for k, v in schemas.items() if v.get("x-aggregate-type") != "timesheet"}  # not goals'
    assert len(schemas) == 17
    event = created("g", due_date=dt.date(2026, 12, 1))
    assert GoalCreated.model_validate(event.model_dump(mode="json")) == event
