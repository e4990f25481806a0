"""Pace watch: a goal's status by pace decided as an event, when progress is recorded and
when time passes, exactly once per change.

Each goal has one ``goal-pace`` deadline (the core's deadlines: claimed by one replica,
fired once, in the transaction that records what it decides). The handler measures the
goal as the read views do (``domain/pace.py`` on the rolled-up progress, read-your-writes
for the goal itself), records ``GoalPaceChanged`` on the goal's ``GoalPace`` (its own
stream, so the goal's version never moves with the clock) if the status differs from the
last one decided, and moves the deadline to the first day on which the status would change if
nothing else did: no goal is polled, and a goal on track to its due date has none.

A second deadline per goal, ``goal-due-soon``, fires ``NUDGE_DAYS_BEFORE_DUE`` (7) days
before its due date (armed when the goal is created or its span changes): a goal then
still behind records ``GoalDueSoon`` (once per due date, on its pace), and its owner is
told. A goal completed or retired by then, or on track, records nothing.

This reaction arms the pace deadline for *now* whenever something that moves a goal's
progress or span happens to it (key results, progress, dates, alignment), for the goal
and the goals it is aligned under, whose roll-up it changes. The pace refuses to record
the same status twice, and its expected version guards two replicas deciding at once.
"""

from __future__ import annotations

import datetime as dt

import structlog

from trellis.contracts.envelope import EventEnvelope, Metadata
from trellis.contracts.goals import (
    GoalAligned,
    GoalChanged,
    GoalCreated,
    GoalUnaligned,
    KeyResultAdded,
    KeyResultChanged,
    KeyResultProgressRecorded,
    KeyResultRemoved,
)
from trellis.core.consuming import deadlines
from trellis.core.consuming.clock import Clock
from trellis.core.consuming.deadlines import Deadline
from trellis.core.consuming.deadlines import Handler as DeadlineHandler
from trellis.core.consuming.projection import Reaction, on
from trellis.core.store.repository import Repository
from trellis.core.store.transaction import Transaction
from trellis.goals.application.commands import MAX_ANCESTORS
from trellis.goals.application.pace_policies import PacePolicies
from trellis.goals.domain.goal import Goal
from trellis.goals.domain.goal_pace import GoalPace, goal_pace_id
from trellis.goals.domain.pace import Thresholds, expected_progress, pace_of, pace_status, period_bounds
from trellis.goals.views import queries

log = structlog.get_logger("trellis.goals.pace")

PACE = "goal-pace"
DUE_SOON = "goal-due-soon"  # a nudge before the due date, for a goal still behind
WATCHER = "pace-watch"  # the actor of what the clock decides


def pace_key(goal_id: str) -> str:
    return f"{PACE}:{goal_id}"


def due_soon_key(goal_id: str) -> str:
    return f"{DUE_SOON}:{goal_id}"


class PaceWatch(Reaction):
    name = "goals-pace-watch"
    source = "goals"

    def __init__(
        self,
        goals: Repository[Goal],
        paces: Repository[GoalPace],
        clock: Clock,
        policies: PacePolicies,
        nudge_days: int = 7,
    ) -> None:
        self.goals = goals
        self.paces = paces
        self.clock = clock
        self.policies = policies
        self.nudge_days = nudge_days

    def handlers(self) -> dict[str, DeadlineHandler]:
        return {PACE: self.check, DUE_SOON: self.check}

    @on(
        GoalCreated,
        GoalChanged,
        GoalAligned,
        GoalUnaligned,
        KeyResultAdded,
        KeyResultChanged,
        KeyResultRemoved,
        KeyResultProgressRecorded,
    )
    async def moved(self, session: Transaction, ev: GoalCreated, env: EventEnvelope) -> None:
        goal = await self.goals.find(session, env.aggregate_id, env.tenant_id)
        if goal is None:
            return
        now = self.clock.now()
        for paced in await self._paced_chain(session, goal):
            await self._arm(session, paced.id, env.tenant_id, now)
        if isinstance(ev, (GoalCreated, GoalChanged)):  # its span may have moved
            await self._arm_due_soon(session, goal, now)

    async def _paced_chain(self, session: Transaction, goal: Goal) -> list[Goal]:
        """The goal and those it is aligned under, nearest first, that have a pace to decide:
        open, with a span (a due date or a named period); a free-text period has none."""
        chain, current = [goal], goal
        while current.parent_id and len(chain) <= MAX_ANCESTORS:
            parent = await self.goals.find(session, current.parent_id, goal.tenant_id)
            if parent is None:
                break
            chain.append(parent)
            current = parent
        return [g for g in chain if _has_span(g)]

    async def check(self, session: Transaction, deadline: Deadline, now: dt.datetime) -> None:
        """Decide the goal's status by pace (and, within the nudge window, whether it is due
        soon and behind); a ``goal-pace`` deadline then moves to the next day it changes."""
        goal = await self.goals.find(session, deadline.aggregate_id, deadline.tenant_id)
        if goal is None or goal.is_retired or goal.is_completed:
            return
        created_on, children = await queries.pace_inputs(session, goal.tenant_id, goal.id)
        progress = float(queries.progress_from_aggregate(goal, children))
        today = now.date()
        created_on = created_on or today
        thresholds = await self.policies.thresholds(session, goal.tenant_id)
        pace = pace_of(
            period=goal.period,
            start_date=goal.start_date,
            due_date=goal.due_date,
            progress=progress,
            status=goal.status,
            today=today,
            created_on=created_on,
            thresholds=thresholds,
        )
        if pace is None:
            return
        pace_id = goal_pace_id(goal.id)
        decided = await self.paces.find(session, pace_id, goal.tenant_id)
        decided = decided or self.paces.new(pace_id, goal.tenant_id)
        decided.assess(goal.id, pace.status, progress, pace.expected, today)
        if today <= pace.due <= today + dt.timedelta(days=self.nudge_days):
            decided.due_soon(
                goal_id=goal.id,
                owner_id=goal.owner_id,
                due_date=pace.due,
                status=pace.status,
                progress=progress,
                expected=pace.expected,
                as_of=today,
            )
        if decided.pending:
            await self.paces.save(session, decided, Metadata(tenant_id=goal.tenant_id, actor_id=WATCHER))
            log.info("goal.pace_decided", goal=goal.id, status=pace.status, expected=pace.expected)
        if deadline.kind != PACE:
            return
        following = _next_change(progress, pace.start, pace.due, today, pace.status, thresholds)
        if following is None:
            await deadlines.cancel(session, pace_key(goal.id))  # on track to the end: none
        else:  # re-armed for that day (the occurrence fired now is marked so, not this one)
            await self._arm(
                session, goal.id, goal.tenant_id, dt.datetime.combine(following, dt.time(), tzinfo=dt.UTC)
            )

    async def _arm_due_soon(self, session: Transaction, goal: Goal, now: dt.datetime) -> None:
        """Arm the goal's nudge for ``nudge_days`` before its due date (now, if that is past)."""
        bounds = period_bounds(goal.period)
        due = goal.due_date or (bounds[1] if bounds else None)
        key = due_soon_key(goal.id)
        if due is None or due < now.date():
            await deadlines.cancel(session, key)
            return
        at = dt.datetime.combine(due - dt.timedelta(days=self.nudge_days), dt.time(), tzinfo=dt.UTC)
        await deadlines.schedule(
            session,
            key=key,
            kind=DUE_SOON,
            tenant_id=goal.tenant_id,
            aggregate_id=goal.id,
            due_at=max(at, now),
        )

    async def _arm(self, session: Transaction, goal_id: str, tenant_id: str, due_at: dt.datetime) -> None:
        await deadlines.schedule(
            session,
            key=pace_key(goal_id),
            kind=PACE,
            tenant_id=tenant_id,
            aggregate_id=goal_id,
            due_at=due_at,
        )


def _next_change(
    progress: float, start: dt.date, due: dt.date, today: dt.date, status: str, thresholds: Thresholds
) -> dt.date | None:
    """The first day after ``today`` whose status by pace differs, if progress stays."""
    day = max(today, start - dt.timedelta(days=1)) + dt.timedelta(days=1)
    while day <= due:
        if pace_status(progress, expected_progress(start, due, day), thresholds) != status:
            return day
        day += dt.timedelta(days=1)
    return None


def _has_span(goal: Goal) -> bool:
    if goal.is_retired or goal.is_completed:
        return False
    return goal.due_date is not None or period_bounds(goal.period) is not None
