"""``trellis status``: streams, consumers' lag, outboxes, projections and dead letters at a glance."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from nats.js.errors import NotFoundError
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from trellis.contracts.envelope import utcnow
from trellis.core.messaging.jetstream import JetStreams, stream_partitions
from trellis.core.messaging.outbox_parked import figures as outbox_figures
from trellis.core.runtime.service import Runtime
from trellis.core.store.tables import (
    consumer_failures,
    dead_letters,
    events,
    projection_rebuilds,
    projection_watermarks,
)
from trellis.ops.target import OpsError, Target, database_label


async def collect(target: Target) -> dict[str, Any]:
    """Everything ``status`` shows, as JSON-able data."""
    chosen = target.chosen()
    result: dict[str, Any] = {"nats": {}, "services": []}
    async with contextlib.AsyncExitStack() as stack:
        streams = None
        try:
            nc = await stack.enter_async_context(target.nats())
            streams = target.streams(nc)
            result["nats"] = {"url": nc.connected_url.geturl() if nc.connected_url else None, "error": None}
        except OpsError as exc:
            result["nats"] = {"url": target.nats_url, "error": str(exc)}
        for definition in chosen:
            entry: dict[str, Any] = {"name": definition.name}
            result["services"].append(entry)
            try:
                runtime = await stack.enter_async_context(target.runtime(definition))
            except OpsError as exc:
                entry["error"] = str(exc)
                continue
            entry["database"] = database_label(runtime)
            try:
                entry.update(await _database_figures(runtime))
            except Exception as exc:
                entry["error"] = f"database: {type(exc).__name__}: {exc}"
                continue
            if streams is not None:
                entry.update(await _nats_figures(streams, runtime))
            entry["projections"] = _projections(runtime, entry)
    return result


async def _database_figures(runtime: Runtime) -> dict[str, Any]:
    now = utcnow()
    async with runtime.sessions() as session:
        head = (await session.execute(select(func.max(events.c.global_position)))).scalar() or 0
        box = await outbox_figures(session)
        letters = await session.execute(
            select(dead_letters.c.consumer, func.count())
            .where(dead_letters.c.resolved_at.is_(None))
            .group_by(dead_letters.c.consumer)
        )
        retrying = await session.execute(
            select(consumer_failures.c.consumer, func.count()).group_by(consumer_failures.c.consumer)
        )
        marks = (await session.execute(select(projection_watermarks))).mappings().all()
        rebuilds = (await session.execute(select(projection_rebuilds))).mappings().all()
    return {
        "events": {"head": int(head)},
        "outbox": {
            "unpublished": box.unpublished,
            "oldest_age_seconds": _age(now, box.oldest),
            "dead": box.dead,  # parked: NATS will never accept them as they are
            "held": box.held,  # waiting behind a dead row of their aggregate
        },
        "dead_letters": {consumer: int(n) for consumer, n in letters.all()},
        "in_line": {consumer: int(n) for consumer, n in retrying.all()},
        "watermarks": {m["consumer"]: _jsonable(m) for m in marks},
        "rebuilds": {r["consumer"]: _jsonable(r) for r in rebuilds},
    }


async def _nats_figures(streams: JetStreams, runtime: Runtime) -> dict[str, Any]:
    stream = runtime.stream.name
    js = streams.of(runtime.definition.name)
    figures: dict[str, Any] = {"stream": None, "consumers": [], "sources": {}}
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return figures
    state = info.state
    figures["stream"] = {
        "name": stream,
        "messages": state.messages,
        "bytes": state.bytes,
        "first_seq": state.first_seq,
        "last_seq": state.last_seq,
        "consumer_count": state.consumer_count,
    }
    for consumer in await js.consumers_info(stream):
        figures["consumers"].append(_consumer(stream, consumer))
    for runner in runtime.runners:  # the projections' own consumers, on whichever stream
        spec = runner.spec()
        on = streams.of(runner.projection.source)
        try:
            source = await on.stream_info(spec.stream)
            count = await stream_partitions(on, spec.stream)
            parts = [runner] if count == 1 else [runner.for_partition(p, count, None) for p in range(count)]
            consumers = [await on.consumer_info(spec.stream, part.spec().durable) for part in parts]
        except NotFoundError:
            continue
        figures["sources"][runner.name] = {
            **_partitioned([_consumer(spec.stream, c) for c in consumers]),
            "head": source.state.last_seq,
        }
    return figures


def _partitioned(consumers: list[dict[str, Any]]) -> dict[str, Any]:
    """One projection's figures over the consumers of its partitions (just one, mostly)."""
    if len(consumers) == 1:
        return consumers[0]
    total = dict(consumers[0], name=consumers[0]["name"].rsplit("-p", 1)[0], partitions=len(consumers))
    for key in ("num_pending", "num_ack_pending", "num_redelivered", "num_waiting"):
        total[key] = sum(c[key] or 0 for c in consumers)
    for key in ("delivered_seq", "ack_floor_seq"):  # the partition furthest behind
        total[key] = min((c[key] or 0) for c in consumers)
    return total


def _consumer(stream: str, info: Any) -> dict[str, Any]:
    return {
        "stream": stream,
        "name": info.name,
        "num_pending": info.num_pending,
        "num_ack_pending": info.num_ack_pending,
        "num_redelivered": info.num_redelivered,
        "num_waiting": info.num_waiting,
        "delivered_seq": info.delivered.stream_seq if info.delivered else None,
        "ack_floor_seq": info.ack_floor.stream_seq if info.ack_floor else None,
    }


def _projections(runtime: Runtime, entry: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    sources = entry.get("sources", {})
    for projection in runtime.consumers:
        consumer = sources.get(projection.name)
        out.append(
            {
                "name": projection.name,
                "source": projection.source,
                "rebuildable": projection.rebuildable,
                "partitions": consumer.get("partitions", 1) if consumer else None,
                "lag": (consumer["num_pending"] + consumer["num_ack_pending"]) if consumer else None,
                "position": consumer["ack_floor_seq"] if consumer else None,
                "head": consumer["head"] if consumer else None,
                "watermark": entry["watermarks"].get(projection.name),
                "rebuild": entry["rebuilds"].get(projection.name),
                "dead_letters": entry["dead_letters"].get(projection.name, 0),
                "in_line": entry["in_line"].get(projection.name, 0),
            }
        )
    entry.pop("sources", None)
    return out


def _age(now: dt.datetime, then: dt.datetime | None) -> float | None:
    if then is None:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=dt.UTC)
    return round((now - then).total_seconds(), 1)


def _jsonable(row: Any) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in dict(row).items()}


def render(status: dict[str, Any], console: Console) -> None:
    nats = status["nats"]
    if nats.get("error"):
        console.print(f"[red]NATS[/]: {nats['error']}")
    streams = Table(title="Streams", title_justify="left")
    for column in ("service", "stream", "messages", "bytes", "first seq", "last seq", "store head"):
        streams.add_column(column, justify="left" if column in ("service", "stream") else "right")
    consumers = Table(title="Durable consumers", title_justify="left")
    for column in ("stream", "consumer", "lag (pending)", "pending acks", "redelivered", "waiting pulls"):
        consumers.add_column(column, justify="left" if column in ("stream", "consumer") else "right")
    outboxes = Table(title="Outboxes", title_justify="left")
    for column in ("service", "unpublished", "oldest", "dead", "held behind dead"):
        outboxes.add_column(column, justify="left" if column == "service" else "right")
    projections = Table(title="Projections", title_justify="left")
    for column in (
        "service",
        "projection",
        "source",
        "lag",
        "position / head",
        "watermark",
        "rebuild",
        "dead letters",
        "retrying",
    ):
        projections.add_column(
            column, justify="right" if column in ("lag", "dead letters", "retrying") else "left"
        )
    problems: list[str] = []
    for service in status["services"]:
        name = service["name"]
        if service.get("error"):
            problems.append(f"{name}: {service['error']}")
            continue
        stream = service.get("stream")
        head = str(service["events"]["head"])
        if stream:
            streams.add_row(
                name,
                stream["name"],
                f"{stream['messages']:,}",
                _bytes(stream["bytes"]),
                str(stream["first_seq"]),
                str(stream["last_seq"]),
                head,
            )
        else:
            streams.add_row(name, "(none yet)", "", "", "", "", head)
        for c in service.get("consumers", []):
            consumers.add_row(
                c["stream"],
                c["name"],
                f"{c['num_pending']:,}",
                f"{c['num_ack_pending']:,}",
                str(c["num_redelivered"]),
                str(c["num_waiting"]),
            )
        box = service["outbox"]
        outboxes.add_row(
            name,
            f"{box['unpublished']:,}",
            _seconds(box["oldest_age_seconds"]),
            f"[red]{box['dead']:,}[/]" if box["dead"] else "",
            f"{box['held']:,}" if box["held"] else "",
        )
        if box["dead"]:
            problems.append(
                f"{name}: {box['dead']} dead outbox rows NATS will never accept "
                f"({box['held']} more wait behind them): see `trellis outbox dead`"
            )
        for p in service["projections"]:
            mark = p["watermark"]
            rebuild = p["rebuild"]
            projections.add_row(
                name,
                p["name"] + ("" if p["rebuildable"] else " (reaction)"),
                p["source"],
                "?" if p["lag"] is None else f"{p['lag']:,}",
                "?" if p["position"] is None else f"{p['position']} / {p['head']}",
                f"{mark['kind'].replace('_', ' ')} {mark['position']}" if mark else "",
                f"{rebuild['applied']:,} applied, at {rebuild['position']}" if rebuild else "",
                str(p["dead_letters"]) if p["dead_letters"] else "",
                str(p["in_line"]) if p["in_line"] else "",
            )
        others = {
            k: v
            for k, v in service["dead_letters"].items()
            if k not in {p["name"] for p in service["projections"]}
        }
        for consumer, count in others.items():
            problems.append(f"{name}: {count} dead letters of {consumer}")
    for table in (streams, consumers, outboxes, projections):
        console.print(table)
    for problem in problems:
        console.print(f"[yellow]{problem}[/]")


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return str(n)


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"
