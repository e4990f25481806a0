"""``trellis events``: follow events live, an aggregate's history and state, and search.

- ``tail`` follows the services' streams with ordered consumers (ephemeral, no acks,
  nothing left behind on the server), filtered on the subject (service, aggregate type,
  event type, tenant); from now, from a time (``--since``), or from the start (``--all``).
- ``history`` reads an aggregate's events from its service's event store (private events
  included, their payload hidden unless ``--reveal-private``) and rebuilds its state at
  any version with the service's ``Aggregate`` class (its public attributes).
- ``find`` searches the event stores by tenant, event type, actor, aggregate type and
  time range.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic_core import to_jsonable_python
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from trellis.contracts.envelope import EventEnvelope, EventRegistry
from trellis.core.runtime.service import ServiceDefinition
from trellis.core.store.aggregate import Aggregate
from trellis.core.store.event_store import row_to_envelope
from trellis.core.store.tables import events
from trellis.ops.target import OpsError, Target

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(value: str | None, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """An ISO time or date (UTC if no zone), or a duration back from now: 90s, 10m, 2h, 3d, 1w."""
    if not value:
        return None
    now = now or dt.datetime.now(dt.UTC)
    match = _RELATIVE.match(value.strip())
    if match:
        return now - dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise OpsError(f"cannot read {value!r} as a time: give an ISO time or date, or 10m, 2h, 3d") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# --- tail -----------------------------------------------------------------------------------


async def tail(
    target: Target,
    emit: Callable[[str, EventEnvelope | None, Any], None],
    *,
    aggregate_type: str | None = None,
    event_type: str | None = None,
    tenant: str | None = None,
    since: dt.datetime | None = None,
    from_start: bool = False,
    limit: int | None = None,
    idle_timeout: float | None = None,
) -> int:
    """Call ``emit(service, envelope or None if undecodable, msg)`` for each event until ``limit``
    events were seen, ``idle_timeout`` seconds pass without one, or the task is cancelled."""
    subjects = target.subjects()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    seen = 0
    async with target.nats() as nc:
        streams = target.streams(nc)
        subscriptions = []
        for definition in target.chosen():
            service = definition.name
            stream = subjects.stream(service)
            js = streams.of(service)
            try:
                await js.stream_info(stream)
            except NotFoundError:
                continue
            config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
            if from_start:
                config.deliver_policy = DeliverPolicy.ALL
            elif since is not None:
                config.deliver_policy = DeliverPolicy.BY_START_TIME
                config.opt_start_time = since
            subject = subjects.matching(service, aggregate_type or "*", event_type or "*", tenant or "*")

            async def deliver(msg: Any, service: str = service) -> None:
                await queue.put((service, msg))

            subscriptions.append(
                await js.subscribe(subject, stream=stream, cb=deliver, ordered_consumer=True, config=config)
            )
        if not subscriptions:
            raise OpsError("no stream to follow yet (no service has published an event)")
        try:
            while limit is None or seen < limit:
                try:
                    service, msg = await asyncio.wait_for(queue.get(), idle_timeout)
                except TimeoutError:
                    break
                try:
                    envelope: EventEnvelope | None = EventEnvelope.model_validate_json(msg.data)
                except Exception:
                    envelope = None
                emit(service, envelope, msg)
                seen += 1
        finally:
            for sub in subscriptions:
                await sub.unsubscribe()
    return seen


def tail_line(service: str, envelope: EventEnvelope | None, msg: Any) -> str:
    """One event as a line of rich markup."""
    if envelope is None:
        return f"[red]undecodable message[/] on {escape(msg.subject)}: {escape(repr(bytes(msg.data)[:120]))}"
    when = envelope.occurred_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    payload = json.dumps(envelope.payload, default=str, separators=(",", ":"))
    if len(payload) > 160:
        payload = payload[:157] + "..."
    return (
        f"[dim]{when}[/] [cyan]{service}[/] [bold]{envelope.event_type}[/] {escape(envelope.tenant_id)} "
        f"{envelope.aggregate_type}/{escape(envelope.aggregate_id)} v{envelope.aggregate_version} "
        f"by {escape(envelope.actor_id)}  [dim]{escape(payload)}[/]"
    )


def tail_json(service: str, envelope: EventEnvelope | None, msg: Any) -> str:
    meta = msg.metadata
    body: dict[str, Any] = {
        "service": service,
        "subject": msg.subject,
        "stream_sequence": meta.sequence.stream,
    }
    if envelope is None:
        body["undecodable"] = bytes(msg.data).decode("utf-8", "replace")
    else:
        body["event"] = envelope.model_dump(mode="json")
    return json.dumps(body)


# --- history --------------------------------------------------------------------------------


async def history(
    target: Target, aggregate_id: str, *, at_version: int | None = None, reveal_private: bool = False
) -> dict[str, Any]:
    """An aggregate's events and its state at ``at_version`` (default: the last)."""
    async with target.runtimes() as runtimes:
        for runtime in runtimes:
            async with runtime.sessions() as session:
                rows = (
                    await session.execute(
                        select(events)
                        .where(events.c.aggregate_id == aggregate_id)
                        .order_by(events.c.aggregate_version)
                    )
                ).mappings()
                envelopes = [(row_to_envelope(row), row["recorded_at"]) for row in rows]
            if envelopes:
                return _history(runtime.definition, envelopes, at_version, reveal_private)
    raise OpsError(f"no events of aggregate {aggregate_id!r} in the services' event stores")


def _history(
    definition: ServiceDefinition,
    envelopes: list[tuple[EventEnvelope, Any]],
    at_version: int | None,
    reveal_private: bool,
) -> dict[str, Any]:
    registry = definition.registry
    first = envelopes[0][0]
    last_version = envelopes[-1][0].aggregate_version
    version = last_version if at_version is None else at_version
    if not 1 <= version <= last_version:
        raise OpsError(f"{first.aggregate_type} {first.aggregate_id} has versions 1 to {last_version}")
    listed = []
    for envelope, recorded_at in envelopes:
        private = not _published(registry, envelope.event_type)
        listed.append(
            {
                "version": envelope.aggregate_version,
                "event_type": envelope.event_type,
                "schema_version": envelope.schema_version,
                "event_id": str(envelope.event_id),
                "occurred_at": envelope.occurred_at.isoformat(),
                "recorded_at": recorded_at.isoformat() if recorded_at else None,
                "actor_id": envelope.actor_id,
                "correlation_id": envelope.correlation_id,
                "causation_id": envelope.causation_id,
                "global_position": envelope.global_position,
                "private": private,
                "payload": envelope.payload if reveal_private or not private else None,
            }
        )
    cls = aggregate_class(definition, first.aggregate_type)
    state = None
    if cls is not None:
        decoded = [registry.decode(e) for e, _ in envelopes if e.aggregate_version <= version]
        aggregate = cls.rehydrate(first.aggregate_id, first.tenant_id, decoded)
        state = to_jsonable_python(public_state(aggregate), fallback=str)
    return {
        "service": definition.name,
        "aggregate_type": first.aggregate_type,
        "aggregate_id": first.aggregate_id,
        "tenant_id": first.tenant_id,
        "version": last_version,
        "state_version": version,
        "state": state,
        "state_note": None if cls is not None else f"no Aggregate class known for {first.aggregate_type!r}",
        "events": listed,
    }


def aggregate_class(definition: ServiceDefinition, aggregate_type: str) -> type[Aggregate] | None:
    """The service's declared class for ``aggregate_type``, or an imported subclass of that type."""
    declared = definition.aggregates.get(aggregate_type)
    if declared is not None:
        return declared
    candidates: list[type[Aggregate]] = []
    pending: list[type[Aggregate]] = list(Aggregate.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if getattr(cls, "aggregate_type", None) == aggregate_type:
            candidates.append(cls)
    own = [c for c in candidates if c.__module__.startswith(f"trellis.{definition.name}.")]
    chosen = own or candidates
    return chosen[0] if len(chosen) == 1 else None


def public_state(aggregate: Aggregate) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if not k.startswith("_") and k != "pending"}


def _published(registry: EventRegistry, event_type: str) -> bool:
    cls = next((c for c in registry.types() if c.event_type == event_type), None)
    return cls is None or cls.published


def render_history(found: dict[str, Any], console: Console) -> None:
    table = Table(
        title=f"{found['service']}: {found['aggregate_type']} {found['aggregate_id']} "
        f"(tenant {found['tenant_id']}, version {found['version']})",
        title_justify="left",
    )
    for column in ("v", "when", "event", "actor", "correlation", "payload"):
        table.add_column(column, overflow="fold")
    for e in found["events"]:
        payload = "[private]" if e["payload"] is None else json.dumps(e["payload"], default=str)
        style = "bold" if e["version"] == found["state_version"] else None
        table.add_row(
            str(e["version"]),
            e["occurred_at"][:23],
            e["event_type"],
            e["actor_id"],
            e["correlation_id"][:13],
            escape(payload),
            style=style,
        )
    console.print(table)
    if found["state"] is not None:
        console.print(f"state at version {found['state_version']}:")
        console.print_json(json.dumps(found["state"]))
    elif found["state_note"]:
        console.print(f"[yellow]{found['state_note']}[/]")


# --- find -----------------------------------------------------------------------------------


async def find(
    target: Target,
    *,
    tenant: str | None = None,
    event_types: list[str] | None = None,
    actor: str | None = None,
    aggregate_type: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 100,
    newest_first: bool = False,
    reveal_private: bool = False,
) -> list[dict[str, Any]]:
    """Events matching every filter given, across the chosen services, by time."""
    c = events.c
    query = select(events)
    if tenant:
        query = query.where(c.tenant_id == tenant)
    if event_types:
        query = query.where(c.event_type.in_(event_types))
    if actor:
        query = query.where(c.actor_id == actor)
    if aggregate_type:
        query = query.where(c.aggregate_type == aggregate_type)
    if since:
        query = query.where(c.occurred_at >= since)
    if until:
        query = query.where(c.occurred_at < until)
    order = c.global_position.desc() if newest_first else c.global_position
    found: list[dict[str, Any]] = []
    async with target.runtimes() as runtimes:
        for runtime in runtimes:
            definition = runtime.definition
            async with runtime.sessions() as session:
                rows = (await session.execute(query.order_by(order).limit(limit))).mappings().all()
            for row in rows:
                envelope = row_to_envelope(row)
                private = not _published(definition.registry, envelope.event_type)
                found.append(
                    {
                        "service": definition.name,
                        **envelope.model_dump(mode="json"),
                        "payload": envelope.payload if reveal_private or not private else None,
                        "private": private,
                    }
                )
    found.sort(key=lambda e: (e["occurred_at"], e["global_position"]), reverse=newest_first)
    return found[:limit]


def render_found(found: list[dict[str, Any]], console: Console) -> None:
    table = Table(title=f"{len(found)} events", title_justify="left")
    for column in ("when", "service", "event", "tenant", "aggregate", "v", "actor", "payload"):
        table.add_column(column, overflow="fold")
    for e in found:
        payload = "[private]" if e["payload"] is None else json.dumps(e["payload"], default=str)
        table.add_row(
            e["occurred_at"][:23],
            e["service"],
            e["event_type"],
            e["tenant_id"],
            f"{e['aggregate_type']}/{e['aggregate_id']}",
            str(e["aggregate_version"]),
            e["actor_id"],
            escape(payload if len(payload) < 120 else payload[:117] + "..."),
        )
    console.print(table)
