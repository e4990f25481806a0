"""Training, Enrolment and Mentorship (and plans that name trainings), given-when-then."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from trellis.contracts.onboarding import (
    MentorshipArranged,
    MentorshipEnded,
    MilestoneTemplate,
    TrainingChanged,
    TrainingCreated,
    TrainingDueSoon,
    TrainingEnrolled,
    TrainingEnrolmentCompleted,
    TrainingEnrolmentWithdrawn,
    TrainingRetired,
    registry,
)
from trellis.core.errors import Forbidden, InvalidInput, NotFound
from trellis.core.runtime.auth import Actor
from trellis.onboarding.domain.enrolment import (
    Enrolment,
    EnrolmentClosed,
    EvidenceRequired,
    TargetDateInPast,
)
from trellis.onboarding.domain.ids import plan_enrolment_id, plan_id_of
from trellis.onboarding.domain.mentorship import (
    EndBeforeStart,
    Mentorship,
    MentorshipFinished,
    PeriodInPast,
    SelfMentorship,
)
from trellis.onboarding.domain.permissions import (
    ensure_may_arrange_mentorship,
    ensure_may_enrol,
    may_read_mentorship,
    oversees,
)
from trellis.onboarding.domain.plan import OnboardingPlan
from trellis.onboarding.domain.template import OnboardingTemplate
from trellis.onboarding.domain.training import InvalidUrl, RetiredTraining, Training, TrainingDetails

TENANT = "acme"
TODAY = dt.date(2026, 3, 2)
TARGET = dt.date(2026, 4, 1)

SQL = TrainingCreated(
    training_id="sql",
    kind="course",
    title="SQL basics",
    description="Selects and joins",
    url="https://learn.example.com/sql",
    skills=["sql", "data"],
    duration_minutes=240,
)
ENROLLED = TrainingEnrolled(
    enrolment_id="en-1",
    training_id="sql",
    training_title="SQL basics",
    employee_id="nora",
    manager_id="mia",
    team_id="platform",
    enrolled_by="mia",
    enrolled_on=TODAY,
    target_date=TARGET,
)


def then(agg: Any, when: Callable[[Any], None], *expected: Any) -> None:
    when(agg)
    assert agg.pending == list(expected)


def then_raises(
    agg: Any, when: Callable[[Any], None], error: type[Exception], match: str | None = None
) -> None:
    with pytest.raises(error, match=match):
        when(agg)
    assert agg.pending == []


def training(*events: Any) -> Training:
    return Training.rehydrate("sql", TENANT, [SQL, *events])


def enrolment(*events: Any) -> Enrolment:
    return Enrolment.rehydrate("en-1", TENANT, [ENROLLED, *events])


def details(**changes: Any) -> TrainingDetails:
    base = {
        "kind": "course",
        "title": "SQL basics",
        "description": "Selects and joins",
        "url": "https://learn.example.com/sql",
        "skills": ("sql", "data"),
        "duration_minutes": 240,
    }
    return TrainingDetails(**{**base, **changes})


# ---- the catalogue ----------------------------------------------------------------------


def test_a_training_is_created_with_its_skills_as_lower_case_tags_each_once() -> None:
    then(
        Training("sql", TENANT),
        lambda t: t.create(details(title=" SQL basics ", skills=("SQL", " data ", "sql"))),
        SQL,
    )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://files.example.com/x",
        "javascript:alert(1)",
        "https://",
        "example.com/sql",
        "https://a b.com",
        "x" * 3000,
    ],
)
def test_a_training_address_must_be_http_or_https_with_a_host(url: str) -> None:
    then_raises(Training("sql", TENANT), lambda t: t.create(details(url=url)), InvalidUrl)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"title": "  "}, "title"),
        ({"title": "t" * 301}, "title"),
        ({"description": "d" * 10_001}, "description"),
        ({"skills": ("a very long skill tag that goes on and on and on",)}, "skill"),
        ({"skills": ("#hash",)}, "skill"),
        ({"skills": tuple(f"s{i}" for i in range(21))}, "20 skills"),
        ({"duration_minutes": 0}, "duration"),
        ({"kind": "external_link", "url": None}, "needs its url"),
    ],
)
def test_bad_trainings_are_refused(changes: dict[str, Any], match: str) -> None:
    then_raises(Training("sql", TENANT), lambda t: t.create(details(**changes)), InvalidInput, match)


def test_changing_a_training_records_it_whole_and_the_same_again_records_nothing() -> None:
    then(training(), lambda t: t.change(details()))
    then(
        training(),
        lambda t: t.change(details(title="SQL, the basics", url=None, skills=("sql",))),
        TrainingChanged(
            training_id="sql",
            kind="course",
            title="SQL, the basics",
            description="Selects and joins",
            skills=["sql"],
            duration_minutes=240,
        ),
    )


def test_a_retired_training_changes_no_more_and_enrols_nobody() -> None:
    then(training(), lambda t: t.retire(), TrainingRetired(training_id="sql"))
    retired = training(TrainingRetired(training_id="sql"))
    then(retired, lambda t: t.retire())  # again: nothing
    then_raises(retired, lambda t: t.change(details(title="New")), RetiredTraining)
    then_raises(
        Enrolment("en-2", TENANT),
        lambda e: e.enrol(
            employee_id="nora",
            training=retired,
            manager_id=None,
            team_id=None,
            by="nora",
            today=TODAY,
            target_date=TARGET,
        ),
        RetiredTraining,
    )
    then_raises(Training("nope", TENANT), lambda t: t.retire(), NotFound)


# ---- enrolments -------------------------------------------------------------------------


def enrol(target: dt.date, *, plan_id: str | None = None) -> Callable[[Enrolment], None]:
    def when(e: Enrolment) -> None:
        e.enrol(
            employee_id="nora",
            training=training(),
            manager_id="mia",
            team_id="platform",
            by="mia",
            today=TODAY,
            target_date=target,
            plan_id=plan_id,
            milestone_id="day-30" if plan_id else None,
        )

    return when


def test_enrolling_records_the_training_title_the_people_and_the_dates() -> None:
    then(Enrolment("en-1", TENANT), enrol(TARGET), ENROLLED)
    then(Enrolment("en-1", TENANT), enrol(TODAY), ENROLLED.model_copy(update={"target_date": TODAY}))


def test_a_target_date_before_the_enrolment_is_refused_unless_a_plan_set_it() -> None:
    then_raises(Enrolment("en-1", TENANT), enrol(TODAY - dt.timedelta(days=1)), TargetDateInPast)
    past = TODAY - dt.timedelta(days=5)
    then(
        Enrolment("en-1", TENANT),
        enrol(past, plan_id="p"),
        ENROLLED.model_copy(update={"target_date": past, "plan_id": "p", "milestone_id": "day-30"}),
    )


def completed(on: dt.date, *, on_time: bool = True, note: str = "certificate", url: str | None = None) -> Any:
    return TrainingEnrolmentCompleted(
        enrolment_id="en-1",
        training_id="sql",
        training_title="SQL basics",
        employee_id="nora",
        manager_id="mia",
        completed_by="nora",
        completed_on=on,
        target_date=TARGET,
        on_time=on_time,
        evidence_note=note,
        evidence_url=url,
    )


def test_completing_with_evidence_says_whether_it_was_on_time() -> None:
    then(
        enrolment(),
        lambda e: e.complete(by="nora", today=TARGET, note=" certificate ", manager_id="mia"),
        completed(TARGET),
    )
    later = TARGET + dt.timedelta(days=1)
    then(
        enrolment(),
        lambda e: e.complete(by="nora", today=later, url="https://certs.example.com/42", manager_id="mia"),
        completed(later, on_time=False, note="", url="https://certs.example.com/42"),
    )


def test_a_completion_needs_evidence_and_a_real_link() -> None:
    then_raises(enrolment(), lambda e: e.complete(by="nora", today=TODAY, manager_id="mia"), EvidenceRequired)
    then_raises(
        enrolment(),
        lambda e: e.complete(by="nora", today=TODAY, url="file:///etc/passwd", manager_id="mia"),
        InvalidUrl,
    )
    then_raises(
        enrolment(),
        lambda e: e.complete(by="nora", today=TODAY, note="n" * 2001, manager_id="mia"),
        InvalidInput,
    )


def test_completed_and_withdrawn_are_final_and_repeating_them_records_nothing() -> None:
    done = enrolment(completed(TODAY))
    then(done, lambda e: e.complete(by="nora", today=TODAY, note="again", manager_id="mia"))
    then_raises(done, lambda e: e.withdraw(by="nora", today=TODAY), EnrolmentClosed)
    withdrawn = TrainingEnrolmentWithdrawn(
        enrolment_id="en-1", training_id="sql", employee_id="nora", withdrawn_by="mia", withdrawn_on=TODAY
    )
    then(enrolment(), lambda e: e.withdraw(by="mia", today=TODAY, reason=" "), withdrawn)
    gone = enrolment(withdrawn)
    then(gone, lambda e: e.withdraw(by="mia", today=TODAY))
    then_raises(
        gone, lambda e: e.complete(by="nora", today=TODAY, note="x", manager_id="mia"), EnrolmentClosed
    )
    then_raises(Enrolment("x", TENANT), lambda e: e.withdraw(by="mia", today=TODAY), NotFound)


def due_soon(today: dt.date) -> TrainingDueSoon:
    return TrainingDueSoon(
        enrolment_id="en-1",
        training_id="sql",
        training_title="SQL basics",
        employee_id="nora",
        manager_id="olga",
        target_date=TARGET,
        days_left=(TARGET - today).days,
    )


def test_due_soon_is_announced_once_per_target_date_and_only_while_open() -> None:
    day = TARGET - dt.timedelta(days=3)

    def announce(e: Enrolment) -> None:
        e.announce_due_soon(TARGET, today=day, manager_id="olga")

    then(enrolment(), announce, due_soon(day))
    then(enrolment(due_soon(day)), announce)  # fired twice: once
    then(enrolment(completed(day)), announce)  # completed since: nothing
    withdrawn = TrainingEnrolmentWithdrawn(
        enrolment_id="en-1", training_id="sql", employee_id="nora", withdrawn_by="mia", withdrawn_on=day
    )
    then(enrolment(withdrawn), announce)
    then(
        enrolment(), lambda e: e.announce_due_soon(TARGET - dt.timedelta(days=1), today=day, manager_id=None)
    )
    then(
        enrolment(),
        lambda e: e.announce_due_soon(TARGET, today=TARGET + dt.timedelta(days=1), manager_id=None),
    )


def test_a_plans_enrolment_id_is_derived_from_plan_and_training() -> None:
    plan = plan_id_of(TENANT, "nora")
    assert plan_enrolment_id(plan, "sql") == plan_enrolment_id(plan, "sql")
    assert plan_enrolment_id(plan, "sql") != plan_enrolment_id(plan, "git")
    assert plan_enrolment_id(plan, "sql") != plan_enrolment_id(plan_id_of("globex", "nora"), "sql")


# ---- templates and plans that name trainings -----------------------------------------------


def test_a_template_names_each_training_once() -> None:
    twice = [
        MilestoneTemplate(key="a", title="A", due_offset_days=10, training_id="sql"),
        MilestoneTemplate(key="b", title="B", due_offset_days=20, training_id="sql"),
    ]
    then_raises(
        OnboardingTemplate("t", TENANT), lambda t: t.create("T", twice), InvalidInput, "two milestones"
    )
    bad = [MilestoneTemplate(key="a", title="A", due_offset_days=10, training_id="s q l")]
    then_raises(OnboardingTemplate("t", TENANT), lambda t: t.create("T", bad), InvalidInput)


def test_a_plan_links_each_training_milestone_to_its_enrolment_and_completing_finds_it() -> None:
    plan = OnboardingPlan("p", TENANT)
    plan.start(
        employee_id="nora",
        manager_id="mia",
        mentor_id=None,
        team_id=None,
        template_id="t",
        start_date=TODAY,
        milestones=[
            MilestoneTemplate(key="sql", title="SQL course", due_offset_days=30, training_id="sql"),
            MilestoneTemplate(key="git", title="Git course", due_offset_days=40, training_id="git"),
            MilestoneTemplate(key="day-60", title="Day 60", due_offset_days=60),
        ],
        enrolments={"sql": "en-1"},  # git: retired since the template named it
    )
    [started] = plan.pending
    assert [(m.training_id, m.enrolment_id) for m in started.milestones] == [  # type: ignore[attr-defined]
        ("sql", "en-1"),
        ("git", None),
        (None, None),
    ]
    assert [m.milestone_id for m in plan.open_milestones_of("en-1")] == ["sql"]
    plan.complete_milestone("sql", by="nora", today=TODAY)
    assert plan.open_milestones_of("en-1") == []


def test_version_1_plans_and_templates_read_as_version_2_without_trainings() -> None:
    plan = registry.decode_payload(
        "OnboardingPlanStarted",
        1,
        {
            "plan_id": "p",
            "employee_id": "nora",
            "manager_id": None,
            "start_date": "2026-03-02",
            "milestones": [
                {"milestone_id": "m", "title": "M", "due_date": "2026-04-01", "assignee": "new_hire"}
            ],
        },
    )
    assert plan.milestones[0].training_id is None  # type: ignore[attr-defined]
    template = registry.decode_payload(
        "OnboardingTemplateRevised",
        1,
        {"template_id": "t", "name": "T", "milestones": [{"key": "m", "title": "M", "due_offset_days": 3}]},
    )
    assert template.milestones[0].training_id is None  # type: ignore[attr-defined]


# ---- mentorships ------------------------------------------------------------------------

ARRANGED = MentorshipArranged(
    mentorship_id="ms-1",
    mentor_id="max",
    mentee_id="nora",
    starts_on=TODAY,
    ends_on=TODAY + dt.timedelta(days=90),
    objectives=["Lead a design review"],
    goal_ids=["g-1"],
)


def arrange(**changes: Any) -> Callable[[Mentorship], None]:
    args: dict[str, Any] = {
        "mentor_id": "max",
        "mentee_id": "nora",
        "starts_on": TODAY,
        "ends_on": TODAY + dt.timedelta(days=90),
        "objectives": [" Lead a design review "],
        "goal_ids": ["g-1", "g-1"],
        "today": TODAY,
        **changes,
    }
    return lambda m: m.arrange(**args)


def test_a_mentorship_pairs_two_people_for_a_period_with_objectives() -> None:
    then(Mentorship("ms-1", TENANT), arrange(), ARRANGED)
    mentorship = Mentorship.rehydrate("ms-1", TENANT, [ARRANGED])
    assert mentorship.status(TODAY - dt.timedelta(days=1)) == "upcoming"
    assert mentorship.status(TODAY + dt.timedelta(days=90)) == "active"
    assert mentorship.status(TODAY + dt.timedelta(days=91)) == "finished"


@pytest.mark.parametrize(
    "changes, error",
    [
        ({"mentor_id": "nora"}, SelfMentorship),
        ({"ends_on": TODAY - dt.timedelta(days=1), "starts_on": TODAY}, EndBeforeStart),
        ({"starts_on": TODAY - dt.timedelta(days=30), "ends_on": TODAY - dt.timedelta(days=1)}, PeriodInPast),
        ({"objectives": [], "goal_ids": []}, InvalidInput),
        ({"objectives": ["o" * 501]}, InvalidInput),
        ({"objectives": ["  "]}, InvalidInput),
        ({"goal_ids": ["not an id"]}, InvalidInput),
    ],
)
def test_bad_mentorships_are_refused(changes: dict[str, Any], error: type[Exception]) -> None:
    then_raises(Mentorship("ms-1", TENANT), arrange(**changes), error)


def test_a_mentorship_ends_early_once_and_not_after_its_period() -> None:
    mentorship = Mentorship.rehydrate("ms-1", TENANT, [ARRANGED])
    day = TODAY + dt.timedelta(days=10)
    ended = MentorshipEnded(
        mentorship_id="ms-1",
        mentor_id="max",
        mentee_id="nora",
        ended_on=day,
        ends_on=ARRANGED.ends_on,
        ended_by="mia",
        reason="moved teams",
    )
    then(mentorship, lambda m: m.end(by="mia", today=day, reason=" moved teams "), ended)
    after = Mentorship.rehydrate("ms-1", TENANT, [ARRANGED, ended])
    then(after, lambda m: m.end(by="mia", today=day))
    assert after.status(day) == "ended"
    over = Mentorship.rehydrate("ms-1", TENANT, [ARRANGED])
    then_raises(over, lambda m: m.end(by="mia", today=TODAY + dt.timedelta(days=91)), MentorshipFinished)


# ---- who may ---------------------------------------------------------------------------


def actor(who: str, *roles: str) -> Actor:
    return Actor(employee_id=who, tenant_id=TENANT, roles=frozenset(roles or {"employee"}))


def test_the_person_anyone_above_them_admin_and_hr_oversee_their_development() -> None:
    chain = ["mia", "ceo"]  # nora's managers, nearest first
    for who in (actor("nora"), actor("mia"), actor("ceo"), actor("hana", "hr"), actor("root", "admin")):
        assert oversees(who, "nora", chain)
        ensure_may_enrol(who, "nora", chain)
    for who in (actor("max"), actor("olga", "manager")):
        assert not oversees(who, "nora", chain)
        with pytest.raises(Forbidden):
            ensure_may_enrol(who, "nora", chain)


def test_mentorships_are_arranged_above_the_mentee_and_read_by_the_pair_too() -> None:
    chain = ["mia", "ceo"]
    ensure_may_arrange_mentorship(actor("ceo"), chain)
    ensure_may_arrange_mentorship(actor("hana", "hr"), chain)
    for who in (actor("nora"), actor("max")):  # the mentee, the mentor
        with pytest.raises(Forbidden):
            ensure_may_arrange_mentorship(who, chain)
        assert may_read_mentorship(who, "max", "nora", chain)
    assert not may_read_mentorship(actor("olga"), "max", "nora", chain)
