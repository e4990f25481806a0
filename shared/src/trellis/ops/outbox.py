"""``trellis outbox relay | dead | retry | drop``: publish what the outboxes hold, by hand
(the rare repair), and deal with the rows NATS can never accept.

The service's own relay does this continuously; run it by hand when a service is down
but its outbox must reach the stream (the other services are waiting for its events).
It is the same ``OutboxRelay``: every publish is fenced with
``Nats-Expected-Last-Sequence`` and carries the event id as ``Nats-Msg-Id``, so running
it beside a live relay can neither reorder nor duplicate anything (the two take turns,
or one of them is refused by the fence and recognises the other's work on its next pass).

A *dead* row is one the relay parked because NATS will never accept it as it is (bigger
than max_payload, a subject the stream does not capture; ``trellis.core.messaging.outbox_parked``);
the later rows of its aggregate wait behind it. ``dead`` lists them with their reasons;
after a fix, ``retry`` puts a dead row back in line (with the rows behind it, in order, at
the end of the outbox), and ``drop`` gives it up (its event stays in the event store,
never published) and lets the rows behind it go. Both are audited.
"""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from trellis.contracts.envelope import utcnow
from trellis.core.messaging.jetstream import ensure_stream
from trellis.core.messaging.outbox import OutboxRelay
from trellis.core.messaging.outbox_parked import dead_rows, resolve
from trellis.core.messaging.outbox_parked import figures as outbox_figures
from trellis.core.runtime.service import Runtime
from trellis.ops import audit
from trellis.ops.target import OpsError, Target, nats_if_reachable, require_current_schema


async def unpublished(runtime: Runtime) -> tuple[int, float | None, int]:
    """Unpublished outbox rows, the oldest one's age in seconds, how many of them are dead
    or held behind a dead row (the relay does not publish those)."""
    async with runtime.sessions() as session:
        box = await outbox_figures(session)
    stuck = box.dead + box.held
    if box.oldest is None:
        return box.unpublished, None, stuck
    oldest = box.oldest if box.oldest.tzinfo else box.oldest.replace(tzinfo=UTC)
    return box.unpublished, (utcnow() - oldest).total_seconds(), stuck


async def relay(target: Target, *, operator: str, yes: bool, console: Console) -> dict[str, Any]:
    """Print the plan; with ``yes``, publish every unpublished row of the chosen services."""
    published: dict[str, int] = {}
    async with target.runtimes() as runtimes:
        plan = [(rt, *(await unpublished(rt))) for rt in runtimes]
        for rt, _count, _age, stuck in plan:
            if stuck:
                console.print(
                    f"[yellow]{rt.definition.name}: {stuck:,} rows are dead or wait behind a dead row; "
                    "they stay (see `trellis outbox dead`)[/]"
                )
        waiting = [(rt, count - stuck, age) for rt, count, age, stuck in plan if count > stuck]
        if not waiting:
            console.print("every outbox is empty: nothing to publish")
            return {"published": published}
        console.print("[bold]outbox relay[/] will publish, in commit order, fenced and de-duplicated:")
        for rt, count, age in waiting:
            console.print(
                f"  - {rt.definition.name}: {count:,} unpublished events (oldest {age or 0:,.0f} s) "
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
            return done - relay.parked  # parked rows moved, but not onto the stream


async def dead(target: Target) -> list[dict[str, Any]]:
    """Every dead outbox row of the chosen services, with its reason and what waits behind it."""
    found: list[dict[str, Any]] = []
    async with target.runtimes() as runtimes:
        for runtime in runtimes:
            async with runtime.sessions() as session:
                for row in await dead_rows(session):
                    found.append({"service": runtime.definition.name, **_jsonable(row)})
    return found


async def resolve_dead(
    target: Target, *, operator: str, event_ids: list[str], retry: bool, reason: str = ""
) -> dict[str, Any]:
    """Retry (after a fix) or drop the dead rows of ``event_ids``; the rows behind them follow."""
    if not event_ids:
        raise OpsError("name the dead rows by event id (see `trellis outbox dead`)")
    if not retry and not reason.strip():
        raise OpsError("say why: --reason is recorded with the dropped rows")
    report: dict[str, Any] = {"retried" if retry else "dropped": [], "not_found": []}
    done = report["retried" if retry else "dropped"]
    async with target.runtimes() as runtimes, nats_if_reachable(target) as nc:
        left = list(event_ids)
        for runtime in runtimes:
            await require_current_schema(runtime)
            for event_id in list(left):
                async with runtime.sessions() as session, session.begin():
                    outcome = await resolve(session, event_id, retry=retry)
                if outcome is not None:
                    done.append({"service": runtime.definition.name, **outcome})
                    left.remove(event_id)
        report["not_found"] = left
        subjects = runtimes[0].subjects if runtimes else target.subjects()
        await audit.record(
            nc,
            subjects,
            operator=operator,
            command="outbox-retry" if retry else "outbox-drop",
            arguments={"event_ids": event_ids, "reason": reason},
            outcome="done" if not left else "partly not found",
            details=report,
        )
    return report


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def render_dead(rows: list[dict[str, Any]], console: Console) -> None:
    if not rows:
        console.print("no dead outbox rows")
        return
    table = Table(title="Dead outbox rows (NATS will never accept them as they are)", title_justify="left")
    for column in ("service", "event id", "type", "tenant", "aggregate", "bytes", "reason", "held behind"):
        table.add_column(column, justify="right" if column in ("bytes", "held behind") else "left")
    for row in rows:
        table.add_row(
            row["service"],
            row["event_id"],
            row["event_type"],
            row["tenant_id"],
            row["aggregate_id"],
            f"{row['size']:,}",
            escape(row["last_error"] or ""),
            str(row["held_behind"]),
        )
    console.print(table)
    console.print(
        "after a fix: `trellis outbox retry EVENT_ID`; "
        "to give one up: `trellis outbox drop EVENT_ID --reason ...`"
    )


def render_resolved(report: dict[str, Any], console: Console) -> None:
    for outcome in ("retried", "dropped"):
        for row in report.get(outcome, []):
            console.print(
                f"{row['service']}: {row['event_id']} {outcome}; "
                f"{row['requeued']} rows back in line for the relay"
            )
    for event_id in report["not_found"]:
        console.print(f"[yellow]{event_id}: no dead outbox row with this event id[/]")
