"""The time-tracking API: the caller's own timesheet, and nobody else's, whatever their roles.

No route takes a person: each reads or changes the caller's own entries. Another person's
entry id answers 404, as one that does not exist (not 403: a 403 would say that it does).
Manager, hr and admin roles change nothing here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Query, status
from fastapi.responses import StreamingResponse
from pydantic import Field

from trellis.contracts.timekeeping import MINUTES_PER_DAY
from trellis.core.errors import InvalidInput, NotFound
from trellis.core.runtime.api_kit import RuntimeDep, application_of
from trellis.core.runtime.http import CorrelationId, CurrentActor, Date, Id, RequestBody, api_router
from trellis.core.store.accepted import Accepted
from trellis.goals.application.wiring import GoalsApplication
from trellis.goals.timekeeping.api.answers import (
    TimeEntries,
    TimeEntry,
    TimeEntryAnswer,
    TimesheetErasedAnswer,
    TimeSummary,
)
from trellis.goals.timekeeping.application.wiring import Timekeeping
from trellis.goals.timekeeping.domain.entry import MAX_LABEL, MAX_NOTE
from trellis.goals.timekeeping.views import csv_export, queries

router = api_router(prefix="/v1/timesheet", tags=["time tracking (private)"])

DEFAULT_DAYS = 28  # a list or summary without `from` covers the four weeks up to `to`
MAX_DAYS = 366  # ...and at most a year; the CSV export has no limit

Minutes = Annotated[
    int,
    Field(strict=True, ge=1, le=MINUTES_PER_DAY, description=f"a whole number, 1 to {MINUTES_PER_DAY}"),
]
Label = Annotated[
    str,
    Field(
        max_length=1000,
        description=f"a short free label, at most {MAX_LABEL} characters once its spaces are collapsed "
        "(else 422 `invalid_label`); exactly one of `goal_id` and `label`",
    ),
]
Note = Annotated[str, Field(max_length=MAX_NOTE)]
From = Annotated[Date | None, Query(alias="from", description="first day, included")]
To = Annotated[Date | None, Query(alias="to", description="last day, included (default: today)")]


class InvalidRange(InvalidInput):
    code = "invalid_range"


class LogTime(RequestBody):
    """Time spent on a day: on a goal (and perhaps one of its key results) or on a label."""

    day: Date = Field(description="ISO date; at the latest tomorrow (422 `day_in_future`)")
    minutes: Minutes
    goal_id: Id | None = Field(default=None, description="a goal of your tenant (422 `unknown_goal`)")
    key_result_id: Id | None = Field(default=None, description="one of that goal's key results")
    label: Label | None = None
    note: Note = ""


class ChangeTimeEntry(RequestBody):
    """The fields given change. Giving any of `goal_id`, `key_result_id`, `label` replaces what
    the entry is on with exactly those (the rule of logging applies)."""

    day: Date | None = None
    minutes: Minutes | None = None
    goal_id: Id | None = None
    key_result_id: Id | None = None
    label: Label | None = None
    note: Note | None = None


async def _timekeeping(
    goals: Annotated[GoalsApplication, Depends(application_of(GoalsApplication))],
) -> Timekeeping:
    return goals.timekeeping


Tracking = Annotated[Timekeeping, Depends(_timekeeping)]


def _entry_answer(accepted: Accepted) -> TimeEntryAnswer:
    return TimeEntryAnswer.of(accepted, entry_id=accepted.related["entry_id"])


@router.post(
    "/entries",
    status_code=status.HTTP_201_CREATED,
    response_model=TimeEntryAnswer,
    summary="Log time you spent (private: only you ever read it)",
)
async def log_time(body: LogTime, actor: CurrentActor, cid: CorrelationId, tracking: Tracking) -> Any:
    return _entry_answer(await tracking.commands.log(actor, cid, **body.model_dump()))


@router.get("/entries", summary="Your time entries from a day to a day")
async def list_entries(
    actor: CurrentActor, runtime: RuntimeDep, tracking: Tracking, since: From = None, until: To = None
) -> TimeEntries:
    first, last = _range(tracking, since, until)
    async with runtime.sessions() as session:
        found = await queries.entries(session, actor.tenant_id, actor.employee_id, first, last)
    return TimeEntries.model_validate(
        {
            "from_date": first.isoformat(),
            "to_date": last.isoformat(),
            "total_minutes": sum(e["minutes"] for e in found),
            "entries": found,
        }
    )


@router.get("/summary", summary="Where your time went: per ISO week, per goal and per label")
async def summary(
    actor: CurrentActor, runtime: RuntimeDep, tracking: Tracking, since: From = None, until: To = None
) -> TimeSummary:
    first, last = _range(tracking, since, until)
    async with runtime.sessions() as session:
        found = await queries.summary(session, actor.tenant_id, actor.employee_id, first, last)
    return TimeSummary.model_validate(found)


class CsvResponse(StreamingResponse):
    media_type = "text/csv"


@router.get(
    "/export.csv",
    response_class=CsvResponse,
    summary="Your time entries as CSV (every one, or from a day to a day)",
    responses={
        200: {
            "description": "a header row, then one row per entry in day order; a cell starting with "
            "`=`, `+`, `-` or `@` is prefixed with `'`",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def export_csv(
    actor: CurrentActor, runtime: RuntimeDep, since: From = None, until: To = None
) -> CsvResponse:
    if since is not None and until is not None and since > until:
        raise InvalidRange(
            "`from` is after `to`", details={"from": since.isoformat(), "to": until.isoformat()}
        )

    async def body() -> AsyncIterator[bytes]:
        async with runtime.sessions() as session:
            rows = queries.export_rows(session, actor.tenant_id, actor.employee_id, since, until)
            async for line in csv_export.lines(rows):
                yield line.encode()

    return CsvResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="timesheet.csv"'},
    )


@router.get("/entries/{entry_id}", summary="One of your time entries")
async def get_entry(entry_id: str, actor: CurrentActor, runtime: RuntimeDep) -> TimeEntry:
    async with runtime.sessions() as session:
        found = await queries.entry(session, actor.tenant_id, actor.employee_id, entry_id)
    if found is None:
        raise NotFound(f"time entry {entry_id} not found")
    return TimeEntry.model_validate(found)


@router.patch(
    "/entries/{entry_id}", response_model=TimeEntryAnswer, summary="Change one of your time entries"
)
async def change_entry(
    entry_id: str, body: ChangeTimeEntry, actor: CurrentActor, cid: CorrelationId, tracking: Tracking
) -> Any:
    changes = body.model_dump(exclude_unset=True)
    return _entry_answer(await tracking.commands.change(actor, cid, entry_id, changes))


@router.delete(
    "/entries/{entry_id}", response_model=TimeEntryAnswer, summary="Delete one of your time entries"
)
async def delete_entry(entry_id: str, actor: CurrentActor, cid: CorrelationId, tracking: Tracking) -> Any:
    return _entry_answer(await tracking.commands.delete(actor, cid, entry_id))


@router.delete(
    "",
    response_model=TimesheetErasedAnswer,
    summary="Erase every one of your time entries at once: nothing of them is left to read",
)
async def erase_timesheet(actor: CurrentActor, cid: CorrelationId, tracking: Tracking) -> Any:
    erased = await tracking.commands.erase(actor, cid)
    return TimesheetErasedAnswer.of(erased.accepted, entries_erased=erased.entries)


def _range(tracking: Timekeeping, since: dt.date | None, until: dt.date | None) -> tuple[dt.date, dt.date]:
    last = until or tracking.clock.now().date()
    first = since or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidRange(
            "`from` is after `to`", details={"from": first.isoformat(), "to": last.isoformat()}
        )
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidRange(
            f"at most {MAX_DAYS} days at once (the CSV export has no limit)",
            details={"from": first.isoformat(), "to": last.isoformat(), "max_days": MAX_DAYS},
        )
    return first, last
