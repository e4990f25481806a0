"""The ReviewCycle aggregate: a period's self, manager and peer reviews for a population.

Opened by hr/admin with the reviews it expects (each participant's self review, and a
manager review by their manager); a manager adds peer reviewers for a report; reviewers
submit until the deadline; the cycle closes at the deadline or by hand, and refuses
anything late. Answers are private events; the published ones say who submitted what.
"""

from __future__ import annotations

import datetime as dt

from trellis.contracts.envelope import DomainEvent
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
from trellis.core.store.aggregate import Aggregate

MAX_PEERS = 10
MAX_LENGTH = dt.timedelta(days=366)  # from opening to the deadline
MAX_ANSWERS = 50


def review_id(kind: str, subject_id: str, reviewer_id: str | None = None) -> str:
    """``self:<subject>``, ``manager:<subject>``, ``peer:<subject>:<reviewer>`` (unique per cycle)."""
    return f"{kind}:{subject_id}" if reviewer_id is None else f"{kind}:{subject_id}:{reviewer_id}"


def expected_reviews(participants: list[str], managers: dict[str, str | None]) -> list[ReviewAssignment]:
    """A self review for every participant, and a manager review where they have a manager."""
    reviews: list[ReviewAssignment] = []
    for person in participants:
        reviews.append(
            ReviewAssignment(
                review_id=review_id("self", person), kind="self", subject_id=person, reviewer_id=person
            )
        )
        manager = managers.get(person)
        if manager:
            reviews.append(
                ReviewAssignment(
                    review_id=review_id("manager", person),
                    kind="manager",
                    subject_id=person,
                    reviewer_id=manager,
                )
            )
    return reviews


class ReviewCycle(Aggregate):
    aggregate_type = "review_cycle"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.name = ""
        self.period = ""
        self.team_id: str | None = None
        self.deadline = dt.datetime.max.replace(tzinfo=dt.UTC)
        self.participant_ids: list[str] = []
        self.reviews: dict[str, ReviewAssignment] = {}
        self.submitted: set[str] = set()
        self.answers: dict[str, ReviewAnswersRecorded] = {}
        self.closed = False
        self.closing_soon_announced = False

    def pending_reviewers(self) -> list[str]:
        """Who still has a review to submit, each once, in a stable order."""
        return sorted({r.reviewer_id for rid, r in self.reviews.items() if rid not in self.submitted})

    def manager_reviewer_of(self, subject_id: str) -> str | None:
        review = self.reviews.get(review_id("manager", subject_id))
        return review.reviewer_id if review else None

    def apply(self, event: DomainEvent) -> None:
        match event:
            case ReviewCycleOpened():
                self.name = event.name
                self.period = event.period
                self.team_id = event.team_id
                self.deadline = event.deadline
                self.participant_ids = list(event.participant_ids)
                self.reviews = {r.review_id: r for r in event.reviews}
            case PeerReviewersChosen():
                self.reviews.update({r.review_id: r for r in event.reviews})
            case ReviewSubmitted():
                self.submitted.add(event.review_id)
            case ReviewAnswersRecorded():
                self.answers[event.review_id] = event
            case ReviewCycleClosingSoon():
                self.closing_soon_announced = True
            case ReviewCycleClosed():
                self.closed = True
            case _:
                raise TypeError(f"ReviewCycle cannot apply {type(event).__name__}")

    # ---- commands --------------------------------------------------------------------

    def open(
        self,
        *,
        name: str,
        period: str,
        team_id: str | None,
        deadline: dt.datetime,
        participant_ids: list[str],
        reviews: list[ReviewAssignment],
        now: dt.datetime,
    ) -> None:
        if self.exists:
            raise RuleViolation(f"review cycle {self.id} already exists")
        if not name.strip() or not period.strip():
            raise InvalidInput("a review cycle needs a name and a period")
        if deadline.tzinfo is None:
            raise InvalidInput("the deadline needs a time zone")
        if not now < deadline <= now + MAX_LENGTH:
            raise InvalidInput("the deadline must be in the future, within a year")
        if not participant_ids:
            raise RuleViolation("nobody is in this population: the cycle would be empty")
        self.record(
            ReviewCycleOpened(
                cycle_id=self.id,
                name=name,
                period=period,
                team_id=team_id,
                deadline=deadline.astimezone(dt.UTC),
                participant_ids=participant_ids,
                reviews=reviews,
            )
        )

    def choose_peers(self, *, subject_id: str, peer_ids: list[str], chosen_by: str, now: dt.datetime) -> None:
        """Add peer reviewers for ``subject_id``; peers already chosen are kept, not doubled."""
        self._require_open(now)
        if subject_id not in self.participant_ids:
            raise NotFound(f"{subject_id} is not in this review cycle")
        peers = list(dict.fromkeys(peer_ids))
        if subject_id in peers:
            raise InvalidInput("a self review is not a peer review")
        new = [
            ReviewAssignment(
                review_id=review_id("peer", subject_id, peer),
                kind="peer",
                subject_id=subject_id,
                reviewer_id=peer,
            )
            for peer in peers
            if review_id("peer", subject_id, peer) not in self.reviews
        ]
        chosen = sum(1 for r in self.reviews.values() if r.kind == "peer" and r.subject_id == subject_id)
        if chosen + len(new) > MAX_PEERS:
            raise InvalidInput(f"at most {MAX_PEERS} peer reviewers per person")
        if new:
            self.record(
                PeerReviewersChosen(cycle_id=self.id, subject_id=subject_id, chosen_by=chosen_by, reviews=new)
            )

    def submit(
        self,
        *,
        review_id: str,
        reviewer_id: str,
        answers: dict[str, str],
        rating: int | None,
        now: dt.datetime,
    ) -> None:
        self._require_open(now)
        review = self.reviews.get(review_id)
        if review is None:
            raise NotFound(f"review {review_id} not found in this cycle")
        if review.reviewer_id != reviewer_id:
            raise Forbidden("only its reviewer submits a review")
        if review_id in self.submitted:
            raise RuleViolation("this review is already submitted")
        if not answers or len(answers) > MAX_ANSWERS:
            raise InvalidInput(f"give between 1 and {MAX_ANSWERS} answers")
        if rating is not None and not 1 <= rating <= 5:
            raise InvalidInput("rating must be between 1 and 5")
        self.record(
            ReviewSubmitted(
                cycle_id=self.id,
                review_id=review_id,
                kind=review.kind,
                subject_id=review.subject_id,
                reviewer_id=reviewer_id,
            ),
            ReviewAnswersRecorded(cycle_id=self.id, review_id=review_id, answers=answers, rating=rating),
        )

    def announce_closing_soon(self) -> None:
        """Tell who still has something to submit; once, and only while open with work pending."""
        if self.closed or self.closing_soon_announced:
            return
        pending = self.pending_reviewers()
        if not pending:
            return
        self.record(
            ReviewCycleClosingSoon(cycle_id=self.id, deadline=self.deadline, pending_reviewer_ids=pending)
        )

    def close(self, by: str) -> None:
        """Close at the deadline (``by="deadline"``) or by hand; closing a closed cycle records nothing."""
        if not self.exists:
            raise NotFound(f"review cycle {self.id} not found")
        if self.closed:
            return
        self.record(
            ReviewCycleClosed(
                cycle_id=self.id,
                closed_by=by,
                submitted=len(self.submitted),
                expected=len(self.reviews),
            )
        )

    def _require_open(self, now: dt.datetime) -> None:
        if not self.exists:
            raise NotFound(f"review cycle {self.id} not found")
        if self.closed:
            raise RuleViolation("the review cycle is closed")
        if now > self.deadline:
            raise RuleViolation("the review cycle's deadline has passed")
