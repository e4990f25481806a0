"""Commands on the inbox and on preferences: mark read, mark all read, change preferences."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from trellis.core.errors import NotFound
from trellis.core.runtime.auth import Actor
from trellis.core.store.repository import Repository
from trellis.core.store.sessions import Sessions
from trellis.notifications.domain.notification import Notification, inboxes_of
from trellis.notifications.domain.preferences import Preferences, preferences_id
from trellis.notifications.views.inbox import unread_ids

MAX_MARK_ALL = 5_000  # one transaction; a client with more calls again


@dataclass(frozen=True)
class PreferencesView:
    employee_id: str
    muted_types: list[str]
    daily_digest: bool


class InboxCommands:
    def __init__(
        self,
        sessions: Sessions,
        notifications: Repository[Notification],
        preferences: Repository[Preferences],
    ) -> None:
        self.sessions = sessions
        self.notifications = notifications
        self.preferences = preferences

    async def mark_read(self, actor: Actor, correlation_id: str, notification_id: str) -> bool:
        """Mark one notification read; whether it was unread. Someone else's is not found."""
        async with self.sessions.transaction() as session:
            note = await self.notifications.find(session, notification_id, actor.tenant_id)
            if note is None or not note.readable_by(actor):
                raise NotFound(f"notification {notification_id} not found")
            was_unread = not note.read
            note.mark_read(actor)
            if note.pending:
                await self.notifications.save(session, note, actor.metadata(correlation_id))
            return was_unread

    async def mark_all_read(self, actor: Actor, correlation_id: str, up_to: dt.datetime | None = None) -> int:
        """Mark every unread notification the actor reads (created up to ``up_to``) read; how many."""
        async with self.sessions.transaction() as session:
            ids = await unread_ids(session, actor.tenant_id, inboxes_of(actor), up_to=up_to)
            marked = 0
            for nid in ids[:MAX_MARK_ALL]:
                note = await self.notifications.find(session, nid, actor.tenant_id)
                if note is None or not note.readable_by(actor):
                    continue
                note.mark_read(actor)
                if note.pending:
                    await self.notifications.save(session, note, actor.metadata(correlation_id))
                    marked += 1
            return marked

    async def preferences_of(self, actor: Actor) -> PreferencesView:
        async with self.sessions() as session:
            prefs = await self.preferences.find(
                session, preferences_id(actor.tenant_id, actor.employee_id), actor.tenant_id
            )
        if prefs is None:
            return PreferencesView(actor.employee_id, [], False)
        return PreferencesView(actor.employee_id, sorted(prefs.muted_types), prefs.daily_digest)

    async def set_preferences(
        self, actor: Actor, correlation_id: str, *, muted_types: list[str], daily_digest: bool
    ) -> PreferencesView:
        pid = preferences_id(actor.tenant_id, actor.employee_id)
        async with self.sessions.transaction() as session:
            prefs = await self.preferences.find(session, pid, actor.tenant_id)
            if prefs is None:
                prefs = self.preferences.new(pid, actor.tenant_id)
            prefs.change(actor.employee_id, muted_types=muted_types, daily_digest=daily_digest)
            if prefs.pending:
                await self.preferences.save(session, prefs, actor.metadata(correlation_id))
        return PreferencesView(actor.employee_id, sorted(prefs.muted_types), prefs.daily_digest)
