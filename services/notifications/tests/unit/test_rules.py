"""Who is affected, rule by rule: given what the service knows, when an event, then these people are told."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from trellis.contracts import feedback, goals, onboarding
from trellis.contracts.envelope import DomainEvent
from trellis.contracts.feedback import ReviewAssignment
from trellis.contracts.notifications import Subject
from trellis.contracts.onboarding import PlannedMilestone
from trellis.notifications.reactions.affected import FeedbackAffected, GoalsAffected, OnboardingAffected
from trellis.notifications.reactions.facts import GoalFact, PlanFact
from trellis.notifications.reactions.rules import RULES, Notice, notices_for

#   ceo
#   ├── mia (team lead, team "growth")
#   │   ├── emil  (team "growth")
#   │   └── nora  (team "growth")
#   └── olga (team "ops")
#       └── piet  (team "ops")
MANAGERS = {"mia": "ceo", "emil": "mia", "nora": "mia", "olga": "ceo", "piet": "olga"}
TEAMS = {"mia": "growth", "emil": "growth", "nora": "growth", "olga": "ops", "piet": "ops"}

# objective o (ceo) ← team goal t (mia) ← individual e1, e2 (emil), n1 (nora); retired r (piet) under t
GOALS = [
    GoalFact("o", "company", "Win the mid-market", "ceo", None, "on_track"),
    GoalFact("t", "team", "Self-serve onboarding", "mia", "o", "on_track"),
    GoalFact("e1", "individual", "Signup in 3 steps", "emil", "t", "on_track"),
    GoalFact("e2", "individual", "Guided tour", "emil", "t", "on_track"),
    GoalFact("n1", "individual", "Pricing page", "nora", "t", "on_track"),
    GoalFact("r", "individual", "Old idea", "piet", "t", "retired"),
    GoalFact("x", "company", "Unrelated", "ceo", None, "on_track"),
]


@dataclass
class KnownFacts:
    """The ``Facts`` the rules see, from plain dictionaries."""

    goals: dict[str, GoalFact] = field(default_factory=lambda: {g.goal_id: g for g in GOALS})
    plans: dict[str, PlanFact] = field(default_factory=dict)
    pending_reviews: dict[tuple[str, str], int] = field(default_factory=dict)

    async def goal(self, goal_id: str) -> GoalFact | None:
        return self.goals.get(goal_id)

    async def goals_beneath(self, goal_id: str) -> list[GoalFact]:
        found, frontier = [], [goal_id]
        while frontier:
            children = [g for g in self.goals.values() if g.parent_id in frontier and g.status != "retired"]
            found.extend(children)
            frontier = [g.goal_id for g in children]
        return found

    async def manager_of(self, employee_id: str) -> str | None:
        return MANAGERS.get(employee_id)

    async def team_of(self, employee_id: str) -> str | None:
        return TEAMS.get(employee_id)

    async def team_members(self, team_id: str) -> list[str]:
        return sorted(e for e, t in TEAMS.items() if t == team_id)

    async def plan(self, plan_id: str) -> PlanFact | None:
        return self.plans.get(plan_id)

    async def reviews_to_submit(self, cycle_id: str, reviewer_id: str) -> int:
        return self.pending_reviews.get((cycle_id, reviewer_id), 0)

    async def name(self, employee_id: str) -> str:
        return employee_id.title()


async def told(event: DomainEvent, facts: KnownFacts | None = None) -> dict[str, Notice]:
    return {n.recipient_id: n for n in await notices_for(event, facts or KnownFacts())}


# ---- goals ----------------------------------------------------------------------------


async def test_retiring_an_objective_tells_every_owner_beneath_it_and_their_managers() -> None:
    notices = await told(goals.GoalRetired(goal_id="o", reason="pivot"))
    # owners at any depth (mia, emil, nora), then their managers (ceo, mia: already told as owner)
    assert set(notices) == {"mia", "emil", "nora", "ceo"}
    assert all(n.type == "goal.realignment_needed" for n in notices.values())
    assert notices["emil"].text == (
        "Company objective “Win the mid-market” was retired (pivot): your goal “Signup in 3 steps” "
        "(and 1 more of your goals) needs realignment."
    )
    assert notices["emil"].subject is not None and notices["emil"].subject.id == "e1"
    assert "Mia's goal “Self-serve onboarding”" in notices["ceo"].text
    assert "piet" not in notices and "olga" not in notices  # a retired goal beneath needs nothing


async def test_retiring_a_team_goal_tells_the_owners_beneath_and_their_manager() -> None:
    notices = await told(goals.GoalRetired(goal_id="t"))
    assert set(notices) == {"emil", "nora", "mia"}
    assert notices["mia"].text.startswith("Team goal “Self-serve onboarding” was retired: Emil's goal")


async def test_retiring_a_goal_with_nothing_beneath_tells_nobody() -> None:
    assert await told(goals.GoalRetired(goal_id="x")) == {}


async def test_a_material_change_asks_for_realignment_and_a_minor_one_tells_nobody() -> None:
    material = await told(goals.GoalChanged(goal_id="t", changes={"title": "New"}, material=True))
    assert set(material) == {"emil", "nora", "mia"}
    assert "changed (title)" in material["emil"].text
    minor = await told(goals.GoalChanged(goal_id="t", changes={"due_date": "2026-12-01"}, material=False))
    assert minor == {}


async def test_a_resolved_realignment_tells_the_owners_manager() -> None:
    notices = await told(
        goals.RealignmentResolved(goal_id="e1", cause_event_ids=["c"], resolution="realigned")
    )
    assert set(notices) == {"mia"}
    assert notices["mia"].type == "goal.realignment_resolved"
    assert notices["mia"].text == "Emil realigned goal “Signup in 3 steps”."


async def test_a_goal_at_risk_or_off_track_tells_the_owners_manager_and_on_track_nobody() -> None:
    for status in ("at_risk", "off_track"):
        notices = await told(goals.GoalStatusChanged(goal_id="e1", status=status, previous_status="on_track"))
        assert set(notices) == {"mia"}
        assert notices["mia"].text.endswith(f"is {status.replace('_', ' ')}.")
    back = await told(goals.GoalStatusChanged(goal_id="e1", status="on_track", previous_status="at_risk"))
    assert back == {}


async def test_a_goal_behind_pace_tells_the_owners_manager_and_back_on_track_nobody() -> None:
    behind = goals.GoalPaceChanged(
        goal_id="e1",
        status="at_risk",
        previous_status="on_track",
        progress=0.1,
        expected_progress=0.1333,
        as_of=dt.date(2027, 1, 12),
    )
    notices = await told(behind)
    assert set(notices) == {"mia"} and notices["mia"].type == "goal.behind_pace"
    assert notices["mia"].text.endswith("is at risk by pace: 10% done, 13% expected by 2027-01-12.")
    back = behind.model_copy(update={"status": "on_track", "previous_status": "at_risk"})
    assert await told(back) == {}


async def test_a_goal_due_soon_and_behind_tells_its_owner_and_nobody_once_it_is_done() -> None:
    due_soon = goals.GoalDueSoon(
        goal_id="e1",
        owner_id="emil",
        due_date=dt.date(2027, 3, 31),
        status="off_track",
        progress=0.3,
        expected_progress=0.9222,
        as_of=dt.date(2027, 3, 24),
    )
    notices = await told(due_soon)
    assert set(notices) == {"emil"} and notices["emil"].type == "goal.due_soon"
    assert notices["emil"].text == (
        "Your goal “Signup in 3 steps” is due on 2027-03-31 (in 7 days) and off track by pace: "
        "30% done, 92% expected."
    )
    tomorrow = await told(due_soon.model_copy(update={"as_of": dt.date(2027, 3, 30)}))
    assert "(tomorrow)" in tomorrow["emil"].text
    unknown = await told(due_soon.model_copy(update={"goal_id": "not-learnt-yet"}))
    assert unknown["emil"].text.startswith("One of your goals is due on 2027-03-31 (in 7 days)")
    facts = KnownFacts()
    facts.goals["e1"] = GoalFact("e1", "individual", "Signup in 3 steps", "emil", "t", "completed")
    assert await told(due_soon, facts) == {}


async def test_a_completed_goal_tells_owner_manager_and_the_owner_of_the_goal_it_aligns_to() -> None:
    notices = await told(goals.GoalCompleted(goal_id="n1"))
    assert list(notices) == ["nora", "mia"]  # mia is both manager and parent owner: told once
    notices = await told(goals.GoalCompleted(goal_id="t"))
    assert list(notices) == ["mia", "ceo"]
    assert notices["ceo"].text.startswith("Mia completed the goal")


# ---- check-ins ------------------------------------------------------------------------


DUE = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


async def test_a_check_in_coming_up_tells_both_on_their_wall_clock() -> None:
    coming = feedback.CheckInComingUp(
        schedule_id="s",
        checkin_id="c",
        manager_id="mia",
        report_id="emil",
        due_at=DUE,
        timezone="Europe/Berlin",
    )
    notices = await told(coming)
    assert set(notices) == {"emil", "mia"} and {n.type for n in notices.values()} == {"checkin.coming_up"}
    assert (
        notices["emil"].text
        == "Your check-in with Mia is coming up: Monday 2026-03-02 10:00 (Europe/Berlin)."
    )
    assert notices["mia"].text.startswith("Your check-in with Emil is coming up")
    odd = await told(coming.model_copy(update={"timezone": "Mars/Olympus"}))
    assert odd["emil"].text.endswith("Monday 2026-03-02 09:00 (UTC).")


async def test_a_completed_check_in_tells_both_participants() -> None:
    notices = await told(
        feedback.CheckInCompleted(
            checkin_id="c1",
            schedule_id="s1",
            manager_id="mia",
            report_id="emil",
            completed_by="mia",
            completed_at=DUE,
            confidence=4,
        )
    )
    assert set(notices) == {"mia", "emil"}
    assert notices["emil"].text == "Your check-in with Mia is completed."
    assert notices["emil"].subject is not None and notices["emil"].subject.type == "checkin"


async def test_a_missed_check_in_tells_both_and_after_two_in_a_row_the_managers_manager() -> None:
    def missed(n: int) -> feedback.CheckInMissed:
        return feedback.CheckInMissed(
            checkin_id="c1",
            schedule_id="s1",
            manager_id="mia",
            report_id="emil",
            due_at=DUE,
            consecutive_misses=n,
        )

    assert set(await told(missed(1))) == {"emil", "mia"}
    notices = await told(missed(2))
    assert set(notices) == {"emil", "mia", "ceo"}
    assert notices["ceo"].text == "Mia and Emil missed 2 check-ins in a row."


def point_added(author: str) -> feedback.TalkingPointAdded:
    return feedback.TalkingPointAdded(
        schedule_id="s1", point_id="p1", manager_id="mia", report_id="emil", author_id=author
    )


async def test_a_talking_point_tells_the_other_one_of_the_pair_and_never_its_text() -> None:
    by_emil = await told(point_added("emil"))
    assert set(by_emil) == {"mia"}
    assert by_emil["mia"].type == "checkin.talking_point_added"
    assert by_emil["mia"].text == "Emil added a talking point for your next 1:1."
    assert by_emil["mia"].subject == Subject(service="feedback", type="checkin_agenda", id="s1")
    assert set(await told(point_added("mia"))) == {"emil"}
    assert await told(point_added("olga")) == {}  # not one of the pair: nobody
    assert "text" not in feedback.TalkingPointAdded.model_fields  # a private point is never published


def item_assigned(owner: str, by: str, due: dt.date | None = None) -> feedback.ActionItemAssigned:
    return feedback.ActionItemAssigned(
        schedule_id="s1",
        action_item_id="a1",
        manager_id="mia",
        report_id="emil",
        owner_id=owner,
        assigned_by=by,
        due_on=due,
        checkin_id="c1",
    )


async def test_an_action_item_tells_its_owner_when_someone_else_assigned_it() -> None:
    notices = await told(item_assigned("emil", "mia", dt.date(2026, 3, 13)))
    assert set(notices) == {"emil"} and notices["emil"].type == "checkin.action_item_assigned"
    assert notices["emil"].text == "Mia gave you an action item from your 1:1, due 2026-03-13."
    assert notices["emil"].subject == Subject(service="feedback", type="action_item", id="a1", parent_id="s1")
    by_emil = await told(item_assigned("mia", "emil"))
    assert by_emil["mia"].text == "Emil gave you an action item from your 1:1."
    assert await told(item_assigned("emil", "emil")) == {}  # took it on themself


async def test_an_overdue_action_item_tells_its_owner_only() -> None:
    def overdue(owner: str) -> feedback.ActionItemOverdue:
        return feedback.ActionItemOverdue(
            schedule_id="s1",
            action_item_id="a1",
            manager_id="mia",
            report_id="emil",
            owner_id=owner,
            due_on=dt.date(2026, 3, 13),
        )

    notices = await told(overdue("emil"))
    assert set(notices) == {"emil"} and notices["emil"].type == "checkin.action_item_overdue"
    expected = "Your action item from your 1:1 with Mia was due 2026-03-13 and is still open."
    assert notices["emil"].text == expected
    assert "with Emil" in (await told(overdue("mia")))["mia"].text
    assert "with Emil" in (await told(overdue("nora")))["nora"].text  # a former manager: still theirs


# ---- onboarding -----------------------------------------------------------------------


async def test_a_missed_milestone_tells_the_new_hire_manager_mentor_and_hr() -> None:
    event = onboarding.MilestoneMissed(
        plan_id="p1",
        employee_id="piet",
        milestone_id="m30",
        title="Ship a first fix",
        due_date=dt.date(2026, 2, 4),
        assignee="new_hire",
        manager_id="olga",
        mentor_id="nora",
    )
    notices = await told(event)
    assert list(notices) == ["piet", "olga", "nora", "role:hr"]
    assert notices["piet"].text == "Your onboarding milestone “Ship a first fix” (due 2026-02-04) was missed."
    assert notices["role:hr"].subject is not None and notices["role:hr"].subject.parent_id == "p1"


async def test_a_missed_milestone_without_people_in_the_event_asks_the_plan_and_the_org() -> None:
    event = onboarding.MilestoneMissed(
        plan_id="p1",
        employee_id="piet",
        milestone_id="m",
        title="t",
        due_date=dt.date(2026, 2, 4),
        assignee="mentor",
    )
    facts = KnownFacts(plans={"p1": PlanFact("p1", "piet", None, "emil")})
    assert list(await told(event, facts)) == ["piet", "olga", "emil", "role:hr"]


async def test_a_milestone_due_soon_tells_whoever_completes_it() -> None:
    event = onboarding.MilestoneDueSoon(
        plan_id="p1",
        employee_id="piet",
        milestone_id="m30",
        title="Ship a first fix",
        due_date=dt.date(2026, 2, 4),
        assignee="new_hire",
        manager_id="olga",
        mentor_id="nora",
    )
    notices = await told(event)
    assert list(notices) == ["piet"] and notices["piet"].type == "onboarding.milestone_due_soon"
    assert notices["piet"].text == "Your onboarding milestone “Ship a first fix” is due on 2026-02-04."
    by_manager = await told(event.model_copy(update={"assignee": "manager"}))
    assert list(by_manager) == ["olga"] and by_manager["olga"].text.startswith("Piet's onboarding milestone")
    assert list(await told(event.model_copy(update={"assignee": "mentor"}))) == ["nora"]
    no_mentor = event.model_copy(update={"assignee": "mentor", "mentor_id": None})
    assert await told(no_mentor) == {}  # nobody to nudge: no plan known, no mentor named
    facts = KnownFacts(plans={"p1": PlanFact("p1", "piet", None, "emil")})
    assert list(await told(no_mentor, facts)) == ["emil"]


async def test_a_mentorship_arranged_tells_both_and_one_ended_early_the_other_one() -> None:
    arranged = onboarding.MentorshipArranged(
        mentorship_id="ms1",
        mentor_id="mia",
        mentee_id="piet",
        starts_on=dt.date(2027, 1, 4),
        ends_on=dt.date(2027, 6, 30),
    )
    notices = await told(arranged)
    assert list(notices) == ["piet", "mia"]
    assert notices["piet"].text == "Mia is your mentor from 2027-01-04 to 2027-06-30."
    assert notices["mia"].text == "You are Piet's mentor from 2027-01-04 to 2027-06-30."
    assert notices["mia"].type == "mentorship.arranged" and notices["mia"].subject is not None
    ended = onboarding.MentorshipEnded(
        mentorship_id="ms1",
        mentor_id="mia",
        mentee_id="piet",
        ended_on=dt.date(2027, 3, 1),
        ends_on=dt.date(2027, 6, 30),
        ended_by="mia",
        reason="new role",
    )
    by_mentor = await told(ended)
    assert list(by_mentor) == ["piet"]  # mia ended it: she knows
    assert by_mentor["piet"].text == "Your mentorship with Mia ended on 2027-03-01: new role."
    assert list(await told(ended.model_copy(update={"ended_by": "hana", "reason": ""}))) == ["piet", "mia"]


async def test_a_started_plan_tells_manager_and_mentor() -> None:
    event = onboarding.OnboardingPlanStarted(
        plan_id="p1",
        employee_id="piet",
        manager_id="olga",
        mentor_id="nora",
        start_date=dt.date(2026, 1, 5),
        milestones=[
            PlannedMilestone(
                milestone_id="m", title="Day 30", due_date=dt.date(2026, 2, 4), assignee="new_hire"
            )
        ],
    )
    notices = await told(event)
    assert list(notices) == ["olga", "nora"]
    assert notices["nora"].text.startswith("You are Piet's onboarding mentor")


# ---- onboarding: trainings ------------------------------------------------------------


def enrolled(**changes: object) -> onboarding.TrainingEnrolled:
    event = onboarding.TrainingEnrolled(
        enrolment_id="en-1",
        training_id="sql",
        training_title="SQL basics",
        employee_id="piet",
        enrolled_by="olga",
        enrolled_on=dt.date(2026, 3, 2),
        target_date=dt.date(2026, 4, 1),
    )
    return event.model_copy(update=changes)


async def test_an_enrolment_tells_the_person_and_their_manager() -> None:
    notices = await told(enrolled())  # no manager in the event: the org's (olga)
    assert list(notices) == ["piet", "olga"]
    assert {n.type for n in notices.values()} == {"training.enrolled"}
    assert notices["piet"].text == "You are enrolled in “SQL basics”, to complete by 2026-04-01."
    assert notices["olga"].text == "Piet is enrolled in “SQL basics”, to complete by 2026-04-01."
    subject = notices["olga"].subject
    assert subject is not None and (subject.type, subject.id, subject.parent_id) == (
        "training_enrolment",
        "en-1",
        "sql",
    )
    by_plan = await told(enrolled(manager_id="mia", plan_id="p1", milestone_id="day-30"))
    assert list(by_plan) == ["piet", "mia"]  # the manager the event names
    assert by_plan["piet"].text.endswith("(a milestone of your onboarding plan).")


async def test_a_training_due_soon_tells_the_person_and_their_manager() -> None:
    due_soon = onboarding.TrainingDueSoon(
        enrolment_id="en-1",
        training_id="sql",
        training_title="SQL basics",
        employee_id="nora",
        manager_id="mia",
        target_date=dt.date(2026, 4, 1),
        days_left=3,
    )
    notices = await told(due_soon)
    assert list(notices) == ["nora", "mia"]
    assert {n.type for n in notices.values()} == {"training.due_soon"}
    assert notices["nora"].text == "Your training “SQL basics” is due in 3 days (2026-04-01)."
    assert notices["mia"].text == "Nora has a training due soon: “SQL basics” is due in 3 days (2026-04-01)."
    tomorrow = await told(due_soon.model_copy(update={"days_left": 1}))
    assert "is due tomorrow" in tomorrow["nora"].text


async def test_a_completed_training_tells_the_person_and_their_manager_whether_on_time() -> None:
    completed = onboarding.TrainingEnrolmentCompleted(
        enrolment_id="en-1",
        training_id="sql",
        training_title="SQL basics",
        employee_id="emil",
        completed_by="emil",
        completed_on=dt.date(2026, 3, 30),
        target_date=dt.date(2026, 4, 1),
        on_time=True,
        evidence_note="certificate 42",
    )
    notices = await told(completed)
    assert list(notices) == ["emil", "mia"]
    assert notices["emil"].text == "You completed “SQL basics” on time."
    assert notices["mia"].type == "training.completed"
    late = await told(completed.model_copy(update={"on_time": False, "completed_on": dt.date(2026, 4, 3)}))
    assert late["mia"].text == "Emil completed “SQL basics” after its target date (2026-04-01)."
    assert "certificate" not in " ".join(n.text for n in notices.values())  # evidence stays in the record


# ---- feedback, recognition, reviews ---------------------------------------------------


def given(visibility: str, *, anonymous: bool = False, giver: str | None = "nora") -> feedback.FeedbackGiven:
    return feedback.FeedbackGiven(
        feedback_id="f1",
        recipient_id="emil",
        giver_id=None if anonymous else giver,
        anonymous=anonymous,
        visibility=visibility,  # type: ignore[arg-type]
    )


async def test_private_feedback_tells_the_recipient_only() -> None:
    notices = await told(given("private"))
    assert set(notices) == {"emil"}
    assert notices["emil"].text == "You received feedback from Nora."


async def test_feedback_shared_with_managers_or_public_also_tells_the_recipients_direct_manager() -> None:
    for visibility in ("manager", "public"):
        notices = await told(given(visibility))
        assert list(notices) == ["emil", "mia"]  # not ceo: the chain may read it, the manager is told
        assert notices["mia"].text == "Emil received feedback from Nora."


async def test_anonymous_feedback_never_names_its_giver() -> None:
    notices = await told(given("manager", anonymous=True))
    assert list(notices) == ["emil", "mia"]
    for notice in notices.values():
        assert "anonymously" in notice.text and "Nora" not in notice.text


async def test_feedback_by_the_manager_does_not_tell_that_manager_again() -> None:
    assert list(await told(given("manager", giver="mia"))) == ["emil"]


async def test_a_feedback_request_tells_the_person_asked() -> None:
    notices = await told(
        feedback.FeedbackRequested(request_id="r1", requester_id="emil", giver_id="nora", about_id="emil")
    )
    assert set(notices) == {"nora"}
    assert notices["nora"].text == "Emil asked you for feedback about them."


async def test_recognition_tells_the_recipients_and_their_team_but_not_the_giver() -> None:
    notices = await told(
        feedback.RecognitionGiven(
            recognition_id="k1", giver_id="nora", recipient_ids=["emil"], message="Great demo"
        )
    )
    assert list(notices) == ["emil", "mia"]  # the growth team, less the giver (nora)
    assert notices["emil"].text == "Nora recognised you: Great demo"
    assert notices["mia"].text == "Nora recognised your teammate Emil: Great demo"


DEADLINE = dt.datetime(2026, 3, 31, 17, tzinfo=dt.UTC)


async def test_an_opened_review_cycle_tells_everyone_with_a_review_to_submit() -> None:
    reviews = [
        ReviewAssignment(review_id="r1", kind="self", subject_id="emil", reviewer_id="emil"),
        ReviewAssignment(review_id="r2", kind="manager", subject_id="emil", reviewer_id="mia"),
        ReviewAssignment(review_id="r3", kind="manager", subject_id="nora", reviewer_id="mia"),
    ]
    notices = await told(
        feedback.ReviewCycleOpened(
            cycle_id="q1",
            name="Q1 reviews",
            period="2026-Q1",
            deadline=DEADLINE,
            participant_ids=["emil", "nora", "mia"],
            reviews=reviews,
        )
    )
    assert set(notices) == {"emil", "mia"}  # nora has nothing to submit
    assert notices["mia"].text == "Review cycle “Q1 reviews” opened: 2 reviews to submit by 2026-03-31."


async def test_chosen_peer_reviewers_are_told_they_have_a_review_to_submit() -> None:
    notices = await told(
        feedback.PeerReviewersChosen(
            cycle_id="q1",
            subject_id="emil",
            chosen_by="mia",
            reviews=[ReviewAssignment(review_id="r9", kind="peer", subject_id="emil", reviewer_id="nora")],
        )
    )
    assert set(notices) == {"nora"}


async def test_a_cycle_closing_soon_tells_those_who_still_have_something_to_submit() -> None:
    facts = KnownFacts(pending_reviews={("q1", "mia"): 2})
    notices = await told(
        feedback.ReviewCycleClosingSoon(
            cycle_id="q1", deadline=DEADLINE, pending_reviewer_ids=["mia", "emil"]
        ),
        facts,
    )
    assert set(notices) == {"mia", "emil"}
    assert "you still have 2 reviews to submit" in notices["mia"].text


# ---- the rule book itself -------------------------------------------------------------


def test_every_rule_is_fed_by_the_reaction_that_consumes_its_stream() -> None:
    consumed = {
        *GoalsAffected.event_types(),
        *OnboardingAffected.event_types(),
        *FeedbackAffected.event_types(),
    }
    assert set(RULES) <= consumed


async def test_a_recipient_is_told_once_per_event_and_long_texts_are_cut() -> None:
    long = "x" * 500
    notices = await notices_for(
        feedback.RecognitionGiven(
            recognition_id="k", giver_id="olga", recipient_ids=["emil", "nora"], message=long
        ),
        KnownFacts(),
    )
    recipients = [n.recipient_id for n in notices]
    assert len(recipients) == len(set(recipients))
    assert all(len(n.text) <= 280 for n in notices)
