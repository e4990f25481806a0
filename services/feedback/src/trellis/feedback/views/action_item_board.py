"""``ActionItemBoard``: the action items of 1:1 agendas, for "my action items" lists.

Built from the published agenda events only, so it knows who owns an item, when it is
due, whether it is done or overdue, and never its text (a private event): the API takes
the text from the agenda itself, for the people allowed. A removed item leaves the board.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, update

from trellis.contracts.envelope import EventEnvelope
from trellis.contracts.feedback import (
    ActionItemAssigned,
    ActionItemCompleted,
    ActionItemDueChanged,
    ActionItemOverdue,
    ActionItemRemoved,
    ActionItemReopened,
)
from trellis.core.consuming.projection import Projection, on
from trellis.core.store.transaction import Transaction
from trellis.feedback.views.tables import action_items


class ActionItemBoard(Projection):
    name = "feedback-action-items"
    source = "feedback"
    tables = (action_items,)

    @on(ActionItemAssigned)
    async def assigned(self, session: Transaction, ev: ActionItemAssigned, env: EventEnvelope) -> None:
        await session.execute(
            insert(action_items).values(
                action_item_id=ev.action_item_id,
                tenant_id=env.tenant_id,
                schedule_id=ev.schedule_id,
                owner_id=ev.owner_id,
                assigned_by=ev.assigned_by,
                checkin_id=ev.checkin_id,
                due_on=ev.due_on,
                status="open",
                overdue=False,
                assigned_at=env.occurred_at,
            )
        )

    @on(ActionItemDueChanged)
    async def due_changed(self, session: Transaction, ev: ActionItemDueChanged, env: EventEnvelope) -> None:
        await self._item(session, ev.action_item_id, due_on=ev.due_on, overdue=False)

    @on(ActionItemCompleted)
    async def completed(self, session: Transaction, ev: ActionItemCompleted, env: EventEnvelope) -> None:
        await self._item(session, ev.action_item_id, status="done", completed_at=env.occurred_at)

    @on(ActionItemReopened)
    async def reopened(self, session: Transaction, ev: ActionItemReopened, env: EventEnvelope) -> None:
        await self._item(session, ev.action_item_id, status="open", completed_at=None)

    @on(ActionItemOverdue)
    async def overdue(self, session: Transaction, ev: ActionItemOverdue, env: EventEnvelope) -> None:
        await self._item(session, ev.action_item_id, overdue=True)

    @on(ActionItemRemoved)
    async def removed(self, session: Transaction, ev: ActionItemRemoved, env: EventEnvelope) -> None:
        await session.execute(delete(action_items).where(action_items.c.action_item_id == ev.action_item_id))

    async def _item(self, session: Transaction, action_item_id: str, **values: object) -> None:
        await session.execute(
            update(action_items).where(action_items.c.action_item_id == action_item_id).values(**values)
        )
