"""The consumer: four handlers on the goals stream, written with the Trellis kit.

Run it with FastStream (``faststream run --factory people_analytics.app:create_app``) or
``people-analytics`` (settings from the environment: ``NATS_URL``, ``TRELLIS_ROOT``,
``ANALYTICS_DB``).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from faststream import FastStream
from faststream.nats import NatsBroker

from people_analytics.store import Store
from trellis.contracts.envelope import EventEnvelope
from trellis.contracts.goals import (
    GoalCompleted,
    GoalCreated,
    GoalRetired,
    KeyResultAdded,
    KeyResultProgressRecorded,
)
from trellis.contracts.kit import Envelope, TrellisEvents

GoalEvent = GoalCreated | GoalCompleted | GoalRetired | KeyResultAdded | KeyResultProgressRecorded


class AppliedEvents:
    """The kit's dedupe, read from the sink's own table (written with each effect)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def seen(self, envelope: EventEnvelope) -> bool:
        return self.store.applied(envelope)

    async def remember(self, envelope: EventEnvelope) -> None:
        """Nothing to do: the handler recorded the id in its own transaction."""


def build(
    broker: NatsBroker, store: Store, *, root: str = "trellis", durable: str = "people-analytics", **kit: Any
) -> None:
    """Bind the handlers to ``broker`` (one durable consumer on the goals stream); ``kit``
    options go to ``TrellisEvents`` (``max_deliver``, ``ack_wait``, ``dead_letter``...)."""
    trellis = TrellisEvents(broker, root=root, **kit)

    @trellis.subscriber(
        GoalCreated,
        GoalCompleted,
        GoalRetired,
        KeyResultAdded,
        KeyResultProgressRecorded,
        durable=durable,
        processed=AppliedEvents(store),
    )
    async def on_goal_event(event: GoalEvent, envelope: Envelope) -> None:
        """Keep goals and key results per team, in each goal's order."""
        store.apply(envelope, lambda db: _apply(db, event, envelope))


def _apply(db: object, event: GoalEvent, envelope: EventEnvelope) -> None:
    execute = db.execute  # type: ignore[attr-defined]
    match event:
        case GoalCreated():
            execute(
                "INSERT OR REPLACE INTO goals (goal_id, tenant_id, team_id, level, title)"
                " VALUES (?, ?, ?, ?, ?)",
                (event.goal_id, envelope.tenant_id, event.team_id, event.level, event.title),
            )
        case KeyResultAdded():
            execute(
                "INSERT OR REPLACE INTO key_results (key_result_id, goal_id, start, target, current)"
                " VALUES (?, ?, ?, ?, ?)",
                (event.key_result_id, event.goal_id, event.start, event.target, event.current),
            )
        case KeyResultProgressRecorded():
            execute(
                "UPDATE key_results SET current = ?, updates = updates + 1 WHERE key_result_id = ?",
                (event.value, event.key_result_id),
            )
        case GoalCompleted():
            execute("UPDATE goals SET status = 'completed' WHERE goal_id = ?", (event.goal_id,))
        case GoalRetired():
            execute("UPDATE goals SET status = 'retired' WHERE goal_id = ?", (event.goal_id,))


def create_app() -> FastStream:
    broker = NatsBroker(os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    store = Store(os.environ.get("ANALYTICS_DB", "people-analytics.db"))
    build(broker, store, root=os.environ.get("TRELLIS_ROOT", "trellis"))
    return FastStream(broker)


def main() -> None:
    asyncio.run(create_app().run())
