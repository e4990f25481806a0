"""``trellis projections rebuild | reset``: rebuild a read view without downtime, or reset one.

``rebuild`` drives ``trellis.core.rebuild.rebuilder.Rebuild`` (see there for the shadow copy, the
swap and the watermark): the view of a service's own events is rebuilt from its event
store; a view of another service's events (the org chart replica, say) from that
service's stream, since a service never reads another's database. A reaction (it
appends events, sends notifications or webhooks) is refused: it is not rebuildable.

``reset`` is the repair with downtime: it empties the view, forgets what its consumer
processed, and deletes the durable consumer, so that the service, when its consumers
start again, re-reads the whole stream into the empty view. It refuses while the
consumer is being read (stop the service's consumers first) and without ``--yes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from nats.js.errors import NotFoundError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select

from trellis.core.consuming.consumer import ConsumerRunner
from trellis.core.consuming.ledger import ConsumerLedger
from trellis.core.consuming.projection import Projection
from trellis.core.messaging.jetstream import JetStreams
from trellis.core.rebuild.event_sources import EventSource, StoreSource, StreamSource
from trellis.core.rebuild.rebuilder import NotRebuildable, Rebuild, RebuildRefused
from trellis.core.rebuild.rebuilder import Progress as ProgressFn
from trellis.core.runtime.service import Runtime
from trellis.core.store.tables import consumer_failures, dead_letters, processed_events
from trellis.ops import audit
from trellis.ops.target import (
    FoundProjection,
    OpsError,
    Target,
    find_projection,
    nats_if_reachable,
    require_current_schema,
)


def _runner(runtime: Runtime, name: str) -> ConsumerRunner:
    return next(r for r in runtime.runners if r.name == name)


def _source(found: FoundProjection, streams: JetStreams | None) -> EventSource:
    runtime, projection = found.runtime, found.projection
    if projection.source == runtime.definition.name:
        return StoreSource(runtime.store, projection.event_types())
    if streams is None:
        raise OpsError(
            f"{projection.name} follows the {projection.source} stream: NATS is needed to rebuild it"
        )
    spec = _runner(runtime, projection.name).spec()
    return StreamSource(
        streams.of(projection.source),
        stream=spec.stream,
        filter_subjects=spec.filter_subjects,
        registry=runtime.registry_of(projection.source),
    )


async def rebuild(
    target: Target,
    name: str,
    *,
    operator: str,
    from_scratch: bool = False,
    dry_run: bool = False,
    discard: bool = False,
    batch_size: int = 50_000,
    commit_every: int = 1_000_000,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Rebuild ``name`` (or compare, or discard a rebuild in progress); the result as data."""
    arguments = {"projection": name, "from_scratch": from_scratch, "dry_run": dry_run, "discard": discard}
    async with target.runtimes() as runtimes, nats_if_reachable(target) as nc:
        found = find_projection(runtimes, name)
        runtime = found.runtime
        await require_current_schema(runtime)
        subjects = runtime.subjects
        if not isinstance(found.projection, Projection):
            await audit.record(
                nc,
                subjects,
                operator=operator,
                command="projections-rebuild",
                arguments=arguments,
                outcome="refused: not rebuildable",
            )
            raise OpsError(
                str(NotRebuildable(name)) + ". (Webhooks of a time range can be sent to a "
                "subscriber again with `trellis replay webhooks`.)"
            )
        source = _source(found, target.streams(nc) if nc else None)
        try:
            job = Rebuild(
                found.projection,
                engine=runtime.engine,
                source=source,
                subjects=subjects,
                operator=operator,
                batch_size=batch_size,
                commit_every=commit_every,
            )
            if discard:
                existed = await job.discard()
                await audit.record(
                    nc,
                    subjects,
                    operator=operator,
                    command="projections-rebuild",
                    arguments=arguments,
                    outcome="done",
                    details={"discarded": existed},
                )
                return {"projection": name, "discarded": existed}
            try:
                with _fewer_collections():
                    result = await job.run(from_scratch=from_scratch, dry_run=dry_run, progress=progress)
            except RebuildRefused as exc:
                raise OpsError(str(exc)) from exc
            except Exception as exc:
                await audit.record(
                    nc,
                    subjects,
                    operator=operator,
                    command="projections-rebuild",
                    arguments=arguments,
                    outcome=f"failed: {type(exc).__name__}: {exc}",
                )
                raise
        finally:
            await source.close()
        data = asdict(result)
        data["service"] = runtime.definition.name
        data["seconds"] = round(result.seconds, 3)
        await audit.record(
            nc,
            subjects,
            operator=operator,
            command="projections-rebuild",
            arguments=arguments,
            outcome="done",
            details={k: v for k, v in data.items() if k != "differences"},
        )
        return data


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """A rebuild allocates millions of short-lived objects; the collector's default thresholds
    spent a tenth of the time collecting (as ``service.tune_gc`` found for consumers)."""
    before = gc.get_threshold()
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*before)


class RebuildProgress:
    """A rich progress bar fed by the rebuild's ``progress(position, head, applied)``, with the
    rate of events applied since the command started."""

    def __init__(self, console: Console, name: str) -> None:
        self.bar = Progress(
            TextColumn(f"rebuilding [bold]{name}[/]"),
            BarColumn(),
            TextColumn("{task.completed:,}/{task.total:,}"),
            TextColumn("{task.fields[rate]}", style="progress.data.speed"),
            TimeElapsedColumn(),
            console=console,
        )
        self.task = self.bar.add_task("rebuild", total=1, rate="")
        self._started = time.monotonic()

    def __call__(self, position: int, head: int, applied: int) -> None:
        rate = applied / max(time.monotonic() - self._started, 1e-6)
        self.bar.update(
            self.task,
            completed=position,
            total=max(head, 1),
            rate=f"{applied:,} applied, {rate:,.0f} events/s",
        )

    def __enter__(self) -> RebuildProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()


def render_rebuild(result: dict[str, Any], console: Console) -> None:
    if "discarded" in result:
        console.print("shadow copy discarded" if result["discarded"] else "no rebuild in progress")
        return
    resumed = f", resumed from {result['resumed_from']:,}" if result["resumed_from"] is not None else ""
    if result["swapped"]:
        console.print(
            f"[green]{result['projection']}[/] rebuilt and swapped in: {result['applied']:,} events applied"
            f"{resumed}, watermark {result['kind'].replace('_', ' ')} {result['watermark']:,}, "
            f"{result['seconds']:.1f} s"
        )
    else:
        console.print(
            f"dry run of [bold]{result['projection']}[/]: rebuilt up to {result['kind'].replace('_', ' ')} "
            f"{result['watermark']:,} ({result['applied']:,} events{resumed}); the live view is unchanged"
        )
        table = Table(title="rebuilt vs live", title_justify="left")
        for column in (
            "table",
            "live rows",
            "rebuilt rows",
            "only live",
            "only rebuilt",
            "changed",
            "examples",
        ):
            table.add_column(column)
        for diff in result["differences"] or []:
            examples = "; ".join(f"{k}: {v}" for k, v in diff["samples"].items())
            table.add_row(
                diff["table"],
                f"{diff['live_rows']:,}",
                f"{diff['rebuilt_rows']:,}",
                str(diff["only_live"]),
                str(diff["only_rebuilt"]),
                str(diff["changed"]),
                examples,
            )
        console.print(table)
        console.print(
            "The shadow copy is kept: `trellis projections rebuild NAME` resumes from it and swaps it "
            "in; `--discard` drops it. (Rows the live consumer has not applied yet show as differences.)"
        )
    if result["dead_lettered"]:
        console.print(
            f"[yellow]{result['dead_lettered']} events failed in the rebuild[/]: they are dead letters "
            "(`trellis dlq list`), their aggregates parked behind them"
        )


# --- reset ----------------------------------------------------------------------------------


async def reset(target: Target, name: str, *, operator: str, yes: bool, console: Console) -> dict[str, Any]:
    arguments = {"projection": name}
    async with target.runtimes() as runtimes, target.nats() as nc:
        found = find_projection(runtimes, name)
        runtime, projection = found.runtime, found.projection
        await require_current_schema(runtime)
        subjects = runtime.subjects
        if not isinstance(projection, Projection):
            raise OpsError(str(NotRebuildable(name)) + ": resetting it would act on every event again")
        spec = _runner(runtime, name).spec()
        counts = await _reset_counts(runtime, name, projection.tables)
        console.print(f"[bold]projections reset {name}[/] ({runtime.definition.name}) will:")
        for table, rows in counts["tables"].items():
            console.print(f"  - empty {table} ({rows:,} rows)")
        console.print(
            f"  - forget {counts['processed']:,} processed-event records, the watermark of a past rebuild, "
            f"{counts['in_line']:,} events being retried, and any rebuild in progress"
        )
        console.print(
            f"  - resolve {counts['dead_letters']:,} dead letters (superseded: the events come again)"
        )
        console.print(
            f"  - delete the durable consumer {spec.durable} on {spec.stream}: when the service's "
            "consumers start, it is created again and the whole stream is re-read into the empty view"
        )
        console.print(
            "  (until then the view is empty or partial: this is the repair with downtime; "
            "`projections rebuild` needs none)"
        )
        js = target.streams(nc).of(projection.source)  # the consumer is on its source's stream
        busy = await _being_read(js, spec.stream, spec.durable)
        if busy:
            await audit.record(
                nc,
                subjects,
                operator=operator,
                command="projections-reset",
                arguments=arguments,
                outcome="refused: consumer in use",
            )
            raise OpsError(
                f"{spec.durable} is being read ({busy} pull requests waiting): stop the service's "
                f"consumers first (TRELLIS_{runtime.definition.name.upper()}_RUN_CONSUMERS=false, or "
                "stop the service)"
            )
        if not yes:
            raise OpsError("nothing done: pass --yes to reset")
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(spec.stream, spec.durable)
        await Rebuild(projection, engine=runtime.engine, source=_NoSource(), subjects=subjects).discard()
        async with runtime.sessions() as session, session.begin():
            await projection.clear(session)
            await ConsumerLedger(runtime.sessions, name).reset(session, operator=operator)
        await audit.record(
            nc,
            subjects,
            operator=operator,
            command="projections-reset",
            arguments=arguments,
            outcome="done",
            details=counts,
        )
        return {"projection": name, "service": runtime.definition.name, **counts}


async def _reset_counts(runtime: Runtime, name: str, tables: Any) -> dict[str, Any]:
    async with runtime.sessions() as session:
        rows = {
            t.name: int((await session.execute(select(func.count()).select_from(t))).scalar_one())
            for t in tables
        }

        async def count(query: Any) -> int:
            return int((await session.execute(query)).scalar_one())

        return {
            "tables": rows,
            "processed": await count(
                select(func.count()).select_from(processed_events).where(processed_events.c.consumer == name)
            ),
            "in_line": await count(
                select(func.count())
                .select_from(consumer_failures)
                .where(consumer_failures.c.consumer == name)
            ),
            "dead_letters": await count(
                select(func.count())
                .select_from(dead_letters)
                .where(dead_letters.c.consumer == name, dead_letters.c.resolved_at.is_(None))
            ),
        }


async def _being_read(js: Any, stream: str, durable: str, *, samples: int = 6, interval: float = 0.5) -> int:
    """Pull requests waiting on the consumer over a few seconds (a running runner always has one)."""
    most = 0
    for i in range(samples):
        try:
            info = await js.consumer_info(stream, durable)
        except NotFoundError:
            return 0
        most = max(most, int(info.num_waiting or 0))
        if most:
            return most
        if i < samples - 1:
            await asyncio.sleep(interval)
    return most


class _NoSource:
    """A source for discarding a rebuild (which reads nothing)."""

    kind = "none"
    reads_ahead = False

    async def head(self, session: Any = None) -> int:
        return 0

    async def fetch(self, after: int, limit: int, *, until: int, session: Any = None) -> Any:
        return [], after, True

    async def close(self) -> None:
        return None
