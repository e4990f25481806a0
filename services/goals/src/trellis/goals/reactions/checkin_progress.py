"""Check-in progress: key-result values recorded in a 1:1 check-in become goal progress.

A reaction to the feedback service's ``CheckInCompleted``: each of its
``key_result_updates`` is recorded on the goal with ``Goal.record_progress`` (comment
naming the check-in, the check-in's confidence), so it rolls up the alignment tree like
any other progress. Only a goal owned by one of the check-in's two participants is
updated: an update naming someone else's goal, an unknown goal or key result, or a goal
that refuses it (retired) is logged and skipped, never retried, never dead-lettered (the
check-in happened; the goal simply does not take that value). The runner applies each
check-in once; as a reaction it is never replayed.
"""

from __future__ import annotations

import structlog

from trellis.contracts.envelope import EventEnvelope, Metadata
from trellis.contracts.feedback import CheckInCompleted, KeyResultUpdate
from trellis.core.consuming.projection import Reaction, on
from trellis.core.errors import TrellisError
from trellis.core.store.repository import Repository
from trellis.core.store.transaction import Transaction
from trellis.goals.domain.goal import Goal

log = structlog.get_logger("trellis.goals.reactions.checkin_progress")


class CheckInProgress(Reaction):
    name = "goals-checkin-progress"
    source = "feedback"

    def __init__(self, goals: Repository[Goal]) -> None:
        self.goals = goals

    @on(CheckInCompleted)
    async def completed(self, session: Transaction, ev: CheckInCompleted, env: EventEnvelope) -> None:
        metadata = Metadata(
            tenant_id=env.tenant_id,
            actor_id=ev.completed_by,
            correlation_id=env.correlation_id,
            causation_id=str(env.event_id),
        )
        for update in ev.key_result_updates:
            await self._record(session, ev, update, env.tenant_id, metadata)

    async def _record(
        self,
        session: Transaction,
        ev: CheckInCompleted,
        update: KeyResultUpdate,
        tenant_id: str,
        metadata: Metadata,
    ) -> None:
        skip = {"checkin": ev.checkin_id, "goal": update.goal_id, "key_result": update.key_result_id}
        goal = await self.goals.find(session, update.goal_id, tenant_id)
        if goal is None:
            log.warning("checkin_progress.skipped", reason="no such goal", **skip)
            return
        if goal.owner_id not in (ev.manager_id, ev.report_id):
            log.warning("checkin_progress.skipped", reason="goal owned by neither participant", **skip)
            return
        comment = f"check-in {ev.checkin_id}" + (f": {update.comment}" if update.comment else "")
        try:
            goal.record_progress(
                update.key_result_id, update.value, comment=comment, confidence=ev.confidence
            )
        except TrellisError as exc:
            log.warning("checkin_progress.skipped", reason=exc.message, **skip)
            return
        await self.goals.save(session, goal, metadata)
