"""Webhook administration over HTTP (``admin`` only): subscriptions, secrets, the delivery log,
redelivery and replay."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Response, status
from pydantic import BaseModel, Field

from trellis.contracts import SERVICES, registry_of
from trellis.contracts.notifications import WEBHOOK_AGGREGATES
from trellis.core.runtime import cursors
from trellis.core.runtime.api_kit import application_of
from trellis.core.runtime.cursors import Cursor
from trellis.core.runtime.http import CorrelationId, CurrentActor, DateTime, RequestBody, api_router
from trellis.notifications.application.webhooks import WebhookAdmin, ensure_admin
from trellis.notifications.application.wiring import NotificationsApplication

router = api_router(prefix="/v1/webhooks", tags=["webhooks"])

Patterns = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=200)]],
    Field(min_length=1, max_length=50, examples=[["goals.*", "feedback.CheckIn*"]]),
]


class CreateSubscription(RequestBody):
    url: str = Field(max_length=2000, examples=["https://hooks.example.com/trellis"])
    event_types: Patterns
    description: str = Field(default="", max_length=2000)


class ChangeSubscription(RequestBody):
    url: str | None = Field(default=None, max_length=2000)
    event_types: Patterns | None = None
    description: str | None = Field(default=None, max_length=2000)
    enabled: bool | None = Field(default=None, description="false disables, true re-enables")


class RotateSecret(RequestBody):
    overlap_hours: float | None = Field(
        default=None, ge=0, le=24 * 30, description="how long the old secret keeps signing (default: setting)"
    )


class Replay(RequestBody):
    since: DateTime
    until: DateTime | None = Field(default=None, description="default: now")
    event_types: Patterns | None = Field(default=None, description="narrower than the subscription's")


class SubscriptionOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    consecutive_failures: int
    created_at: dt.datetime
    updated_at: dt.datetime


class CreatedSubscription(SubscriptionOut):
    secret: str = Field(description="whsec_…: shown this once; sign-verify with it")


class SecretOut(BaseModel):
    secret: str = Field(description="the new whsec_ secret: shown this once")
    previous_valid_until: dt.datetime


class AttemptOut(BaseModel):
    attempt: int
    attempted_at: dt.datetime
    status_code: int | None
    latency_ms: float
    response_excerpt: str
    error: str | None
    outcome: Literal["delivered", "retrying", "failed"]


class DeliveryOut(BaseModel):
    id: str
    subscription_id: str
    webhook_id: str = Field(description="the webhook-id header: the same on every attempt")
    event_id: str
    event_type: str
    aggregate_id: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    replay_id: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None


class DeliveryDetail(DeliveryOut):
    body: str = Field(description="the exact body sent on every attempt")
    log: list[AttemptOut]


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = Field(description="pass as cursor for the next (older) page")


class ReplayOut(BaseModel):
    replay_id: str
    subscription_id: str
    since: dt.datetime
    until: dt.datetime
    scheduled: int = Field(description="deliveries created for the replay")


async def _admin(
    notifications: Annotated[NotificationsApplication, Depends(application_of(NotificationsApplication))],
) -> WebhookAdmin:
    return notifications.webhooks


Admin = Annotated[WebhookAdmin, Depends(_admin)]


@router.get("/event-types", summary="Every event type a subscription can match")
async def event_types(actor: CurrentActor) -> list[str]:
    ensure_admin(actor)
    names = []
    for service in SERVICES:
        for cls in registry_of(service).types():
            if cls.published and not (
                service == "notifications" and cls.aggregate_type in WEBHOOK_AGGREGATES
            ):
                names.append(f"{service}.{cls.event_type}")
    return sorted(names)


@router.post("/subscriptions", status_code=status.HTTP_201_CREATED, response_model=CreatedSubscription)
async def create_subscription(
    body: CreateSubscription, actor: CurrentActor, cid: CorrelationId, admin: Admin
) -> Any:
    view, secret = await admin.create(
        actor, cid, url=body.url, event_types=body.event_types, description=body.description
    )
    return {**view, "secret": secret}


@router.get("/subscriptions", response_model=list[SubscriptionOut])
async def list_subscriptions(actor: CurrentActor, admin: Admin) -> Any:
    return await admin.subscriptions_of(actor)


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
async def get_subscription(subscription_id: str, actor: CurrentActor, admin: Admin) -> Any:
    return await admin.get(actor, subscription_id)


@router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
async def change_subscription(
    subscription_id: str, body: ChangeSubscription, actor: CurrentActor, cid: CorrelationId, admin: Admin
) -> Any:
    return await admin.change(actor, cid, subscription_id, **body.model_dump(exclude_unset=True))


@router.delete("/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_subscription(
    subscription_id: str, actor: CurrentActor, cid: CorrelationId, admin: Admin
) -> Response:
    await admin.delete(actor, cid, subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/subscriptions/{subscription_id}/rotate-secret", response_model=SecretOut)
async def rotate_secret(
    subscription_id: str,
    actor: CurrentActor,
    cid: CorrelationId,
    admin: Admin,
    body: RotateSecret | None = None,
) -> Any:
    overlap = dt.timedelta(hours=body.overlap_hours) if body and body.overlap_hours is not None else None
    secret, until = await admin.rotate_secret(actor, cid, subscription_id, overlap)
    return {"secret": secret, "previous_valid_until": until}


@router.get(
    "/subscriptions/{subscription_id}/deliveries", response_model=DeliveryPage, summary="The delivery log"
)
async def list_deliveries(
    subscription_id: str,
    actor: CurrentActor,
    admin: Admin,
    status_: Annotated[Literal["pending", "delivered", "failed"] | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> Any:
    (before,) = cursors.decode(cursor, int) if cursor else (None,)
    items, last = await admin.deliveries(actor, subscription_id, status=status_, limit=limit, before=before)
    return {"items": items, "next_cursor": None if last is None else cursors.encode(last)}


@router.get("/subscriptions/{subscription_id}/deliveries/{delivery_id}", response_model=DeliveryDetail)
async def get_delivery(subscription_id: str, delivery_id: str, actor: CurrentActor, admin: Admin) -> Any:
    return await admin.delivery(actor, subscription_id, delivery_id)


@router.post(
    "/subscriptions/{subscription_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send one delivery again (same body, same webhook-id)",
)
async def redeliver(subscription_id: str, delivery_id: str, actor: CurrentActor, admin: Admin) -> Any:
    return await admin.redeliver(actor, subscription_id, delivery_id)


@router.post(
    "/subscriptions/{subscription_id}/replays",
    response_model=ReplayOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Re-deliver a time range of matching events to this subscription",
)
async def replay(subscription_id: str, body: Replay, actor: CurrentActor, admin: Admin) -> Any:
    ensure_admin(actor)
    result = await admin.replay(
        actor.tenant_id, subscription_id, since=body.since, until=body.until, event_types=body.event_types
    )
    return result.__dict__
