"""Check-in schedules and check-ins over HTTP."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, status
from pydantic import Field

from trellis.contracts.feedback import KeyResultUpdate
from trellis.core.runtime.api_kit import RuntimeDep
from trellis.core.runtime.auth import Actor
from trellis.core.runtime.http import (
    CorrelationId,
    CurrentActor,
    Date,
    DateTime,
    Id,
    Measure,
    RequestBody,
    api_router,
)
from trellis.feedback.api.answers import CheckInList, CheckInView, Schedules, ScheduleView
from trellis.feedback.api.dependencies import CheckIns, FeedbackAnswer, OversightDep, accepted, utc
from trellis.feedback.domain.agenda_entries import MAX_OPEN_POINTS
from trellis.feedback.domain.checkin import CheckIn
from trellis.feedback.domain.checkin_schedule import MAX_GRACE_HOURS, CheckInSchedule
from trellis.feedback.views import checkin_queries

router = api_router(prefix="/v1", tags=["check-ins"])

Cadence = Literal["weekly", "biweekly", "monthly"]
Weekday = Annotated[int, Field(ge=0, le=6, description="0 = Monday ... 6 = Sunday")]
TimeOfDay = Annotated[str, Field(pattern=r"^\d{2}:\d{2}$", examples=["09:30"])]
TimeZone = Annotated[str, Field(min_length=1, max_length=64, examples=["Europe/Berlin"])]
GraceHours = Annotated[int, Field(ge=0, le=MAX_GRACE_HOURS)]
Text = Annotated[str, Field(max_length=10_000)]


class CreateSchedule(RequestBody):
    report_id: Id
    manager_id: Id | None = Field(default=None, description="defaults to the report's manager")
    cadence: Cadence = "weekly"
    weekday: Weekday = 0
    time_of_day: TimeOfDay = "09:00"
    timezone: TimeZone = "UTC"
    grace_hours: GraceHours = 24
    starts_on: Date | None = Field(default=None, description="defaults to today in the time zone")


class ChangeSchedule(RequestBody):
    cadence: Cadence | None = None
    weekday: Weekday | None = None
    time_of_day: TimeOfDay | None = None
    timezone: TimeZone | None = None
    grace_hours: GraceHours | None = None


class EndSchedule(RequestBody):
    reason: str = Field(default="", max_length=500)


class KeyResultUpdateIn(RequestBody):
    goal_id: Id
    key_result_id: Id
    value: Measure
    comment: str = Field(default="", max_length=2_000)


class CompleteCheckIn(RequestBody):
    confidence: int = Field(ge=1, le=5)
    key_result_updates: list[KeyResultUpdateIn] = Field(default_factory=list, max_length=50)
    progress: Text = ""
    blockers: Text = ""
    shared_notes: Text = ""
    goal_progress: dict[Id, Text] = Field(
        default_factory=dict, max_length=50, description="goal id -> what progressed"
    )
    private_note: Text = Field(default="", description="only you will ever read it")
    discussed_point_ids: list[Id] | None = Field(
        default=None,
        max_length=MAX_OPEN_POINTS,
        description=(
            "the talking points of the pair's agenda that were discussed; every other open point "
            "carries over to the next 1:1 (absent: none was ticked, all carry over)"
        ),
    )


class PrivateNote(RequestBody):
    note: Text = Field(min_length=1)


@router.post(
    "/checkin-schedules", status_code=status.HTTP_201_CREATED, summary="Schedule recurring check-ins"
)
async def create_schedule(
    body: CreateSchedule, actor: CurrentActor, cid: CorrelationId, checkins: CheckIns
) -> FeedbackAnswer:
    return accepted(await checkins.create_schedule(actor, cid, **body.model_dump()))


@router.get(
    "/checkin-schedules",
    response_model=Schedules,
    summary="An employee's check-in schedules (as manager or report)",
)
async def list_schedules(
    actor: CurrentActor, runtime: RuntimeDep, oversight: OversightDep, employee_id: str | None = None
) -> dict[str, Any]:
    employee = employee_id or actor.employee_id
    async with runtime.sessions() as session:
        await oversight.require_oversees(session, actor, employee)
        return {"schedules": await checkin_queries.schedules_of(session, actor.tenant_id, employee)}


@router.get("/checkin-schedules/{schedule_id}", response_model=ScheduleView, summary="A check-in schedule")
async def get_schedule(schedule_id: str, actor: CurrentActor, checkins: CheckIns) -> dict[str, Any]:
    return _schedule_view(await checkins.visible_schedule(actor, schedule_id))


@router.patch("/checkin-schedules/{schedule_id}", summary="Change a schedule from its next occurrence on")
async def change_schedule(
    schedule_id: str, body: ChangeSchedule, actor: CurrentActor, cid: CorrelationId, checkins: CheckIns
) -> FeedbackAnswer:
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return accepted(await checkins.change_schedule(actor, cid, schedule_id, changes))


@router.post("/checkin-schedules/{schedule_id}/end", summary="End a schedule: no more check-ins")
async def end_schedule(
    schedule_id: str, body: EndSchedule, actor: CurrentActor, cid: CorrelationId, checkins: CheckIns
) -> FeedbackAnswer:
    return accepted(await checkins.end_schedule(actor, cid, schedule_id, body.reason))


@router.get("/checkins", response_model=CheckInList, summary="An employee's check-ins, newest due first")
async def list_checkins(
    actor: CurrentActor,
    runtime: RuntimeDep,
    oversight: OversightDep,
    employee_id: str | None = None,
    checkin_status: Annotated[
        Literal["scheduled", "completed", "missed", "cancelled"] | None, Query(alias="status")
    ] = None,
    due_from: DateTime | None = None,
    due_before: DateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    employee = employee_id or actor.employee_id
    async with runtime.sessions() as session:
        await oversight.require_oversees(session, actor, employee)
        found = await checkin_queries.checkins_of(
            session,
            actor.tenant_id,
            employee,
            status=checkin_status,
            due_from=utc(due_from) if due_from else None,
            due_before=utc(due_before) if due_before else None,
            limit=limit,
        )
    return {"checkins": found}


@router.get(
    "/checkins/{checkin_id}",
    response_model=CheckInView,
    response_model_exclude_unset=True,  # notes are absent, not null, for anyone else
    summary="A check-in; notes for its participants, private notes for their author",
)
async def get_checkin(checkin_id: str, actor: CurrentActor, checkins: CheckIns) -> dict[str, Any]:
    return _checkin_view(await checkins.read_checkin(actor, checkin_id), actor)


@router.post("/checkins/{checkin_id}/complete", summary="Record that the check-in took place")
async def complete_checkin(
    checkin_id: str, body: CompleteCheckIn, actor: CurrentActor, cid: CorrelationId, checkins: CheckIns
) -> FeedbackAnswer:
    fields = body.model_dump()
    fields["key_result_updates"] = [KeyResultUpdate(**u) for u in fields["key_result_updates"]]
    return accepted(await checkins.complete(actor, cid, checkin_id, **fields))


@router.post("/checkins/{checkin_id}/private-notes", summary="Add a note only you will read")
async def add_private_note(
    checkin_id: str, body: PrivateNote, actor: CurrentActor, cid: CorrelationId, checkins: CheckIns
) -> FeedbackAnswer:
    return accepted(await checkins.add_private_note(actor, cid, checkin_id, body.note))


def _schedule_view(schedule: CheckInSchedule) -> dict[str, Any]:
    return {
        "id": schedule.id,
        "manager_id": schedule.manager_id,
        "report_id": schedule.report_id,
        "cadence": schedule.cadence,
        "weekday": schedule.weekday,
        "time_of_day": schedule.time_of_day,
        "timezone": schedule.timezone,
        "grace_hours": schedule.grace_hours,
        "starts_on": schedule.starts_on.isoformat(),
        "status": "ended" if schedule.ended else "active",
        "end_reason": schedule.end_reason,
        "version": schedule.version,
    }


def _checkin_view(checkin: CheckIn, viewer: Actor) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": checkin.id,
        "schedule_id": checkin.schedule_id,
        "manager_id": checkin.manager_id,
        "report_id": checkin.report_id,
        "due_at": checkin.due_at.isoformat(),
        "grace_until": checkin.grace_until.isoformat(),
        "status": checkin.status,
        "was_missed": checkin.was_missed,
        "consecutive_misses": checkin.consecutive_misses,
        "late": checkin.late,
        "completed_by": checkin.completed_by,
        "completed_at": checkin.completed_at.isoformat() if checkin.completed_at else None,
        "confidence": checkin.confidence,
        "key_result_updates": [u.model_dump() for u in checkin.key_result_updates],
        "version": checkin.version,
    }
    if viewer.employee_id in checkin.participants:  # what the pair wrote is theirs alone
        notes = checkin.notes
        view["notes"] = {
            "progress": notes.progress,
            "blockers": notes.blockers,
            "shared_notes": notes.shared_notes,
            "goal_progress": notes.goal_progress,
        }
        view["private_notes"] = checkin.private_notes_of(viewer.employee_id)
    return view
