"""``/metrics`` (Prometheus text format) and the HTTP metrics of every request.

The counters and histograms of ``core/metrics.py`` are updated as work happens; what
lives in the database (outbox backlog and its oldest row, parked rows, dead letters per
consumer, due deadlines) and the partitions this instance holds are read at scrape time,
with a few indexed queries. Requests are counted by route *template*
(``/v1/goals/{goal_id}``), never by raw path, so ids do not explode the label space; a
request that matched no route counts as ``unmatched``.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import Protocol

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trellis.contracts.envelope import utcnow
from trellis.core import metrics
from trellis.core.consuming.clock import Clock
from trellis.core.store.tables import dead_letters, deadlines, outbox


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class _Holding(Protocol):
    @property
    def held(self) -> Collection[str]: ...


class Observed(Protocol):
    """What a scrape reads of a running service (the Runtime, seen from here)."""

    @property
    def definition(self) -> _Named: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...
    @property
    def runners(self) -> Sequence[_Named]: ...
    @property
    def coordinator(self) -> _Holding: ...


class RequestMetrics:
    """Counts every HTTP request by method, route template and status, and times it."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = str(scope.get("method", ""))
            metrics.REQUESTS.labels(self.service, method, route, str(status)).inc()
            metrics.REQUEST_SECONDS.labels(self.service, method, route).observe(time.perf_counter() - started)


async def collect(runtime: Observed) -> None:
    """Read the figures that live in the database into their gauges."""
    service = runtime.definition.name
    now = utcnow()
    unpublished = outbox.c.published_at.is_(None) & outbox.c.parked_at.is_(None)
    due_now = deadlines.c.fired_at.is_(None) & (deadlines.c.due_at <= runtime.clock.now())
    async with runtime.sessions() as session:
        waiting = (
            await session.execute(select(func.count(), func.min(outbox.c.created_at)).where(unpublished))
        ).one()
        parked = (
            await session.execute(
                select(func.count()).select_from(outbox).where(outbox.c.parked_at.is_not(None))
            )
        ).scalar_one()
        letters = (
            await session.execute(
                select(dead_letters.c.consumer, func.count()).group_by(dead_letters.c.consumer)
            )
        ).all()
        due = (await session.execute(select(func.count()).where(due_now))).scalar_one()
    metrics.OUTBOX_UNPUBLISHED.labels(service).set(waiting[0])
    oldest = waiting[1]
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    metrics.OUTBOX_OLDEST_SECONDS.labels(service).set((now - oldest).total_seconds() if oldest else 0.0)
    metrics.OUTBOX_PARKED.labels(service).set(parked)
    for runner in runtime.runners:  # a consumer whose dead letters were all handled reads 0
        metrics.DEAD_LETTERS.labels(service, runner.name).set(0)
    for consumer, count in letters:
        metrics.DEAD_LETTERS.labels(service, consumer).set(count)
    metrics.DEADLINES_DUE.labels(service).set(due)
    metrics.LEASES_HELD.labels(service).set(len(runtime.coordinator.held))


def install_metrics(app: FastAPI, runtime: Observed) -> None:
    """Count the app's requests, and serve ``/metrics``."""
    app.add_middleware(RequestMetrics, service=runtime.definition.name)

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics of this instance",
        include_in_schema=False,
    )
    async def serve_metrics(request: Request) -> Response:
        await collect(request.app.state.runtime)  # the one serving (tests swap it in)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
