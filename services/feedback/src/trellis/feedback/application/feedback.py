"""Command handlers for feedback and feedback requests.

Giving feedback: the recipient must be an active employee of the tenant; its kind comes
from the org chart replica (``manager`` down the reporting line, ``upward`` up it,
``peer`` otherwise, at any depth); the visibility must be one the organisation allows.

Anonymous feedback (peer feedback only, never in answer to a request, since a request
names its giver) is recorded so that the giver appears nowhere:

- ``FeedbackGiven.giver_id`` is None and every event of it is appended under the actor
  ``anonymous``, with a fresh correlation id (a client's correlation id could link it to
  the giver's other requests) and no causation;
- the HTTP route never binds the giver to the request's log lines
  (``trellis.core.runtime.http.WithheldActor``), and nothing here logs who gave it;
- the one-per-window limit is checked through a keyed fingerprint
  (``trellis.feedback.domain.anonymity``), appended in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import structlog

from trellis.contracts.envelope import Metadata
from trellis.contracts.ids import uuid7
from trellis.core.consuming.clock import Clock
from trellis.core.errors import ConcurrencyError, Forbidden, InvalidInput, NotFound, RuleViolation
from trellis.core.runtime.auth import Actor
from trellis.core.store.repository import Repository
from trellis.core.store.sessions import Sessions
from trellis.core.store.transaction import Transaction
from trellis.feedback.application.accepted import Accepted
from trellis.feedback.application.oversight import Oversight
from trellis.feedback.domain.anonymity import AnonymousFeedbackFingerprint, fingerprint, window_of
from trellis.feedback.domain.feedback import ANONYMOUS_ACTOR, Feedback, FeedbackRequest, kind_between
from trellis.feedback.domain.visibility import may_read
from trellis.orgchart import OrgDirectory

log = structlog.get_logger("trellis.feedback.feedback")


@dataclass(frozen=True)
class FeedbackPolicy:
    """What the organisation allows, and the anonymity limit's key and window (settings)."""

    visibilities: tuple[str, ...] = ("private", "manager", "public")
    anonymous_allowed: bool = True
    anonymity_key: str = ""
    anonymity_window: str = "quarter"


class FeedbackCommands:
    def __init__(
        self,
        *,
        sessions: Sessions,
        feedback: Repository[Feedback],
        requests: Repository[FeedbackRequest],
        fingerprints: Repository[AnonymousFeedbackFingerprint],
        org: OrgDirectory,
        clock: Clock,
        policy: FeedbackPolicy,
    ) -> None:
        self.sessions = sessions
        self.feedback = feedback
        self.requests = requests
        self.fingerprints = fingerprints
        self.org = org
        self.oversight = Oversight(org)
        self.clock = clock
        self.policy = policy

    async def give(
        self,
        actor: Actor,
        correlation_id: str,
        *,
        recipient_id: str,
        body: str,
        visibility: str,
        anonymous: bool = False,
        goal_id: str | None = None,
        request_id: str | None = None,
    ) -> Accepted:
        if visibility not in self.policy.visibilities:
            raise InvalidInput(
                f"this organisation allows the visibilities {', '.join(self.policy.visibilities)}"
            )
        if anonymous and not self.policy.anonymous_allowed:
            raise RuleViolation("this organisation does not allow anonymous feedback")
        if recipient_id == actor.employee_id:
            raise InvalidInput("feedback goes to someone else")
        feedback_id = str(uuid7())
        async with self.sessions.transaction() as session:
            await self.oversight.active_employee(session, actor.tenant_id, recipient_id)
            giver = actor.employee_id
            kind = kind_between(
                await self.org.manages(session, actor.tenant_id, giver, recipient_id),
                await self.org.manages(session, actor.tenant_id, recipient_id, giver),
            )
            if anonymous:
                metadata = Metadata(tenant_id=actor.tenant_id, actor_id=ANONYMOUS_ACTOR)
            else:
                metadata = actor.metadata(correlation_id)
            item = self.feedback.new(feedback_id, actor.tenant_id)
            item.give(
                recipient_id=recipient_id,
                giver_id=None if anonymous else giver,
                kind=kind,
                visibility=visibility,
                body=body,
                goal_id=goal_id,
                request_id=request_id,
            )
            if request_id is not None:
                await self._answer(session, actor, request_id, recipient_id, feedback_id, metadata)
            if anonymous:
                await self._take_fingerprint(session, actor, recipient_id, metadata)
            names = [type(e).event_type for e in item.pending]
            await self.feedback.save(session, item, metadata)
        log.info(
            "feedback.given", feedback=feedback_id, kind=kind, visibility=visibility, anonymous=anonymous
        )
        return Accepted(feedback_id, item.version, names, {"kind": kind})

    async def request(
        self,
        actor: Actor,
        correlation_id: str,
        *,
        giver_id: str,
        about_id: str | None,
        goal_id: str | None,
        message: str,
    ) -> Accepted:
        request_id = str(uuid7())
        about = about_id or actor.employee_id
        async with self.sessions.transaction() as session:
            await self.oversight.active_employee(session, actor.tenant_id, giver_id)
            await self.oversight.active_employee(session, actor.tenant_id, about)
            request = self.requests.new(request_id, actor.tenant_id)
            request.request(
                requester_id=actor.employee_id,
                giver_id=giver_id,
                about_id=about,
                goal_id=goal_id,
                message=message,
            )
            await self.requests.save(session, request, actor.metadata(correlation_id))
        return Accepted(request_id, request.version, ["FeedbackRequested"], {})

    async def decline(self, actor: Actor, correlation_id: str, request_id: str, reason: str) -> Accepted:
        async with self.sessions.transaction() as session:
            request = await self._visible_request(session, actor, request_id)
            if actor.employee_id != request.giver_id:
                raise Forbidden("only the person asked declines a feedback request")
            request.decline(reason)
            await self.requests.save(session, request, actor.metadata(correlation_id))
        return Accepted(request_id, request.version, ["FeedbackRequestDeclined"], {})

    async def read(self, actor: Actor, feedback_id: str) -> tuple[Feedback, dt.datetime]:
        """The feedback and when it was given, if the actor may read it; otherwise (and in
        another tenant) not found. Read from its events: it holds the private body."""
        async with self.sessions() as session:
            recorded = await self.feedback.store.load(session, feedback_id)
            first = recorded[0].envelope if recorded else None
            if (
                first is None
                or first.tenant_id != actor.tenant_id
                or first.aggregate_type != Feedback.aggregate_type
            ):
                raise NotFound(f"feedback {feedback_id} not found")
            item = Feedback.rehydrate(feedback_id, actor.tenant_id, [r.event for r in recorded])
            manages = item.visibility == "manager" and await self.org.manages(
                session, actor.tenant_id, actor.employee_id, item.recipient_id
            )
            if not may_read(
                viewer_id=actor.employee_id,
                recipient_id=item.recipient_id,
                giver_id=item.giver_id,
                visibility=item.visibility,
                viewer_manages_recipient=manages,
            ):
                raise NotFound(f"feedback {feedback_id} not found")
            return item, first.occurred_at

    async def read_request(self, actor: Actor, request_id: str) -> FeedbackRequest:
        async with self.sessions() as session:
            return await self._visible_request(session, actor, request_id)

    async def _visible_request(self, session: Transaction, actor: Actor, request_id: str) -> FeedbackRequest:
        request = await self.requests.get(session, request_id, actor.tenant_id)
        if not request.involves(actor.employee_id):
            raise NotFound(f"feedback request {request_id} not found")
        return request

    async def _answer(
        self,
        session: Transaction,
        actor: Actor,
        request_id: str,
        recipient_id: str,
        feedback_id: str,
        metadata: Metadata,
    ) -> None:
        request = await self._visible_request(session, actor, request_id)
        if actor.employee_id != request.giver_id:
            raise Forbidden("only the person asked answers a feedback request")
        if recipient_id != request.about_id:
            raise InvalidInput(f"this request asks for feedback about {request.about_id}")
        request.answer(feedback_id)
        await self.requests.save(session, request, metadata)

    async def _take_fingerprint(
        self, session: Transaction, actor: Actor, recipient_id: str, metadata: Metadata
    ) -> None:
        window = window_of(self.clock.now().date(), self.policy.anonymity_window)
        key = fingerprint(
            self.policy.anonymity_key,
            tenant_id=actor.tenant_id,
            giver_id=actor.employee_id,
            recipient_id=recipient_id,
            window=window,
        )
        slot = await self.fingerprints.find(session, key, actor.tenant_id)
        if slot is None:
            slot = self.fingerprints.new(key, actor.tenant_id)
        slot.take(window)
        try:
            await self.fingerprints.save(session, slot, metadata)
        except ConcurrencyError as exc:  # the same person, twice at once: the message names no id
            raise RuleViolation(
                "you have already given this person anonymous feedback in this period"
            ) from exc
