"""``trellis outbox relay``: publish what the outboxes hold, by hand (the rare repair).

The service's own relay does this continuously; run it by hand when a service is down
but its outbox must reach the stream (the other services are waiting for its events).
It is the same ``OutboxRelay``: every publish is fenced with
``Nats-Expected-Last-Sequence`` and carries the event id as ``Nats-Msg-Id``, so running
it beside a live relay can neither reorder nor duplicate anything (the two take turns,
or one of them is refused by the fence and recognises the other's work on its next pass).
"""

from __future__ import annotations

import asyncio
from typing import Any

from rich.console import Console
from sqlalchemy import func, select

from trellis.core.events import utcnow
from trellis.core.messaging import ensure_stream
from trellis.core.outbox import OutboxRelay
from trellis.core.service import Runtime
from trellis.core.tables import outbox
from trellis.ops import audit
from trellis.ops.target import OpsError, Target


async def unpublished(runtime: Runtime) -> tuple[int, float | None]:
    """How many outbox rows are unpublished, and the oldest one's age in seconds."""
    async with runtime.sessions() as session:
        count, oldest = (
            await session.execute(
                select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None))
            )
        ).one()
    if oldest is None:
        return int(count), None
    if oldest.tzinfo is None:
        from datetime import UTC

        oldest = oldest.replace(tzinfo=UTC)
    return int(count), (utcnow() - oldest).total_seconds()


async def relay(target: Target, *, operator: str, yes: bool, console: Console) -> dict[str, Any]:
    """Print the plan; with ``yes``, publish every unpublished row of the chosen services."""
    published: dict[str, int] = {}
    async with target.runtimes() as runtimes:
        plan = [(rt, *(await unpublished(rt))) for rt in runtimes]
        waiting = [(rt, count, age) for rt, count, age in plan if count]
        if not waiting:
            console.print("every outbox is empty: nothing to publish")
            return {"published": published}
        console.print("[bold]outbox relay[/] will publish, in commit order, fenced and de-duplicated:")
        for rt, count, age in waiting:
            console.print(
                f"  - {rt.definition.name}: {count:,} unpublished events (oldest {age:,.0f} s) "
                f"to {rt.stream.name}"
            )
        if not yes:
            raise OpsError("nothing done: pass --yes to publish")
        async with target.nats() as nc:
            streams = target.streams(nc, publish_async_max_pending=4000)
            for rt, _count, _age in waiting:
                published[rt.definition.name] = await _drain(rt, streams.of(rt.definition.name))
            await audit.record(
                nc,
                runtimes[0].subjects,
                operator=operator,
                command="outbox-relay",
                arguments={"services": [rt.definition.name for rt, _c, _a in waiting]},
                outcome="done",
                details={"published": published},
            )
    for service, count in published.items():
        console.print(f"{service}: {count:,} published")
    return {"published": published}


async def _drain(runtime: Runtime, js: Any, attempts: int = 5) -> int:
    await ensure_stream(js, runtime.stream)
    relay = OutboxRelay(
        sessions=runtime.sessions,
        jetstream=lambda: js,
        stream=runtime.stream.name,
        batch_size=runtime.settings.relay_batch_size,
    )
    done, failures = 0, 0
    while True:
        try:
            moved = await relay.relay_once()
        except Exception as exc:
            failures += 1
            if failures >= attempts:
                raise OpsError(f"{runtime.definition.name}: the relay keeps failing: {exc}") from exc
            await asyncio.sleep(0.2 * failures)
            continue
        done += moved
        if moved == 0 and not await relay.pending():
            return done
