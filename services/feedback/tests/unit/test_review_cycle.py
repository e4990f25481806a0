"""ReviewCycle, given-when-then."""

from __future__ import annotations

import datetime as dt

from trellis.contracts.feedback import (
    PeerReviewersChosen,
    ReviewAnswersRecorded,
    ReviewAssignment,
    ReviewCycleClosed,
    ReviewCycleClosingSoon,
    ReviewCycleOpened,
    ReviewSubmitted,
)
from trellis.core.errors import Forbidden, InvalidInput, NotFound, RuleViolation
from trellis.feedback.domain.review_cycle import ReviewCycle, expected_reviews

from .given_when_then import TENANT, given, then, then_raises

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
DEADLINE = dt.datetime(2026, 3, 31, 17, 0, tzinfo=dt.UTC)
REVIEWS = expected_reviews(["emil", "mia"], {"emil": "mia", "mia": None})
OPENED = ReviewCycleOpened(
    cycle_id="rc",
    name="Q1",
    period="2026-Q1",
    team_id=None,
    deadline=DEADLINE,
    participant_ids=["emil", "mia"],
    reviews=REVIEWS,
)


def test_each_participant_reviews_themself_and_is_reviewed_by_their_manager() -> None:
    assert [(r.review_id, r.reviewer_id) for r in REVIEWS] == [
        ("self:emil", "emil"),
        ("manager:emil", "mia"),
        ("self:mia", "mia"),
    ]


def test_opening_needs_people_and_a_future_deadline() -> None:
    fields = {"name": "Q1", "period": "2026-Q1", "team_id": None, "reviews": REVIEWS, "now": NOW}
    then(
        ReviewCycle("rc", TENANT),
        lambda c: c.open(deadline=DEADLINE, participant_ids=["emil", "mia"], **fields),
        OPENED,
    )  # type: ignore[arg-type]
    then_raises(
        ReviewCycle("rc", TENANT),
        lambda c: c.open(deadline=NOW, participant_ids=["emil"], **fields),
        InvalidInput,
    )  # type: ignore[arg-type]
    then_raises(
        ReviewCycle("rc", TENANT),
        lambda c: c.open(deadline=DEADLINE, participant_ids=[], **fields),
        RuleViolation,
    )  # type: ignore[arg-type]


def test_submitting_a_review_publishes_the_fact_and_keeps_the_answers_private() -> None:
    then(
        given(ReviewCycle, "rc", OPENED),
        lambda c: c.submit(
            review_id="manager:emil", reviewer_id="mia", answers={"q": "a"}, rating=4, now=NOW
        ),
        ReviewSubmitted(
            cycle_id="rc", review_id="manager:emil", kind="manager", subject_id="emil", reviewer_id="mia"
        ),
        ReviewAnswersRecorded(cycle_id="rc", review_id="manager:emil", answers={"q": "a"}, rating=4),
    )
    assert not ReviewAnswersRecorded.published


def test_only_the_reviewer_submits_once_and_never_late() -> None:
    cycle = given(ReviewCycle, "rc", OPENED)
    then_raises(
        cycle,
        lambda c: c.submit(
            review_id="manager:emil", reviewer_id="emil", answers={"q": "a"}, rating=None, now=NOW
        ),
        Forbidden,
    )
    then_raises(
        cycle,
        lambda c: c.submit(
            review_id="peer:emil:x", reviewer_id="x", answers={"q": "a"}, rating=None, now=NOW
        ),
        NotFound,
    )
    late = DEADLINE + dt.timedelta(minutes=1)
    then_raises(
        cycle,
        lambda c: c.submit(
            review_id="self:emil", reviewer_id="emil", answers={"q": "a"}, rating=None, now=late
        ),
        RuleViolation,
        match="deadline",
    )
    submitted = ReviewSubmitted(
        cycle_id="rc", review_id="self:emil", kind="self", subject_id="emil", reviewer_id="emil"
    )
    done = given(ReviewCycle, "rc", OPENED, submitted)
    then_raises(
        done,
        lambda c: c.submit(
            review_id="self:emil", reviewer_id="emil", answers={"q": "a"}, rating=None, now=NOW
        ),
        RuleViolation,
    )
    closed = given(
        ReviewCycle, "rc", OPENED, ReviewCycleClosed(cycle_id="rc", closed_by="hand", submitted=0, expected=3)
    )
    then_raises(
        closed,
        lambda c: c.submit(
            review_id="self:emil", reviewer_id="emil", answers={"q": "a"}, rating=None, now=NOW
        ),
        RuleViolation,
        match="closed",
    )


def test_peers_are_added_once_never_the_subject() -> None:
    peer = ReviewAssignment(review_id="peer:emil:olga", kind="peer", subject_id="emil", reviewer_id="olga")
    then(
        given(ReviewCycle, "rc", OPENED),
        lambda c: c.choose_peers(subject_id="emil", peer_ids=["olga", "olga"], chosen_by="mia", now=NOW),
        PeerReviewersChosen(cycle_id="rc", subject_id="emil", chosen_by="mia", reviews=[peer]),
    )
    with_peer = given(
        ReviewCycle,
        "rc",
        OPENED,
        PeerReviewersChosen(cycle_id="rc", subject_id="emil", chosen_by="mia", reviews=[peer]),
    )
    then(with_peer, lambda c: c.choose_peers(subject_id="emil", peer_ids=["olga"], chosen_by="mia", now=NOW))
    then_raises(
        with_peer,
        lambda c: c.choose_peers(subject_id="emil", peer_ids=["emil"], chosen_by="mia", now=NOW),
        InvalidInput,
    )
    then_raises(
        with_peer,
        lambda c: c.choose_peers(subject_id="zoe", peer_ids=["olga"], chosen_by="mia", now=NOW),
        NotFound,
    )


def test_closing_soon_names_who_has_something_pending_once() -> None:
    submitted = ReviewSubmitted(
        cycle_id="rc", review_id="self:emil", kind="self", subject_id="emil", reviewer_id="emil"
    )
    soon = ReviewCycleClosingSoon(cycle_id="rc", deadline=DEADLINE, pending_reviewer_ids=["mia"])
    then(given(ReviewCycle, "rc", OPENED, submitted), lambda c: c.announce_closing_soon(), soon)
    then(given(ReviewCycle, "rc", OPENED, submitted, soon), lambda c: c.announce_closing_soon())


def test_closing_counts_and_happens_once() -> None:
    then(
        given(ReviewCycle, "rc", OPENED),
        lambda c: c.close("deadline"),
        ReviewCycleClosed(cycle_id="rc", closed_by="deadline", submitted=0, expected=3),
    )
    closed = given(
        ReviewCycle, "rc", OPENED, ReviewCycleClosed(cycle_id="rc", closed_by="hand", submitted=0, expected=3)
    )
    then(closed, lambda c: c.close("deadline"))
    then(closed, lambda c: c.announce_closing_soon())
