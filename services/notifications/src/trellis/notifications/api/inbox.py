"""Inbox and preferences over HTTP: every employee reads their own inbox (and their roles')."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from trellis.contracts.notifications import DigestItem, Subject
from trellis.core.errors import NotFound
from trellis.core.runtime.api_kit import RuntimeDep, application_of
from trellis.core.runtime.cursors import Cursor
from trellis.core.runtime.http import CorrelationId, CurrentActor, DateTime, RequestBody, api_router
from trellis.core.store.tenancy import scoped
from trellis.notifications.application.inbox import InboxCommands
from trellis.notifications.application.wiring import NotificationsApplication
from trellis.notifications.domain.notification import NOTIFICATION_TYPES, inboxes_of
from trellis.notifications.tables import inbox_notifications
from trellis.notifications.views.inbox import list_inbox, notification_view, unread_count

router = api_router(prefix="/v1", tags=["inbox"])


class NotificationOut(BaseModel):
    id: str = Field(description="stable: the same notification always has this id")
    recipient_id: str = Field(description="the employee, or a role inbox such as role:hr")
    type: str
    text: str
    subject: Subject | None = Field(description="what it is about, for a link: service, type, id")
    cause_event_id: str
    cause_event_type: str
    cause_service: str
    items: list[DigestItem] = Field(description="for a daily digest: the notifications it groups")
    created_at: dt.datetime
    read: bool
    read_at: dt.datetime | None


class InboxOut(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = Field(description="pass as cursor for the next (older) page")
    unread_count: int


class UnreadOut(BaseModel):
    unread_count: int


class ReadOut(BaseModel):
    id: str
    read: bool
    changed: bool = Field(description="false when it was read already")


class ReadAll(RequestBody):
    up_to: DateTime | None = Field(default=None, description="only those created up to then")


class ReadAllOut(BaseModel):
    marked: int


class PreferencesIn(RequestBody):
    muted_types: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100
    )
    daily_digest: bool = False


class PreferencesOut(BaseModel):
    employee_id: str
    muted_types: list[str]
    daily_digest: bool


Notifications = Annotated[NotificationsApplication, Depends(application_of(NotificationsApplication))]


async def _commands(notifications: Notifications) -> InboxCommands:
    return notifications.inbox


Commands = Annotated[InboxCommands, Depends(_commands)]


@router.get("/inbox", response_model=InboxOut, summary="My notifications, newest first")
async def inbox(
    actor: CurrentActor,
    runtime: RuntimeDep,
    unread: Annotated[bool, Query(description="only unread ones")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> Any:
    recipients = inboxes_of(actor)
    async with runtime.sessions() as session:
        page = await list_inbox(
            session, actor.tenant_id, recipients, unread_only=unread, limit=limit, cursor=cursor
        )
        count = await unread_count(session, actor.tenant_id, recipients)
    return {"items": page.items, "next_cursor": page.next_cursor, "unread_count": count}


@router.get("/inbox/unread-count", response_model=UnreadOut, summary="How many of mine are unread")
async def unread(actor: CurrentActor, runtime: RuntimeDep) -> Any:
    async with runtime.sessions() as session:
        return {"unread_count": await unread_count(session, actor.tenant_id, inboxes_of(actor))}


@router.get("/inbox/{notification_id}", response_model=NotificationOut, summary="One of my notifications")
async def one(notification_id: str, actor: CurrentActor, runtime: RuntimeDep) -> Any:
    c = inbox_notifications.c
    async with runtime.sessions() as session:
        row = (
            (
                await session.execute(
                    scoped(
                        actor.tenant_id,
                        inbox_notifications.select().where(
                            c.notification_id == notification_id, c.recipient_id.in_(inboxes_of(actor))
                        ),
                    )
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"notification {notification_id} not found")
    return notification_view(row)


@router.post("/inbox/{notification_id}/read", response_model=ReadOut, summary="Mark one read")
async def mark_read(notification_id: str, actor: CurrentActor, cid: CorrelationId, commands: Commands) -> Any:
    changed = await commands.mark_read(actor, cid, notification_id)
    return {"id": notification_id, "read": True, "changed": changed}


@router.post("/inbox/read-all", response_model=ReadAllOut, summary="Mark all of mine read")
async def mark_all_read(
    actor: CurrentActor, cid: CorrelationId, commands: Commands, body: ReadAll | None = None
) -> Any:
    return {"marked": await commands.mark_all_read(actor, cid, body.up_to if body else None)}


@router.get("/preferences", response_model=PreferencesOut, tags=["preferences"], summary="My preferences")
async def preferences(actor: CurrentActor, commands: Commands) -> Any:
    return await commands.preferences_of(actor)


@router.put("/preferences", response_model=PreferencesOut, tags=["preferences"], summary="Set my preferences")
async def set_preferences(
    body: PreferencesIn, actor: CurrentActor, cid: CorrelationId, commands: Commands
) -> Any:
    return await commands.set_preferences(
        actor, cid, muted_types=body.muted_types, daily_digest=body.daily_digest
    )


@router.get("/notification-types", tags=["preferences"], summary="Every notification type (to mute)")
async def notification_types(actor: CurrentActor) -> dict[str, str]:
    return NOTIFICATION_TYPES
