"""Command handlers and deadlines of review cycles.

- open: hr/admin, for a team's subtree or the whole tenant (active employees per the org
  chart replica); each participant gets a self review and, if they have a manager, a
  manager review by that manager;
- choose peers: the subject's manager reviewer in the cycle, or hr/admin;
- submit: the review's reviewer, before the deadline (by the service clock) and while open;
- close: hr/admin by hand, or the ``review-cycle-close`` deadline at the deadline; two days
  before, ``review-cycle-closing-soon`` announces who still has something to submit.

Who reads a submitted review's answers: its reviewer; hr/admin (they run the process); the
subject's managers at any depth; the subject reads their manager's review once the cycle
is closed, never their peers' reviews (peers write for the manager).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import select

from trellis.contracts.envelope import Metadata
from trellis.contracts.feedback import ReviewAnswersRecorded, ReviewAssignment
from trellis.contracts.ids import uuid7
from trellis.core.consuming import deadlines
from trellis.core.consuming.clock import Clock
from trellis.core.consuming.deadlines import Deadline
from trellis.core.consuming.deadlines import Handler as DeadlineHandler
from trellis.core.errors import Forbidden, NotFound
from trellis.core.runtime.auth import Actor
from trellis.core.store.repository import Repository
from trellis.core.store.sessions import Sessions
from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.feedback.application.accepted import Accepted
from trellis.feedback.application.oversight import Oversight
from trellis.feedback.application.scheduling import SCHEDULER
from trellis.feedback.domain.review_cycle import ReviewCycle, expected_reviews
from trellis.orgchart import OrgDirectory
from trellis.orgchart.tables import org_employees

CLOSING_SOON = "review-cycle-closing-soon"
CLOSE = "review-cycle-close"
CLOSING_SOON_BEFORE = dt.timedelta(days=2)


class ReviewCommands:
    def __init__(
        self,
        *,
        sessions: Sessions,
        cycles: Repository[ReviewCycle],
        org: OrgDirectory,
        clock: Clock,
        wake_deadlines: Callable[[], None],
    ) -> None:
        self.sessions = sessions
        self.cycles = cycles
        self.org = org
        self.oversight = Oversight(org)
        self.clock = clock
        self.wake = wake_deadlines

    def handlers(self) -> dict[str, DeadlineHandler]:
        return {CLOSING_SOON: self._closing_soon, CLOSE: self._close_at_deadline}

    async def open(
        self,
        actor: Actor,
        correlation_id: str,
        *,
        name: str,
        period: str,
        team_id: str | None,
        deadline: dt.datetime,
    ) -> Accepted:
        if not actor.is_admin_or_hr:
            raise Forbidden("only hr or an admin opens a review cycle")
        cycle_id = str(uuid7())
        now = self.clock.now()
        async with self.sessions.transaction() as session:
            if team_id is not None:
                if await self.org.team(session, actor.tenant_id, team_id) is None:
                    raise NotFound(f"team {team_id} not found")
                participants = await self.org.team_members(session, actor.tenant_id, team_id)
            else:
                participants = await _everyone(session, actor.tenant_id)
            people = await self.org.employees(session, actor.tenant_id, participants)
            managers = {p: people[p].manager_id for p in participants if p in people}
            cycle = self.cycles.new(cycle_id, actor.tenant_id)
            cycle.open(
                name=name,
                period=period,
                team_id=team_id,
                deadline=deadline,
                participant_ids=participants,
                reviews=expected_reviews(participants, managers),
                now=now,
            )
            await self.cycles.save(session, cycle, actor.metadata(correlation_id))
            for kind, key, due in (
                (CLOSING_SOON, f"{CLOSING_SOON}:{cycle_id}", deadline - CLOSING_SOON_BEFORE),
                (CLOSE, f"{CLOSE}:{cycle_id}", deadline),
            ):
                await deadlines.schedule(
                    session, key=key, kind=kind, tenant_id=actor.tenant_id, aggregate_id=cycle_id, due_at=due
                )
        self.wake()  # "closing soon" may be due at once for a short cycle
        return Accepted(cycle_id, cycle.version, ["ReviewCycleOpened"], {"reviews": len(cycle.reviews)})

    async def choose_peers(
        self, actor: Actor, correlation_id: str, cycle_id: str, *, subject_id: str, peer_ids: list[str]
    ) -> Accepted:
        async with self.sessions.transaction() as session:
            cycle = await self.cycles.get(session, cycle_id, actor.tenant_id)
            if not (actor.is_admin_or_hr or cycle.manager_reviewer_of(subject_id) == actor.employee_id):
                raise Forbidden("only the subject's manager (or hr) chooses their peer reviewers")
            for peer in peer_ids:
                await self.oversight.active_employee(session, actor.tenant_id, peer)
            cycle.choose_peers(
                subject_id=subject_id, peer_ids=peer_ids, chosen_by=actor.employee_id, now=self.clock.now()
            )
            names = [type(e).event_type for e in cycle.pending]
            await self.cycles.save(session, cycle, actor.metadata(correlation_id))
        return Accepted(cycle_id, cycle.version, names, {})

    async def submit(
        self,
        actor: Actor,
        correlation_id: str,
        cycle_id: str,
        review_id: str,
        *,
        answers: dict[str, str],
        rating: int | None,
    ) -> Accepted:
        async with self.sessions.transaction() as session:
            cycle = await self.cycles.get(session, cycle_id, actor.tenant_id)
            cycle.submit(
                review_id=review_id,
                reviewer_id=actor.employee_id,
                answers=answers,
                rating=rating,
                now=self.clock.now(),
            )
            await self.cycles.save(session, cycle, actor.metadata(correlation_id))
        return Accepted(cycle_id, cycle.version, ["ReviewSubmitted", "ReviewAnswersRecorded"], {})

    async def close(self, actor: Actor, correlation_id: str, cycle_id: str) -> Accepted:
        if not actor.is_admin_or_hr:
            raise Forbidden("only hr or an admin closes a review cycle")
        async with self.sessions.transaction() as session:
            cycle = await self.cycles.get(session, cycle_id, actor.tenant_id)
            cycle.close("hand")
            names = [type(e).event_type for e in cycle.pending]
            await self.cycles.save(session, cycle, actor.metadata(correlation_id))
            await deadlines.cancel(session, f"{CLOSING_SOON}:{cycle_id}")
            await deadlines.cancel(session, f"{CLOSE}:{cycle_id}")
        return Accepted(cycle_id, cycle.version, names, {})

    async def read_review(
        self, actor: Actor, cycle_id: str, review_id: str
    ) -> tuple[ReviewCycle, ReviewAssignment, ReviewAnswersRecorded | None]:
        """A review with its answers (if submitted), for those allowed (see module); else 404."""
        async with self.sessions() as session:
            cycle = await self.cycles.get(session, cycle_id, actor.tenant_id)
            review = cycle.reviews.get(review_id)
            if review is None or not await self._may_read(session, actor, cycle, review):
                raise NotFound(f"review {review_id} not found in this cycle")
            return cycle, review, cycle.answers.get(review_id)

    async def read_cycle(self, actor: Actor, cycle_id: str) -> ReviewCycle:
        async with self.sessions() as session:
            return await self.cycles.get(session, cycle_id, actor.tenant_id)

    async def _may_read(
        self, session: Transaction, actor: Actor, cycle: ReviewCycle, review: ReviewAssignment
    ) -> bool:
        me = actor.employee_id
        if me == review.reviewer_id or actor.is_admin_or_hr:
            return True
        if me == review.subject_id:
            return review.kind == "manager" and cycle.closed
        return await self.org.manages(session, actor.tenant_id, me, review.subject_id)

    async def _closing_soon(self, session: Transaction, deadline: Deadline, now: dt.datetime) -> None:
        cycle = await self.cycles.find(session, deadline.aggregate_id, deadline.tenant_id)
        if cycle is None:
            return
        cycle.announce_closing_soon()
        await self.cycles.save(session, cycle, Metadata(tenant_id=deadline.tenant_id, actor_id=SCHEDULER))

    async def _close_at_deadline(self, session: Transaction, deadline: Deadline, now: dt.datetime) -> None:
        cycle = await self.cycles.find(session, deadline.aggregate_id, deadline.tenant_id)
        if cycle is None:
            return
        cycle.close("deadline")
        await self.cycles.save(session, cycle, Metadata(tenant_id=deadline.tenant_id, actor_id=SCHEDULER))


async def _everyone(session: Transaction, tenant_id: str) -> list[str]:
    """Every active employee of the tenant (the org chart replica)."""
    e = org_employees.c
    rows = await session.execute(
        scoped(tenant_id, select(e.employee_id).where(e.status == "active").order_by(e.employee_id))
    )
    return list(rows.scalars())
