"""``trellis dlq list | show | redrive | drop``: dead letters per consumer, and what to do with them.

A dead letter is an event a consumer gave up on (its handler kept failing, or the
message could not be decoded), with the reason and the raw message; later events of the
same aggregate are parked behind it, as dead letters of their own, so a view never
applies an aggregate's events out of order (``trellis.core.consuming.exactly_once``). An undecodable
event whose envelope names its aggregate heads its aggregate's chain like any other.

- ``redrive`` (after a fix is deployed: for an undecodable event, a contract that reads
  its stored form, i.e. a new schema version and an upcaster; see docs/operations.md,
  "Repairing a poisoned aggregate") applies dead letters through the projection, in
  order: redriving one dead letter of an aggregate redrives the whole chain of that
  aggregate's unresolved dead letters for that consumer, oldest first, each with its
  processed record, and marks them resolved; when the chain is through, the aggregate is
  no longer parked and the consumer applies its next events as they come. A dead letter
  that fails again stops its chain (the rest stays parked) and keeps its place.
- ``drop`` marks dead letters resolved without applying them, with the operator's reason.
  Dropping the head of a chain does not apply the events parked behind it: redrive or
  drop those too.

Both take the consumer's hand-over lock (``trellis.core.consuming.handover``), so a batch of the
live consumer never interleaves with them; both are audited.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from trellis.core.consuming.ledger import ConsumerLedger
from trellis.core.runtime.service import Runtime
from trellis.core.store.tables import dead_letters
from trellis.ops import audit
from trellis.ops.target import OpsError, Target, nats_if_reachable, require_current_schema

_SUMMARY = [
    "id",
    "consumer",
    "event_id",
    "event_type",
    "tenant_id",
    "aggregate_id",
    "stream_sequence",
    "deliveries",
    "reason",
    "failed_at",
    "resolved_at",
    "resolution",
    "resolution_reason",
    "resolved_by",
]


async def list_letters(
    target: Target, *, consumer: str | None = None, include_resolved: bool = False, limit: int = 500
) -> list[dict[str, Any]]:
    d = dead_letters.c
    query = select(*[d[c] for c in _SUMMARY]).order_by(d.id).limit(limit)
    if consumer:
        query = query.where(d.consumer == consumer)
    if not include_resolved:
        query = query.where(d.resolved_at.is_(None))
    found: list[dict[str, Any]] = []
    async with target.runtimes() as runtimes:
        for runtime in runtimes:
            async with runtime.sessions() as session:
                rows = (await session.execute(query)).mappings().all()
            found.extend({"service": runtime.definition.name, **_jsonable(r)} for r in rows)
    return found


async def show(target: Target, letter_id: int) -> dict[str, Any]:
    async with target.runtimes() as runtimes:
        found = []
        for runtime in runtimes:
            async with runtime.sessions() as session:
                row = (
                    (await session.execute(select(dead_letters).where(dead_letters.c.id == letter_id)))
                    .mappings()
                    .first()
                )
            if row is not None:
                found.append((runtime, row))
    if not found:
        raise OpsError(f"no dead letter {letter_id}")
    if len(found) > 1:
        services = ", ".join(rt.definition.name for rt, _ in found)
        raise OpsError(f"dead letter {letter_id} exists in several services ({services}): pass --service")
    runtime, row = found[0]
    data = {"service": runtime.definition.name, **_jsonable(row)}
    raw = bytes(row["raw"] or b"")
    data.pop("raw", None)
    try:
        data["message"] = json.loads(raw)
    except ValueError:
        data["message"] = None
        data["raw"] = raw.decode("utf-8", "backslashreplace")
    return data


async def redrive(
    target: Target,
    *,
    operator: str,
    ids: Sequence[int] = (),
    consumer: str | None = None,
    everything: bool = False,
) -> dict[str, Any]:
    """Apply the chosen dead letters (and the rest of their aggregates' chains) in order."""
    if not ids and not (consumer and everything):
        raise OpsError("name dead letters by id, or pass --consumer NAME --all")
    report: dict[str, Any] = {"redriven": [], "already_applied": [], "failed": [], "skipped": []}
    async with target.runtimes() as runtimes, nats_if_reachable(target) as nc:
        await _refuse_ambiguous(runtimes, ids)
        for runtime in runtimes:
            await require_current_schema(runtime)
            for chain in await _chains(runtime, ids, consumer, everything):
                await _redrive_chain(runtime, chain, operator, report)
        subjects = runtimes[0].subjects if runtimes else target.subjects()
        await audit.record(
            nc,
            subjects,
            operator=operator,
            command="dlq-redrive",
            arguments={"ids": list(ids), "consumer": consumer, "all": everything},
            outcome="done" if not report["failed"] else "partly failed",
            details=report,
        )
    return report


async def drop(
    target: Target,
    *,
    operator: str,
    reason: str,
    ids: Sequence[int] = (),
    consumer: str | None = None,
    everything: bool = False,
) -> dict[str, Any]:
    """Mark dead letters resolved without applying them, with ``reason``."""
    if not reason.strip():
        raise OpsError("say why: --reason is recorded with the dropped dead letters")
    if not ids and not (consumer and everything):
        raise OpsError("name dead letters by id, or pass --consumer NAME --all")
    d = dead_letters.c
    report: dict[str, Any] = {"dropped": [], "still_parked": {}}
    async with target.runtimes() as runtimes, nats_if_reachable(target) as nc:
        await _refuse_ambiguous(runtimes, ids)
        for runtime in runtimes:
            await require_current_schema(runtime)
            chosen = select(d.id, d.consumer, d.aggregate_id).where(d.resolved_at.is_(None))
            chosen = chosen.where(d.id.in_(list(ids))) if ids else chosen.where(d.consumer == consumer)
            async with runtime.sessions() as session, session.begin():
                rows = (await session.execute(chosen.order_by(d.id))).all()
                ledgers = {
                    name: ConsumerLedger(runtime.sessions, name) for name in {r.consumer for r in rows}
                }
                for ledger in ledgers.values():
                    await ledger.lock(session, exclusive=True)
                for name, ledger in ledgers.items():
                    await ledger.drop(
                        session, [r.id for r in rows if r.consumer == name], reason=reason, operator=operator
                    )
                for r in rows:
                    report["dropped"].append(
                        {"service": runtime.definition.name, "id": r.id, "consumer": r.consumer}
                    )
                for name, aggregate in {(r.consumer, r.aggregate_id) for r in rows if r.aggregate_id}:
                    left = (
                        await session.execute(
                            select(d.id).where(
                                d.consumer == name, d.aggregate_id == aggregate, d.resolved_at.is_(None)
                            )
                        )
                    ).all()
                    if left:
                        report["still_parked"][f"{name} {aggregate}"] = [i for (i,) in left]
        subjects = runtimes[0].subjects if runtimes else target.subjects()
        await audit.record(
            nc,
            subjects,
            operator=operator,
            command="dlq-drop",
            arguments={"ids": list(ids), "consumer": consumer, "all": everything, "reason": reason},
            outcome="done",
            details=report,
        )
    return report


async def _refuse_ambiguous(runtimes: list[Runtime], ids: Sequence[int]) -> None:
    """Ids are per service: one found in several services' dead letters needs --service."""
    if not ids or len(runtimes) < 2:
        return
    owners: dict[int, list[str]] = {}
    for runtime in runtimes:
        async with runtime.sessions() as session:
            found = await session.execute(select(dead_letters.c.id).where(dead_letters.c.id.in_(list(ids))))
            for (letter_id,) in found.all():
                owners.setdefault(letter_id, []).append(runtime.definition.name)
    shared = {i: names for i, names in owners.items() if len(names) > 1}
    if shared:
        listed = "; ".join(f"{i} in {', '.join(names)}" for i, names in sorted(shared.items()))
        raise OpsError(f"dead letter ids are per service ({listed}): pass --service")


async def _chains(
    runtime: Runtime, ids: Sequence[int], consumer: str | None, everything: bool
) -> list[list[Any]]:
    """The chosen dead letters, each expanded to its aggregate's whole chain, oldest first."""
    d = dead_letters.c
    chosen = select(d.consumer, d.aggregate_id, d.id).where(d.resolved_at.is_(None))
    chosen = chosen.where(d.id.in_(list(ids))) if ids else chosen.where(d.consumer == consumer)
    async with runtime.sessions() as session:
        heads = (await session.execute(chosen.order_by(d.id))).all()
        chains: list[list[Any]] = []
        seen: set[tuple[str, str]] = set()
        for name, aggregate, letter_id in heads:
            if aggregate is None:
                chains.append(
                    list(
                        (await session.execute(select(dead_letters).where(d.id == letter_id)))
                        .mappings()
                        .all()
                    )
                )
                continue
            if (name, aggregate) in seen:
                continue
            seen.add((name, aggregate))
            chain = await session.execute(
                select(dead_letters)
                .where(d.consumer == name, d.aggregate_id == aggregate, d.resolved_at.is_(None))
                .order_by(d.id)
            )
            chains.append(list(chain.mappings().all()))
    return chains


async def _redrive_chain(runtime: Runtime, chain: list[Any], operator: str, report: dict[str, Any]) -> None:
    service = runtime.definition.name
    name = chain[0]["consumer"]
    projection = next((p for p in runtime.consumers if p.name == name), None)
    if projection is None:
        for letter in chain:
            report["skipped"].append({"service": service, "id": letter["id"], "why": f"no projection {name}"})
        return
    ledger = ConsumerLedger(runtime.sessions, name)
    done = await ledger.redrive(projection, runtime.registry_of(projection.source), chain, operator=operator)
    for result in done:
        entry = {"service": service, "id": result.letter_id, "consumer": name, "event_id": result.event_id}
        if result.outcome in ("failed", "undecodable"):
            report["failed"].append({**entry, "error": result.error})
        else:
            report[result.outcome].append(entry)
    if done and done[-1].outcome == "failed":  # the rest stays parked behind it
        failed = done[-1].letter_id
        for rest in chain[len(done) :]:
            report["skipped"].append(
                {"service": service, "id": rest["id"], "why": f"parked behind {failed}, which failed"}
            )


def _jsonable(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dict(row).items():
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        out[key] = value
    return out


def render_list(letters: list[dict[str, Any]], console: Console) -> None:
    if not letters:
        console.print("no dead letters")
        return
    counts: dict[tuple[str, str], int] = {}
    for letter in letters:
        key = (letter["service"], letter["consumer"])
        counts[key] = counts.get(key, 0) + 1
    table = Table(title="dead letters", title_justify="left")
    for column in ("service", "id", "consumer", "event", "aggregate", "failed at", "tries", "reason"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        reason = letter["reason"] if len(letter["reason"]) < 100 else letter["reason"][:97] + "..."
        if letter.get("resolution"):
            reason = f"[{letter['resolution']}] {reason}"
        table.add_row(
            letter["service"],
            str(letter["id"]),
            letter["consumer"],
            letter["event_type"] or "?",
            letter["aggregate_id"] or "",
            (letter["failed_at"] or "")[:19],
            str(letter["deliveries"]),
            escape(reason),
        )
    console.print(table)
    for (service, consumer), count in sorted(counts.items()):
        console.print(f"{service} {consumer}: {count}")


def render_show(letter: dict[str, Any], console: Console) -> None:
    table = Table(
        show_header=False, title=f"dead letter {letter['id']} ({letter['service']})", title_justify="left"
    )
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for key in ("consumer", *_SUMMARY[2:], "subject", "headers"):
        value = letter.get(key)
        table.add_row(key, escape(json.dumps(value) if isinstance(value, dict) else str(value)))
    console.print(table)
    if letter.get("message") is not None:
        console.print("message:")
        console.print_json(json.dumps(letter["message"]))
    else:
        console.print(f"raw message: {escape(letter.get('raw', ''))}")


def render_report(report: dict[str, Any], console: Console) -> None:
    for key, label in (
        ("redriven", "redriven"),
        ("already_applied", "already applied (marked resolved)"),
        ("dropped", "dropped"),
    ):
        if report.get(key):
            console.print(f"{label}: {', '.join(str(e['id']) for e in report[key])}")
    for failure in report.get("failed", []):
        console.print(f"[red]failed[/] {failure['id']}: {escape(failure['error'])}")
    for skipped in report.get("skipped", []):
        console.print(f"[yellow]not redriven[/] {skipped['id']}: {skipped['why']}")
    for chain, left in (report.get("still_parked") or {}).items():
        console.print(
            f"[yellow]{chain} is still parked behind dead letters {left}[/]: redrive or drop them too"
        )
    if not any(report.get(k) for k in ("redriven", "already_applied", "dropped", "failed", "skipped")):
        console.print("nothing to do: no such unresolved dead letters")
