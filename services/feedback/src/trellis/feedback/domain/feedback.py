"""The Feedback and FeedbackRequest aggregates.

Feedback is given once and never changed: its recipient, kind, visibility and body are
fixed when it is written. When it is anonymous, the aggregate has no giver at all (its
events name none and are recorded under the actor ``anonymous``), so nothing can be
derived from it later.
"""

from __future__ import annotations

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.feedback import (
    FeedbackBodyRecorded,
    FeedbackGiven,
    FeedbackRequestAnswered,
    FeedbackRequestDeclined,
    FeedbackRequested,
)
from trellis.core.errors import InvalidInput, NotFound, RuleViolation
from trellis.core.store.aggregate import Aggregate

VISIBILITIES = ("private", "manager", "public")
ANONYMOUS_ACTOR = "anonymous"  # the envelope actor of every event of anonymous feedback


def kind_between(giver_manages_recipient: bool, recipient_manages_giver: bool) -> str:
    """``manager`` (down the reporting line, any depth), ``upward`` (up it) or ``peer``."""
    if giver_manages_recipient:
        return "manager"
    if recipient_manages_giver:
        return "upward"
    return "peer"


class Feedback(Aggregate):
    aggregate_type = "feedback"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.recipient_id = ""
        self.giver_id: str | None = None
        self.anonymous = False
        self.kind = "peer"
        self.visibility = "private"
        self.goal_id: str | None = None
        self.request_id: str | None = None
        self.body = ""

    def apply(self, event: DomainEvent) -> None:
        match event:
            case FeedbackGiven():
                self.recipient_id = event.recipient_id
                self.giver_id = event.giver_id
                self.anonymous = event.anonymous
                self.kind = event.kind
                self.visibility = event.visibility
                self.goal_id = event.goal_id
                self.request_id = event.request_id
            case FeedbackBodyRecorded():
                self.body = event.body
            case _:
                raise TypeError(f"Feedback cannot apply {type(event).__name__}")

    def give(
        self,
        *,
        recipient_id: str,
        giver_id: str | None,
        kind: str,
        visibility: str,
        body: str,
        goal_id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        """Record the feedback. ``giver_id=None`` makes it anonymous (peer feedback only)."""
        if self.exists:
            raise RuleViolation(f"feedback {self.id} already exists")
        if visibility not in VISIBILITIES:
            raise InvalidInput(f"visibility must be one of {', '.join(VISIBILITIES)}")
        if not body.strip():
            raise InvalidInput("feedback needs a body")
        anonymous = giver_id is None
        if anonymous:
            if kind != "peer":
                raise RuleViolation(
                    "only peer feedback may be anonymous: not to or from someone in your reporting line"
                )
            if request_id is not None:
                raise RuleViolation("requested feedback cannot be anonymous: the request names its giver")
        elif giver_id == recipient_id:
            raise InvalidInput("feedback goes to someone else")
        self.record(
            FeedbackGiven(
                feedback_id=self.id,
                recipient_id=recipient_id,
                giver_id=giver_id,
                anonymous=anonymous,
                kind=kind,
                visibility=visibility,
                goal_id=goal_id,
                request_id=request_id,
            ),
            FeedbackBodyRecorded(feedback_id=self.id, body=body),
        )


class FeedbackRequest(Aggregate):
    aggregate_type = "feedback_request"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.requester_id = ""
        self.giver_id = ""
        self.about_id = ""
        self.goal_id: str | None = None
        self.message = ""
        self.status = "open"  # open | declined | answered
        self.feedback_id: str | None = None

    def involves(self, employee_id: str) -> bool:
        return employee_id in (self.requester_id, self.giver_id)

    def apply(self, event: DomainEvent) -> None:
        match event:
            case FeedbackRequested():
                self.requester_id = event.requester_id
                self.giver_id = event.giver_id
                self.about_id = event.about_id
                self.goal_id = event.goal_id
                self.message = event.message
            case FeedbackRequestDeclined():
                self.status = "declined"
            case FeedbackRequestAnswered():
                self.status = "answered"
                self.feedback_id = event.feedback_id
            case _:
                raise TypeError(f"FeedbackRequest cannot apply {type(event).__name__}")

    def request(
        self, *, requester_id: str, giver_id: str, about_id: str, goal_id: str | None, message: str
    ) -> None:
        """``requester_id`` asks ``giver_id`` for feedback about ``about_id`` (themself or another)."""
        if self.exists:
            raise RuleViolation(f"feedback request {self.id} already exists")
        if giver_id == requester_id:
            raise InvalidInput("ask someone else for feedback")
        if giver_id == about_id:
            raise InvalidInput("the person asked cannot give feedback about themself")
        self.record(
            FeedbackRequested(
                request_id=self.id,
                requester_id=requester_id,
                giver_id=giver_id,
                about_id=about_id,
                goal_id=goal_id,
                message=message,
            )
        )

    def decline(self, reason: str = "") -> None:
        self._require_open()
        self.record(
            FeedbackRequestDeclined(
                request_id=self.id, requester_id=self.requester_id, giver_id=self.giver_id, reason=reason
            )
        )

    def answer(self, feedback_id: str) -> None:
        self._require_open()
        self.record(FeedbackRequestAnswered(request_id=self.id, feedback_id=feedback_id))

    def _require_open(self) -> None:
        if not self.exists:
            raise NotFound(f"feedback request {self.id} not found")
        if self.status != "open":
            raise RuleViolation(f"the feedback request is {self.status}")
