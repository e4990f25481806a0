"""The Notification aggregate: one notification for one recipient, caused by one event.

Its id is derived from the cause and the recipient (``notification_id``), and creating
one that exists records nothing: so a redelivered or replayed cause, or a reaction that
runs twice, can never put a second notification in anybody's inbox.
"""

from __future__ import annotations

import datetime as dt
import uuid

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.notifications import (
    DigestItem,
    NotificationCreated,
    NotificationRead,
    Subject,
)
from trellis.core.runtime.auth import Actor
from trellis.core.store.aggregate import Aggregate

# Fixed forever: changing it would let a replayed cause notify everybody again.
_NAMESPACE = uuid.UUID("5b0c39a4-7f3e-4c8e-9a55-0d1e5c2b6a71")

ROLE_PREFIX = "role:"
ROLE_INBOXES = ("hr", "admin")

# Every notification type, with what it tells. Preferences mute by these names.
NOTIFICATION_TYPES: dict[str, str] = {
    "goal.realignment_needed": "a goal above one of yours (or your report's) was retired or changed",
    "goal.realignment_resolved": "your report relinked a goal that needed realignment",
    "goal.at_risk": "your report's goal is at risk or off track",
    "goal.behind_pace": "your report's goal fell behind the time it has (at risk or off track by pace)",
    "goal.completed": "a goal you own, manage or that aligns to yours was completed",
    "goal.due_soon": "a goal of yours is due soon and still behind",
    "checkin.coming_up": "a check-in you take part in is due within a day",
    "onboarding.milestone_due_soon": "an onboarding milestone you complete is due in two days",
    "checkin.completed": "a check-in you take part in was completed",
    "checkin.missed": "a check-in you take part in (or of your reports) was missed",
    "checkin.talking_point_added": "the other one of your 1:1 put a talking point on its agenda",
    "checkin.action_item_assigned": "someone gave you an action item in a 1:1",
    "checkin.action_item_overdue": "an action item of yours from a 1:1 passed its due date",
    "onboarding.plan_started": "an onboarding plan you manage or mentor started",
    "onboarding.milestone_missed": "an onboarding milestone was missed",
    "training.enrolled": "you (or your report) were enrolled in a training",
    "training.due_soon": "a training you (or your report) are enrolled in is due in a few days",
    "training.completed": "you (or your report) completed a training",
    "mentorship.arranged": "you were paired with a mentor or a mentee",
    "mentorship.ended": "a mentorship of yours was ended early",
    "feedback.received": "you (or your report) received feedback",
    "feedback.requested": "someone asked you for feedback",
    "recognition.received": "you or a teammate were recognised",
    "review.to_submit": "a review cycle has reviews for you to submit",
    "webhook.subscription_disabled": "a webhook subscription was disabled",
    "digest.daily": "your notifications of a day, grouped",
}


def role_inbox(role: str) -> str:
    """The recipient id of a role's shared inbox (``role:hr``)."""
    return f"{ROLE_PREFIX}{role}"


def is_role_inbox(recipient_id: str) -> bool:
    return recipient_id.startswith(ROLE_PREFIX)


def inboxes_of(actor: Actor) -> list[str]:
    """The recipients whose notifications ``actor`` reads: their own and their roles' inboxes."""
    return [actor.employee_id, *(role_inbox(r) for r in ROLE_INBOXES if actor.has_role(r))]


def notification_id(tenant_id: str, cause_event_id: str, recipient_id: str) -> str:
    """The one id a (cause event, recipient) pair can ever have."""
    return str(uuid.uuid5(_NAMESPACE, f"{tenant_id}/{cause_event_id}/{recipient_id}"))


def digest_id(tenant_id: str, recipient_id: str, day: dt.date) -> str:
    """The one id of a recipient's digest of ``day``."""
    return str(uuid.uuid5(_NAMESPACE, f"{tenant_id}/digest/{recipient_id}/{day.isoformat()}"))


class Notification(Aggregate):
    aggregate_type = "notification"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.recipient_id = ""
        self.type = ""
        self.read = False

    def apply(self, event: DomainEvent) -> None:
        match event:
            case NotificationCreated():
                self.recipient_id = event.recipient_id
                self.type = event.type
            case NotificationRead():
                self.read = True
            case _:
                raise TypeError(f"Notification cannot apply {type(event).__name__}")

    def create(
        self,
        *,
        recipient_id: str,
        type: str,
        text: str,
        subject: Subject | None,
        cause_event_id: str,
        cause_event_type: str,
        cause_service: str,
        held_for_digest: bool = False,
        digest_date: dt.date | None = None,
        items: list[DigestItem] | None = None,
    ) -> None:
        """Record the notification, unless it exists already (then nothing happens)."""
        if self.exists:
            return
        if type not in NOTIFICATION_TYPES:
            raise ValueError(f"unknown notification type {type!r}")
        self.record(
            NotificationCreated(
                notification_id=self.id,
                recipient_id=recipient_id,
                type=type,
                text=text,
                subject=subject,
                cause_event_id=cause_event_id,
                cause_event_type=cause_event_type,
                cause_service=cause_service,
                held_for_digest=held_for_digest,
                digest_date=digest_date,
                items=items or [],
            )
        )

    def readable_by(self, actor: Actor) -> bool:
        return self.exists and self.recipient_id in inboxes_of(actor)

    def mark_read(self, actor: Actor) -> None:
        """Mark read once; a second time records nothing."""
        if not self.read:
            self.record(
                NotificationRead(
                    notification_id=self.id, recipient_id=self.recipient_id, read_by=actor.employee_id
                )
            )
