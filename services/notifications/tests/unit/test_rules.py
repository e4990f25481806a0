"""Who is affected, rule by rule: given what the service knows, when an event, then these people are told."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from trellis.contracts import feedback, goals, onboarding
from trellis.contracts.envelope import DomainEvent
from trellis.contracts.feedback import ReviewAssignment
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


async def test_a_completed_goal_tells_owner_manager_and_the_owner_of_the_goal_it_aligns_to() -> None:
    notices = await told(goals.GoalCompleted(goal_id="n1"))
    assert list(notices) == ["nora", "mia"]  # mia is both manager and parent owner: told once
    notices = await told(goals.GoalCompleted(goal_id="t"))
    assert list(notices) == ["mia", "ceo"]
    assert notices["ceo"].text.startswith("Mia completed the goal")


# ---- check-ins ------------------------------------------------------------------------


DUE = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


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
