"""1:1 agendas over HTTP: talking points and action items on a check-in schedule.

Who reaches what is the application's (``application/agendas.py``): the pair, admins to
audit (private text withheld), an action item's owner; anyone else gets 404.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, status
from pydantic import Field

from trellis.core.runtime.http import CorrelationId, CurrentActor, Date, Id, RequestBody, api_router
from trellis.feedback.api.answers import ActionItems, AgendaView, CheckInAgendaView
from trellis.feedback.api.dependencies import Agendas, FeedbackAnswer, accepted
from trellis.feedback.application.agendas import AgendaReading
from trellis.feedback.domain.agenda_entries import MAX_OPEN_POINTS, MAX_TEXT, ActionItem, TalkingPoint

router = api_router(prefix="/v1", tags=["1:1 agendas"])

AgendaText = Annotated[str, Field(max_length=MAX_TEXT, description="not blank")]


class AddTalkingPoint(RequestBody):
    text: AgendaText
    private: bool = Field(
        default=False, strict=True, description="only you will read it; the other one never sees it"
    )
    goal_id: Id | None = None
    key_result_id: Id | None = Field(default=None, description="with its goal_id")


class EditTalkingPoint(RequestBody):
    text: AgendaText | None = None
    private: Literal[False] | None = Field(
        default=None, description="`false` shares a private point; a shared point stays shared"
    )
    goal_id: Id | None = Field(default=None, description="null unlinks it")
    key_result_id: Id | None = Field(default=None, description="null unlinks it")


class Reorder(RequestBody):
    point_ids: list[Id] = Field(
        max_length=MAX_OPEN_POINTS, description="every open talking point you see, once, in the new order"
    )


class AddActionItem(RequestBody):
    owner_id: Id = Field(description="the manager or the report")
    text: AgendaText
    due_on: Date | None = None
    checkin_id: Id | None = Field(default=None, description="the check-in it comes from")


class EditActionItem(RequestBody):
    text: AgendaText | None = None
    due_on: Date | None = Field(default=None, description="null: no due date")


SCHEDULE = "/checkin-schedules/{schedule_id}/agenda"


@router.get(SCHEDULE, response_model=AgendaView, summary="The agenda of the pair's next 1:1")
async def get_agenda(schedule_id: str, actor: CurrentActor, agendas: Agendas) -> dict[str, Any]:
    reading = await agendas.read(actor, schedule_id)
    agenda = reading.agenda
    return {
        "schedule_id": reading.schedule.id,
        "manager_id": reading.schedule.manager_id,
        "report_id": reading.schedule.report_id,
        "audit": reading.viewer is None,
        "version": agenda.version,
        "points": [_point(p, reading) for p in agenda.open_points_for(reading.viewer)],
        "action_items": [_item(reading.schedule.id, i) for i in agenda.open_action_items()],
    }


@router.post(
    f"{SCHEDULE}/points", status_code=status.HTTP_201_CREATED, summary="Add a talking point for the next 1:1"
)
async def add_point(
    schedule_id: str, body: AddTalkingPoint, actor: CurrentActor, cid: CorrelationId, agendas: Agendas
) -> FeedbackAnswer:
    return accepted(await agendas.add_point(actor, cid, schedule_id, **body.model_dump()))


@router.patch(f"{SCHEDULE}/points/{{point_id}}", summary="Edit or share your talking point")
async def edit_point(
    schedule_id: str,
    point_id: str,
    body: EditTalkingPoint,
    actor: CurrentActor,
    cid: CorrelationId,
    agendas: Agendas,
) -> FeedbackAnswer:
    changes = body.model_dump(exclude_unset=True)
    return accepted(await agendas.edit_point(actor, cid, schedule_id, point_id, changes))


@router.delete(f"{SCHEDULE}/points/{{point_id}}", summary="Remove your talking point")
async def remove_point(
    schedule_id: str, point_id: str, actor: CurrentActor, cid: CorrelationId, agendas: Agendas
) -> FeedbackAnswer:
    return accepted(await agendas.remove_point(actor, cid, schedule_id, point_id))


@router.put(f"{SCHEDULE}/order", summary="Reorder the talking points")
async def reorder(
    schedule_id: str, body: Reorder, actor: CurrentActor, cid: CorrelationId, agendas: Agendas
) -> FeedbackAnswer:
    return accepted(await agendas.reorder(actor, cid, schedule_id, body.point_ids))


@router.post(
    f"{SCHEDULE}/action-items", status_code=status.HTTP_201_CREATED, summary="Agree on an action item"
)
async def add_action_item(
    schedule_id: str, body: AddActionItem, actor: CurrentActor, cid: CorrelationId, agendas: Agendas
) -> FeedbackAnswer:
    return accepted(await agendas.add_action_item(actor, cid, schedule_id, **body.model_dump()))


@router.patch(f"{SCHEDULE}/action-items/{{item_id}}", summary="Edit an open action item's text or due date")
async def edit_action_item(
    schedule_id: str,
    item_id: str,
    body: EditActionItem,
    actor: CurrentActor,
    cid: CorrelationId,
    agendas: Agendas,
) -> FeedbackAnswer:
    changes = body.model_dump(exclude_unset=True)
    return accepted(await agendas.edit_action_item(actor, cid, schedule_id, item_id, changes))


@router.post(f"{SCHEDULE}/action-items/{{item_id}}/done", summary="Mark an action item done")
async def complete_action_item(
    schedule_id: str, item_id: str, actor: CurrentActor, cid: CorrelationId, agendas: Agendas
) -> FeedbackAnswer:
    return accepted(await agendas.complete_action_item(actor, cid, schedule_id, item_id))


@router.post(f"{SCHEDULE}/action-items/{{item_id}}/reopen", summary="Open a done action item again")
async def reopen_action_item(
    schedule_id: str, item_id: str, actor: CurrentActor, cid: CorrelationId, agendas: Agendas
) -> FeedbackAnswer:
    return accepted(await agendas.reopen_action_item(actor, cid, schedule_id, item_id))


@router.delete(f"{SCHEDULE}/action-items/{{item_id}}", summary="Remove an action item")
async def remove_action_item(
    schedule_id: str, item_id: str, actor: CurrentActor, cid: CorrelationId, agendas: Agendas
) -> FeedbackAnswer:
    return accepted(await agendas.remove_action_item(actor, cid, schedule_id, item_id))


@router.get(
    "/checkins/{checkin_id}/agenda",
    response_model=CheckInAgendaView,
    summary="What the check-in discussed, carried over and agreed",
)
async def get_checkin_agenda(checkin_id: str, actor: CurrentActor, agendas: Agendas) -> dict[str, Any]:
    checkin, reading = await agendas.read_for_checkin(actor, checkin_id)
    agenda = reading.agenda
    settled = agenda.settlements.get(checkin.id)
    points = agenda.points

    def shown(point_ids: list[str]) -> list[dict[str, Any]]:
        return [
            _point(points[p], reading)
            for p in point_ids
            if reading.viewer is None or points[p].visible_to(reading.viewer)
        ]

    return {
        "checkin_id": checkin.id,
        "schedule_id": checkin.schedule_id,
        "outcome": settled.outcome if settled else None,
        "discussed": shown(settled.discussed if settled else []),
        "carried_over": shown(settled.carried_over if settled else []),
        "action_items": [
            _item(checkin.schedule_id, i)
            for i in agenda.action_items.values()
            if i.checkin_id == checkin.id and i.status != "removed"
        ],
    }


@router.get("/action-items", response_model=ActionItems, summary="Your action items from your 1:1s")
async def list_action_items(
    actor: CurrentActor,
    agendas: Agendas,
    item_status: Annotated[Literal["open", "done"], Query(alias="status")] = "open",
    owner_id: Annotated[str | None, Query(max_length=64, description="only those this person owns")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    listed = await agendas.action_items_of(actor, status=item_status, owner_id=owner_id, limit=limit)
    return {"action_items": [_item(x.schedule_id, x.item) for x in listed]}


def _point(point: TalkingPoint, reading: AgendaReading) -> dict[str, Any]:
    withheld = point.private and reading.viewer is None  # an admin's audit
    return {
        "id": point.point_id,
        "author_id": point.author_id,
        "private": point.private,
        "text": None if withheld else point.text,
        "goal_id": None if withheld else point.goal_id,
        "key_result_id": None if withheld else point.key_result_id,
        "status": point.status,
        "carried_over": point.carried_over,
        "discussed_in": point.discussed_in,
    }


def _item(schedule_id: str, item: ActionItem) -> dict[str, Any]:
    return {
        "id": item.action_item_id,
        "schedule_id": schedule_id,
        "owner_id": item.owner_id,
        "assigned_by": item.assigned_by,
        "text": item.text,
        "due_on": item.due_on.isoformat() if item.due_on else None,
        "checkin_id": item.checkin_id,
        "status": item.status,
        "overdue": item.overdue,
        "completed_by": item.completed_by,
    }
