"""Commands on mentorships: arrange one (admin, hr, the mentee's managers), end it early
(those, and the pair themselves). A mentorship someone may not read does not exist for
them (404)."""

from __future__ import annotations

import datetime as dt

from trellis.core.consuming.clock import Clock
from trellis.core.errors import NotFound
from trellis.core.runtime.auth import Actor
from trellis.core.store.accepted import Accepted
from trellis.core.store.sessions import Sessions
from trellis.core.store.transaction import Transaction
from trellis.onboarding.application.aggregates import Aggregates
from trellis.onboarding.domain.calendar import today
from trellis.onboarding.domain.ids import new_id
from trellis.onboarding.domain.mentorship import Mentorship
from trellis.onboarding.domain.org import Offboarded
from trellis.onboarding.domain.permissions import ensure_may_arrange_mentorship, may_read_mentorship


class MentorshipCommands:
    def __init__(self, sessions: Sessions, aggregates: Aggregates, clock: Clock) -> None:
        self.sessions = sessions
        self.aggregates = aggregates
        self.clock = clock

    async def arrange(
        self,
        actor: Actor,
        correlation_id: str,
        *,
        mentor_id: str,
        mentee_id: str,
        starts_on: dt.date,
        ends_on: dt.date,
        objectives: list[str],
        goal_ids: list[str],
    ) -> Accepted:
        tenant = actor.tenant_id
        async with self.sessions.transaction() as session:
            mentee = await self.aggregates.employee(session, tenant, mentee_id, what="mentee")
            ensure_may_arrange_mentorship(actor, await self.aggregates.manager_chain(session, mentee))
            mentor = await self.aggregates.employee(session, tenant, mentor_id, what="mentor")
            for person in (mentee, mentor):
                if not person.is_active:
                    raise Offboarded(f"{person.employee_id} has been offboarded: no mentorship for them")
            mentorship = self.aggregates.mentorships.new(new_id(), tenant)
            mentorship.arrange(
                mentor_id=mentor_id,
                mentee_id=mentee_id,
                starts_on=starts_on,
                ends_on=ends_on,
                objectives=objectives,
                goal_ids=goal_ids,
                today=today(self.clock.now()),
            )
            return await self._save(session, actor, correlation_id, mentorship)

    async def end(self, actor: Actor, correlation_id: str, mentorship_id: str, reason: str) -> Accepted:
        async with self.sessions.transaction() as session:
            mentorship = await self.visible(session, actor, mentorship_id)
            mentorship.end(by=actor.employee_id, today=today(self.clock.now()), reason=reason)
            return await self._save(session, actor, correlation_id, mentorship)

    async def visible(self, session: Transaction, actor: Actor, mentorship_id: str) -> Mentorship:
        """The mentorship, if ``actor`` may read it (the pair, the mentee's managers, admin, hr)."""
        mentorship = await self.aggregates.mentorship(session, actor.tenant_id, mentorship_id)
        chain = await self.aggregates.chain_of(session, actor.tenant_id, mentorship.mentee_id)
        if not may_read_mentorship(actor, mentorship.mentor_id, mentorship.mentee_id, chain):
            raise NotFound(f"mentorship {mentorship_id} not found", details={"mentorship_id": mentorship_id})
        return mentorship

    async def _save(
        self, session: Transaction, actor: Actor, correlation_id: str, mentorship: Mentorship
    ) -> Accepted:
        names = [e.event_type for e in mentorship.pending]
        await self.aggregates.mentorships.save(session, mentorship, actor.metadata(correlation_id))
        return Accepted(mentorship.id, mentorship.version, names)
