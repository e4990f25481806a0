"""Command handlers of time tracking: load the caller's timesheet, decide, append.

Every command acts on the caller's own timesheet (``timesheet_id(tenant, caller)``): none
takes a person, so nobody can log, change, delete or erase anyone else's time, whatever
their roles. Each runs in one transaction: the checks, the entry's key, the events and the
time log commit together or not at all (a 4xx writes nothing). Two commands of the same
person at once meet on the timesheet's version; the loser decides again on what the
winner wrote (a few times), since none of them expects a version from the client.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from trellis.contracts.ids import uuid7
from trellis.core.consuming.clock import Clock
from trellis.core.errors import ConcurrencyError, NotFound
from trellis.core.runtime.auth import Actor
from trellis.core.store.accepted import Accepted
from trellis.core.store.repository import Repository
from trellis.core.store.sessions import Sessions
from trellis.core.store.transaction import Transaction
from trellis.goals.domain.goal import Goal
from trellis.goals.timekeeping.application.entry_keys import EntryKeys, new_key, seal, unseal
from trellis.goals.timekeeping.domain.entry import (
    Content,
    Subject,
    UnknownGoal,
    UnknownKeyResult,
    check_note,
)
from trellis.goals.timekeeping.domain.timesheet import Timesheet, timesheet_id

ATTEMPTS = 3
SUBJECT_FIELDS = ("goal_id", "key_result_id", "label")
T = TypeVar("T")


class VisibleGoals(Protocol):
    """The goals service's reading rule (``GoalCommands.visible``): the goal if the actor may
    see it, else ``NotFound`` (another tenant's, a development goal of someone else's...)."""

    async def __call__(self, session: Transaction, actor: Actor, goal_id: str) -> Goal: ...


@dataclass(frozen=True)
class Erased:
    accepted: Accepted
    entries: int


class TimesheetCommands:
    def __init__(
        self,
        sessions: Sessions,
        timesheets: Repository[Timesheet],
        visible: VisibleGoals,
        keys: EntryKeys,
        clock: Clock,
    ) -> None:
        self.sessions = sessions
        self.timesheets = timesheets
        self.visible = visible
        self.keys = keys
        self.clock = clock

    async def log(
        self,
        actor: Actor,
        correlation_id: str,
        *,
        day: dt.date,
        minutes: int,
        goal_id: str | None = None,
        key_result_id: str | None = None,
        label: str | None = None,
        note: str | None = None,
    ) -> Accepted:
        content = Content(Subject.of(goal_id, key_result_id, label), check_note(note))

        async def decide(session: Transaction) -> Accepted:
            await self._check_links(session, actor, content.subject)
            sheet = await self._own(session, actor)
            entry_id = str(uuid7())
            key = new_key()
            sheet.log(
                person_id=actor.employee_id,
                entry_id=entry_id,
                day=day,
                minutes=minutes,
                sealed=seal(key, content),
                today=self._today(),
            )
            await self.keys.store(session, actor.tenant_id, actor.employee_id, entry_id, key)
            return await self._save(session, sheet, actor, correlation_id, entry_id)

        return await self._attempt(decide)

    async def change(
        self, actor: Actor, correlation_id: str, entry_id: str, changes: dict[str, Any]
    ) -> Accepted:
        """Change the fields given; any of goal_id, key_result_id and label given replaces what
        the entry is on as a whole (``{"goal_id": "g"}`` moves an entry off its label)."""

        async def decide(session: Transaction) -> Accepted:
            sheet = await self._own(session, actor)
            entry = sheet.entry(entry_id)
            key = await self.keys.key_of(session, actor.tenant_id, entry_id)
            was = unseal(key, entry.sealed) if key is not None else None
            if key is None or was is None:  # its key went with an earlier delete or erase
                raise NotFound(f"time entry {entry_id} not found")
            subject = (
                Subject.of(*(changes.get(f) for f in SUBJECT_FIELDS))
                if _any(changes, SUBJECT_FIELDS)
                else was.subject
            )
            note = check_note(changes["note"]) if "note" in changes else was.note
            day = changes["day"] if changes.get("day") is not None else entry.day
            minutes = changes["minutes"] if changes.get("minutes") is not None else entry.minutes
            if (day, minutes, Content(subject, note)) == (entry.day, entry.minutes, was):
                return Accepted(sheet.id, sheet.version, [], {"entry_id": entry_id})  # nothing changes
            if subject != was.subject:
                await self._check_links(session, actor, subject)
            sealed = seal(key, Content(subject, note))
            sheet.change(entry_id, day=day, minutes=minutes, sealed=sealed, today=self._today())
            return await self._save(session, sheet, actor, correlation_id, entry_id)

        return await self._attempt(decide)

    async def delete(self, actor: Actor, correlation_id: str, entry_id: str) -> Accepted:
        async def decide(session: Transaction) -> Accepted:
            sheet = await self._own(session, actor)
            sheet.delete(entry_id)
            accepted = await self._save(session, sheet, actor, correlation_id, entry_id)
            await self.keys.forget(session, actor.tenant_id, entry_id)
            return accepted

        return await self._attempt(decide)

    async def erase(self, actor: Actor, correlation_id: str) -> Erased:
        """Erase every entry of the caller's: one event, every key deleted with it."""

        async def decide(session: Transaction) -> Erased:
            sheet = await self._own(session, actor)
            if not sheet.exists:  # never logged anything: nothing to erase, nothing to record
                return Erased(Accepted(sheet.id, 0, []), 0)
            erased = sheet.erase(actor.employee_id)
            accepted = await self._save(session, sheet, actor, correlation_id, None)
            await self.keys.forget_all(session, actor.tenant_id, actor.employee_id)
            return Erased(accepted, erased)

        return await self._attempt(decide)

    # ---- helpers ------------------------------------------------------------------------

    async def _own(self, session: Transaction, actor: Actor) -> Timesheet:
        """The caller's timesheet (a new one the first time)."""
        sheet_id = timesheet_id(actor.tenant_id, actor.employee_id)
        found = await self.timesheets.find(session, sheet_id, actor.tenant_id)
        return found or self.timesheets.new(sheet_id, actor.tenant_id)

    async def _check_links(self, session: Transaction, actor: Actor, subject: Subject) -> None:
        """A goal the entry names exists in the caller's tenant and they may see it, by the
        goals service's own rule (so nobody learns that a goal hidden from them exists by
        logging time on it); a key result belongs to it. Unknown and hidden read alike."""
        if subject.goal_id is None:
            return
        try:
            goal = await self.visible(session, actor, subject.goal_id)
        except NotFound:
            raise UnknownGoal(
                f"no goal {subject.goal_id} that you can see",
                details={"field": "goal_id", "goal_id": subject.goal_id},
            ) from None
        if subject.key_result_id is not None and subject.key_result_id not in goal.key_results:
            raise UnknownKeyResult(
                f"goal {subject.goal_id} has no key result {subject.key_result_id}",
                details={"field": "key_result_id", "key_result_id": subject.key_result_id},
            )

    async def _save(
        self, session: Transaction, sheet: Timesheet, actor: Actor, correlation_id: str, entry_id: str | None
    ) -> Accepted:
        stored = await self.timesheets.save(session, sheet, actor.metadata(correlation_id))
        related = {"entry_id": entry_id} if entry_id else {}
        return Accepted(sheet.id, sheet.version, [e.event_type for e in stored], related)

    async def _attempt(self, decide: Callable[[Transaction], Awaitable[T]]) -> T:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self.sessions.transaction() as session:
                    return await decide(session)
            except ConcurrencyError:
                if attempt == ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _today(self) -> dt.date:
        return self.clock.now().date()


def _any(changes: dict[str, Any], fields: tuple[str, ...]) -> bool:
    return any(f in changes for f in fields)
