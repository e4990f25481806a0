"""OnboardingTemplate and OnboardingPlan, given-when-then."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.onboarding import (
    GoalTemplate,
    MentorAssigned,
    MilestoneCompleted,
    MilestoneMissed,
    MilestoneRescheduled,
    MilestoneTemplate,
    OnboardingPlanCompleted,
    OnboardingPlanStarted,
    OnboardingTemplateCreated,
    OnboardingTemplateRetired,
    OnboardingTemplateRevised,
    PlannedGoal,
    PlannedMilestone,
    registry,
)
from trellis.core.errors import Forbidden, InvalidInput, NotFound, RuleViolation
from trellis.core.runtime.auth import Actor
from trellis.onboarding.domain.calendar import missed_at, quarter_of
from trellis.onboarding.domain.ids import employee_stream_id, plan_id_of, planned_goal_id
from trellis.onboarding.domain.permissions import ensure_may_complete, ensure_may_manage_plan
from trellis.onboarding.domain.plan import OnboardingPlan
from trellis.onboarding.domain.template import OnboardingTemplate

TENANT = "acme"
START = dt.date(2026, 3, 2)
D30, D60, D90 = (START + dt.timedelta(days=n) for n in (30, 60, 90))

THIRTY_SIXTY_NINETY = [
    MilestoneTemplate(key="day-60", title="Owns a feature", due_offset_days=60, assignee="manager"),
    MilestoneTemplate(
        key="day-30", title="First commit", due_offset_days=30, goal=GoalTemplate(title="Ship a first fix")
    ),
    MilestoneTemplate(key="day-90", title="Mentoring review", due_offset_days=90, assignee="mentor"),
]

STARTED = OnboardingPlanStarted(
    plan_id="p",
    employee_id="nora",
    manager_id="mia",
    mentor_id="max",
    team_id="platform",
    template_id="t-306090",
    start_date=START,
    milestones=[
        PlannedMilestone(
            milestone_id="day-30",
            title="First commit",
            due_date=D30,
            assignee="new_hire",
            template_key="day-30",
        ),
        PlannedMilestone(
            milestone_id="day-60",
            title="Owns a feature",
            due_date=D60,
            assignee="manager",
            template_key="day-60",
        ),
        PlannedMilestone(
            milestone_id="day-90",
            title="Mentoring review",
            due_date=D90,
            assignee="mentor",
            template_key="day-90",
        ),
    ],
    goals=[
        PlannedGoal(
            goal_id=planned_goal_id("p", "day-30"),
            title="Ship a first fix",
            period="2026-Q1",
            milestone_id="day-30",
        )
    ],
)


def plan(*events: DomainEvent) -> OnboardingPlan:
    return OnboardingPlan.rehydrate("p", TENANT, [STARTED, *events])


def then(agg: Any, when: Callable[[Any], None], *expected: DomainEvent) -> None:
    when(agg)
    assert agg.pending == list(expected)


def then_raises(
    agg: Any, when: Callable[[Any], None], error: type[Exception], match: str | None = None
) -> None:
    with pytest.raises(error, match=match):
        when(agg)
    assert agg.pending == []


def completed(
    milestone: str, on: dt.date, *, late: bool = False, was_missed: bool = False, due: dt.date | None = None
) -> MilestoneCompleted:
    due = due or {"day-30": D30, "day-60": D60, "day-90": D90}[milestone]
    return MilestoneCompleted(
        plan_id="p",
        employee_id="nora",
        milestone_id=milestone,
        completed_by="nora",
        completed_on=on,
        due_date=due,
        late=late,
        was_missed=was_missed,
    )


def missed(milestone: str = "day-30", due: dt.date = D30, assignee: str = "new_hire") -> MilestoneMissed:
    return MilestoneMissed(
        plan_id="p",
        employee_id="nora",
        milestone_id=milestone,
        title="First commit",
        due_date=due,
        assignee=assignee,  # type: ignore[arg-type]
        manager_id="mia",
        mentor_id="max",
    )


# ---- templates --------------------------------------------------------------------------


def test_a_template_keeps_its_milestones_in_due_order() -> None:
    template = OnboardingTemplate("t", TENANT)
    template.create(" 30/60/90 ", THIRTY_SIXTY_NINETY)
    [event] = template.pending
    assert isinstance(event, OnboardingTemplateCreated)
    assert event.name == "30/60/90"
    assert [m.key for m in event.milestones] == ["day-30", "day-60", "day-90"]


@pytest.mark.parametrize(
    "milestones, match",
    [
        ([], "at least one"),
        ([MilestoneTemplate(key="a", title="x", due_offset_days=1)] * 2, "used twice"),
        ([MilestoneTemplate(key="a b", title="x", due_offset_days=1)], "letters, digits"),
        ([MilestoneTemplate(key="a", title=" ", due_offset_days=1)], "title"),
    ],
)
def test_bad_templates_are_refused(milestones: list[MilestoneTemplate], match: str) -> None:
    then_raises(OnboardingTemplate("t", TENANT), lambda t: t.create("T", milestones), InvalidInput, match)


def test_revising_and_retiring_a_template() -> None:
    created = OnboardingTemplateCreated(template_id="t", name="T", milestones=THIRTY_SIXTY_NINETY[1:2])
    template = OnboardingTemplate.rehydrate("t", TENANT, [created])
    then(template, lambda t: t.revise("T", THIRTY_SIXTY_NINETY[1:2]))  # the same: nothing
    then(
        OnboardingTemplate.rehydrate("t", TENANT, [created]),
        lambda t: t.revise("T2", THIRTY_SIXTY_NINETY[1:2]),
        OnboardingTemplateRevised(template_id="t", name="T2", milestones=THIRTY_SIXTY_NINETY[1:2]),
    )
    retired = OnboardingTemplate.rehydrate("t", TENANT, [created])
    then(retired, lambda t: t.retire(), OnboardingTemplateRetired(template_id="t"))
    retired = OnboardingTemplate.rehydrate("t", TENANT, [created, OnboardingTemplateRetired(template_id="t")])
    then_raises(retired, lambda t: t.milestones_to_start(), RuleViolation, "retired")
    then_raises(retired, lambda t: t.revise("T", THIRTY_SIXTY_NINETY), RuleViolation, "retired")


# ---- starting a plan --------------------------------------------------------------------


def test_starting_a_plan_turns_offsets_into_due_dates_and_asks_for_the_goals() -> None:
    then(
        OnboardingPlan("p", TENANT),
        lambda p: p.start(
            employee_id="nora",
            manager_id="mia",
            mentor_id="max",
            team_id="platform",
            template_id="t-306090",
            start_date=START,
            milestones=THIRTY_SIXTY_NINETY,
        ),
        STARTED,
    )


def test_a_planned_goals_id_and_period_are_derived() -> None:
    assert planned_goal_id("p", "day-30") == planned_goal_id("p", "day-30")
    assert planned_goal_id("p", "day-30") != planned_goal_id("p", "day-60")
    assert quarter_of(dt.date(2026, 3, 31)) == "2026-Q1" and quarter_of(dt.date(2026, 10, 1)) == "2026-Q4"
    assert plan_id_of("acme", "nora") != plan_id_of("globex", "nora")
    assert employee_stream_id("acme", "nora") != employee_stream_id("globex", "nora")


def test_a_plan_starts_once_and_the_new_hire_is_not_their_own_mentor() -> None:
    then_raises(
        plan(),
        lambda p: p.start(
            employee_id="nora",
            manager_id=None,
            mentor_id=None,
            team_id=None,
            template_id=None,
            start_date=START,
            milestones=THIRTY_SIXTY_NINETY,
        ),
        RuleViolation,
        "already",
    )
    then_raises(
        OnboardingPlan("p", TENANT),
        lambda p: p.start(
            employee_id="nora",
            manager_id=None,
            mentor_id="nora",
            team_id=None,
            template_id=None,
            start_date=START,
            milestones=THIRTY_SIXTY_NINETY,
        ),
        RuleViolation,
        "mentor",
    )


# ---- completing -------------------------------------------------------------------------


def test_completing_on_the_due_date_is_on_time() -> None:
    p = plan()
    then(p, lambda p: p.complete_milestone("day-30", by="nora", today=D30), completed("day-30", D30))
    assert p.milestones["day-30"].status(D90) == "on_time"


def test_completing_after_the_due_date_is_late_even_before_it_was_flagged_missed() -> None:
    late = D30 + dt.timedelta(days=1)
    p = plan()
    then(
        p,
        lambda p: p.complete_milestone("day-30", by="nora", today=late),
        completed("day-30", late, late=True),
    )
    assert p.milestones["day-30"].status(late) == "completed_late"


def test_a_missed_milestone_completed_later_stays_recorded_as_completed_late() -> None:
    later = D30 + dt.timedelta(days=3)
    p = plan(missed())
    assert p.milestones["day-30"].status(later) == "missed"
    then(
        p,
        lambda p: p.complete_milestone("day-30", by="nora", today=later),
        completed("day-30", later, late=True, was_missed=True),
    )
    assert p.milestones["day-30"].status(later) == "completed_late"


def test_completing_twice_records_once_and_an_unknown_milestone_is_not_found() -> None:
    then(plan(completed("day-30", D30)), lambda p: p.complete_milestone("day-30", by="nora", today=D60))
    then_raises(plan(), lambda p: p.complete_milestone("day-31", by="nora", today=D30), NotFound)


def test_the_plan_completes_with_its_last_milestone() -> None:
    history = (
        completed("day-30", D30),
        missed("day-60", D60, "manager"),
        completed("day-60", D90, late=True, was_missed=True),
    )
    p = plan(*history)
    then(
        p,
        lambda p: p.complete_milestone("day-90", by="max", today=D90),
        MilestoneCompleted(
            plan_id="p",
            employee_id="nora",
            milestone_id="day-90",
            completed_by="max",
            completed_on=D90,
            due_date=D90,
            late=False,
        ),
        OnboardingPlanCompleted(plan_id="p", employee_id="nora", completed_on=D90, on_time=2, late=1),
    )
    done = plan(*history, *p.pending)
    assert done.is_completed
    then_raises(done, lambda p: p.assign_mentor("ada"), RuleViolation, "completed")


# ---- missing ----------------------------------------------------------------------------


def test_a_milestone_is_missed_once_its_due_date_has_ended() -> None:
    then(plan(), lambda p: p.miss_milestone("day-30", D30, today=D30, manager_id="mia"))  # still the due date
    then(
        plan(),
        lambda p: p.miss_milestone("day-30", D30, today=D30 + dt.timedelta(days=1), manager_id="mia"),
        missed(),
    )
    assert missed_at(D30) == dt.datetime(2026, 4, 2, tzinfo=dt.UTC)  # 00:00 UTC the day after


def test_missed_is_decided_once_per_due_date() -> None:
    then(plan(missed()), lambda p: p.miss_milestone("day-30", D30, today=D90, manager_id="mia"))


def test_nothing_is_missed_when_done_moved_or_unknown() -> None:
    after = D90 + dt.timedelta(days=1)
    then(
        plan(completed("day-30", D30)),
        lambda p: p.miss_milestone("day-30", D30, today=after, manager_id="mia"),
    )
    moved = MilestoneRescheduled(
        plan_id="p",
        employee_id="nora",
        milestone_id="day-30",
        due_date=D60,
        previous_due_date=D30,
        reason="r",
    )
    then(plan(moved), lambda p: p.miss_milestone("day-30", D30, today=after, manager_id="mia"))
    then(plan(), lambda p: p.miss_milestone("day-31", D30, today=after, manager_id="mia"))


def test_a_rescheduled_milestone_can_be_missed_again_at_its_new_date() -> None:
    moved = MilestoneRescheduled(
        plan_id="p",
        employee_id="nora",
        milestone_id="day-30",
        due_date=D60,
        previous_due_date=D30,
        reason="leave",
    )
    p = plan(missed(), moved)
    assert p.milestones["day-30"].status(D30 + dt.timedelta(days=5)) == "upcoming"
    then(
        p,
        lambda p: p.miss_milestone("day-30", D60, today=D90, manager_id="ada"),
        missed(due=D60).model_copy(update={"manager_id": "ada"}),
    )


# ---- rescheduling -----------------------------------------------------------------------


def test_rescheduling_needs_a_reason_a_future_date_and_an_open_milestone() -> None:
    then(
        plan(),
        lambda p: p.reschedule_milestone("day-30", D60, " parental leave ", today=START),
        MilestoneRescheduled(
            plan_id="p",
            employee_id="nora",
            milestone_id="day-30",
            due_date=D60,
            previous_due_date=D30,
            reason="parental leave",
        ),
    )
    then(plan(), lambda p: p.reschedule_milestone("day-30", D30, "same", today=START))
    then_raises(
        plan(), lambda p: p.reschedule_milestone("day-30", D60, " ", today=START), InvalidInput, "why"
    )
    then_raises(
        plan(), lambda p: p.reschedule_milestone("day-30", START, "r", today=D30), InvalidInput, "past"
    )
    then_raises(
        plan(completed("day-30", D30)),
        lambda p: p.reschedule_milestone("day-30", D60, "r", today=D30),
        RuleViolation,
    )


def test_assigning_a_mentor() -> None:
    then(
        plan(),
        lambda p: p.assign_mentor("ada"),
        MentorAssigned(plan_id="p", employee_id="nora", mentor_id="ada", previous_mentor_id="max"),
    )
    then(plan(), lambda p: p.assign_mentor("max"))
    then_raises(plan(), lambda p: p.assign_mentor("nora"), RuleViolation, "themself")


# ---- who may ----------------------------------------------------------------------------


def actor(who: str, *roles: str) -> Actor:
    return Actor(employee_id=who, tenant_id=TENANT, roles=frozenset(roles or {"employee"}))


@pytest.mark.parametrize(
    "milestone, who, allowed",
    [
        ("day-30", actor("nora"), True),
        ("day-30", actor("mia", "manager"), False),
        ("day-60", actor("mia", "manager"), True),
        ("day-60", actor("nora"), False),
        ("day-90", actor("max"), True),
        ("day-90", actor("mia", "manager"), False),
        ("day-90", actor("hana", "hr"), True),
        ("day-30", actor("root", "admin"), True),
    ],
)
def test_only_the_assignee_or_admin_and_hr_complete_a_milestone(
    milestone: str, who: Actor, allowed: bool
) -> None:
    m = plan().milestones[milestone]
    if allowed:
        ensure_may_complete(who, m, employee_id="nora", manager_id="mia", mentor_id="max")
    else:
        with pytest.raises(Forbidden):
            ensure_may_complete(who, m, employee_id="nora", manager_id="mia", mentor_id="max")


def test_a_mentor_milestone_without_a_mentor_waits_for_admin_or_hr() -> None:
    m = plan().milestones["day-90"]
    with pytest.raises(Forbidden):
        ensure_may_complete(actor("max"), m, employee_id="nora", manager_id="mia", mentor_id=None)


def test_the_manager_and_admin_hr_manage_a_plan() -> None:
    ensure_may_manage_plan(actor("mia", "manager"), "mia")
    ensure_may_manage_plan(actor("hana", "hr"), "mia")
    with pytest.raises(Forbidden):
        ensure_may_manage_plan(actor("olga", "manager"), "mia")


def test_every_onboarding_event_has_a_json_schema_and_round_trips() -> None:
    schemas = registry.json_schemas()
    for ev in (STARTED, missed(), completed("day-30", D30)):
        assert ev.event_type in schemas
        assert registry.decode_payload(ev.event_type, ev.schema_version, ev.model_dump(mode="json")) == ev
