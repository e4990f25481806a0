"""Trellis pipeline benchmark: every figure next to the raw limit measured in the same run.

    uv run python bench/pipeline.py            # SQLite, embedded nats-server
    uv run python bench/pipeline.py --database-url postgresql+asyncpg://postgres@127.0.0.1/postgres

Measures (a) raw nats-py JetStream publish (pipelined) and pull-consume, (b) raw batched
inserts on the same database, (c) the goals service's command throughput in process and
over HTTP, (d) outbox → stream and stream → read view throughput, (e) command → read
view latency at a steady rate. It starts its own packaged nats-server on a free port.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Text, func, select, text
from sqlalchemy import Table as SATable

from trellis.contracts.envelope import utcnow
from trellis.core.consuming.consumer import ConsumerRunner
from trellis.core.messaging.jetstream import StreamSpec, connect, ensure_stream
from trellis.core.messaging.outbox import OutboxRelay
from trellis.core.runtime.api_kit import application_in
from trellis.core.runtime.auth import Actor, mint_token
from trellis.core.runtime.embedded import EmbeddedNats, free_port
from trellis.core.runtime.logging import configure_logging
from trellis.core.runtime.service import create_app, tune_gc
from trellis.core.runtime.settings import DEV_JWT_SECRET
from trellis.core.store.database import create_engine, is_sqlite
from trellis.core.store.tables import outbox
from trellis.goals.application.wiring import GoalsApplication
from trellis.goals.bootstrap import SERVICE, GoalsSettings
from trellis.goals.views.alignment_tree import AlignmentTree

console = Console()
PAYLOAD = json.dumps({"event_id": str(uuid.uuid4()), "pad": "x" * 520}).encode()  # ~ an envelope
TENANT = "bench"


async def raw_jetstream(url: str, n: int) -> tuple[float, float]:
    nc = await connect(url, name="bench-raw")
    js = nc.jetstream(publish_async_max_pending=4000)
    publish_rate = await raw_publish(js, n, "r")
    consume_rate = await raw_consume(js, n, "raw")
    await js.delete_stream("BENCH_RAW")
    await nc.close()
    return publish_rate, consume_rate


async def raw_publish(js: Any, n: int, tag: str) -> float:
    """nats-py's pipelined publishing of ``n`` envelope-sized messages: the relay's limit."""
    await ensure_stream(js, StreamSpec(name="BENCH_RAW", subjects=["bench.raw.>"]))
    started = time.perf_counter()
    window: list[Any] = []
    for i in range(n):
        headers = {"Nats-Msg-Id": f"{tag}{i}"}
        window.append(await js.publish_async(f"bench.raw.{i % 16}", PAYLOAD, headers=headers))
        if len(window) >= 1000:
            await asyncio.gather(*window)
            window = []
    await asyncio.gather(*window)
    return n / (time.perf_counter() - started)


async def raw_consume(js: Any, n: int, durable: str) -> float:
    """nats-py's pull-consume and ack of ``n`` of them: the catch-up's limit."""
    sub = await js.pull_subscribe("bench.raw.>", durable=durable, stream="BENCH_RAW")
    got = 0
    started = time.perf_counter()
    while got < n:
        for msg in await sub.fetch(500, timeout=5):
            await msg.ack()
            got += 1
    return n / (time.perf_counter() - started)


async def raw_inserts(url: str, n: int) -> float:
    """Batched inserts of event-sized rows through SQLAlchemy core: the database's limit."""
    engine = create_engine(url)
    md = MetaData()
    table = SATable(
        f"bench_raw_{uuid.uuid4().hex[:8]}",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(36)),
        Column("aggregate_id", String(64)),
        Column("version", Integer),
        Column("at", DateTime(timezone=True)),
        Column("body", Text),
    )
    async with engine.begin() as conn:
        await conn.run_sync(md.create_all)
    body = PAYLOAD.decode()
    started = time.perf_counter()
    for start in range(0, n, 500):
        rows = [
            {"event_id": str(uuid.uuid4()), "aggregate_id": "a", "version": i, "at": utcnow(), "body": body}
            for i in range(start, min(n, start + 500))
        ]
        async with engine.begin() as conn:
            await conn.execute(table.insert(), rows)
    rate = n / (time.perf_counter() - started)
    async with engine.begin() as conn:
        await conn.run_sync(md.drop_all)
    await engine.dispose()
    return rate


class TimedTree(ConsumerRunner):
    """The alignment-tree runner, noting when each event's view update has committed."""

    committed: dict[tuple[str, int], float]
    timing = False  # only in the latency phase: parsing costs time the catch-up must not pay

    async def _answer(self, msgs: list[Any], outcomes: list[Any]) -> None:
        now = time.perf_counter()
        for msg in msgs if self.timing else ():
            envelope = json.loads(msg.data)
            self.committed[(envelope["aggregate_id"], envelope["aggregate_version"])] = now
        await super()._answer(msgs, outcomes)


async def relay_backlog(runtime: Any) -> tuple[OutboxRelay, float]:
    """A relay publishing every unpublished outbox row of ``runtime``, and the seconds it took."""
    relay = OutboxRelay(
        sessions=runtime.sessions,
        jetstream=runtime.jetstream,
        stream=runtime.stream.name,
        batch_size=1000,
    )
    started = time.perf_counter()
    while await relay.relay_once():
        pass
    return relay, time.perf_counter() - started


def tree_consumer(runtime: Any, projection: AlignmentTree) -> TimedTree:
    """``projection``'s consumer on ``runtime``'s stream, noting when events are applied."""
    tree = TimedTree(
        projection=projection,
        sessions=runtime.sessions,
        registry=runtime.definition.registry,
        jetstream=runtime.jetstream,
        subjects=runtime.subjects,
        batch_size=runtime.settings.consumer_batch_size,
    )
    tree.committed = {}
    return tree


def bench_settings(db_url: str, nats_url: str, data_dir: Path) -> GoalsSettings:
    """The goals service for a bench: no relay or consumers of its own (the bench runs
    them), and on PostgreSQL a schema of this run's own (a second run on the same database
    counted the first run's outbox rows as its backlog and waited for them forever), to be
    dropped afterwards."""
    return GoalsSettings(
        database_url=db_url,
        database_schema=None if is_sqlite(db_url) else f"bench_{uuid.uuid4().hex[:8]}",
        nats_url=nats_url,
        data_dir=data_dir,
        subject_root=f"bench{uuid.uuid4().hex[:6]}",
        run_relay=False,
        run_consumers=False,
        http_port=free_port(),
        log_level="WARNING",
        log_json=False,
    )


async def goals_pipeline(db_url: str, nats_url: str, data_dir: Path, events: int, rate: int, seconds: float):
    settings = bench_settings(db_url, nats_url, data_dir)
    app = create_app(SERVICE, settings)
    runtime = app.state.runtime
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=settings.http_port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    await runtime.wait_ready()
    commands = application_in(runtime, GoalsApplication).commands
    actor = Actor(employee_id="bencher", tenant_id=TENANT, roles=frozenset({"admin"}))
    results: dict[str, Any] = {}
    try:
        workers = 8
        targets = []
        for w in range(workers * 3):
            created = await commands.create_goal(
                actor, "bench", level="individual", title=f"g{w}", period="Q"
            )
            kr = await commands.add_key_result(
                actor, "bench", created.goal_id, None, name="k", start=0, target=1e9
            )
            targets.append((created.goal_id, kr.key_result_id))
        value = iter(range(1, 10**9))

        async def in_process(goal: tuple[str, str], count: int) -> None:
            for _ in range(count):
                await commands.record_progress(
                    actor, "bench", goal[0], goal[1], None, value=float(next(value))
                )

        per = events // workers
        started = time.perf_counter()
        await asyncio.gather(*(in_process(targets[w], per) for w in range(workers)))
        results["commands_in_process"] = per * workers / (time.perf_counter() - started)
        console.print(f"in process: {results['commands_in_process']:,.0f} commands/s")

        token = mint_token(secret=DEV_JWT_SECRET, tenant=TENANT, employee="bencher", roles=["admin"])
        base = f"http://127.0.0.1:{settings.http_port}"
        http_workers, http_per = 16, max(1, events // 2 // 16)
        limits = httpx.Limits(max_connections=http_workers)
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits
        ) as client:

            async def over_http(goal: tuple[str, str]) -> None:
                for _ in range(http_per):
                    resp = await client.post(
                        f"/v1/goals/{goal[0]}/key-results/{goal[1]}/progress",
                        json={"value": float(next(value))},
                    )
                    resp.raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(over_http(targets[w % len(targets)]) for w in range(http_workers)))
            results["commands_http"] = http_workers * http_per / (time.perf_counter() - started)

        async with runtime.sessions() as session:
            unpublished = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            backlog = (await session.execute(unpublished)).scalar_one()
        relay, seconds = await relay_backlog(runtime)
        results["outbox_to_stream"] = backlog / seconds
        results["outbox_events"] = backlog

        tree = tree_consumer(runtime, AlignmentTree())
        await tree.provision()  # creating the durable consumer is a one-time cost, not catch-up
        started = time.perf_counter()
        catching_up = asyncio.create_task(tree.run())
        while tree.applied < backlog:
            await asyncio.sleep(0.01)
        results["stream_to_view"] = backlog / (time.perf_counter() - started)

        # (e) steady rate with the relay and the tree consumer live
        tree.timing = True
        runtime.store.on_commit(relay.wake)
        relaying = asyncio.create_task(relay.run())
        issued: dict[tuple[str, int], float] = {}
        total = int(rate * seconds)
        interval = 1.0 / rate
        loop_start = time.perf_counter()

        async def one(i: int) -> None:
            goal = targets[i % len(targets)]
            t0 = time.perf_counter()
            done = await commands.record_progress(
                actor, "bench", goal[0], goal[1], None, value=float(next(value))
            )
            issued[(done.goal_id, done.version)] = t0

        pending = []
        for i in range(total):
            delay = loop_start + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(one(i)))
        await asyncio.gather(*pending, return_exceptions=True)
        achieved = total / (time.perf_counter() - loop_start)
        deadline = time.perf_counter() + 10
        while not all(k in tree.committed for k in issued) and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        latencies = sorted((tree.committed[k] - t0) * 1000 for k, t0 in issued.items() if k in tree.committed)
        results["latency"] = {
            "rate": achieved,
            "count": len(latencies),
            "missing": len(issued) - len(latencies),
            "p50": statistics.median(latencies),
            "p95": latencies[int(len(latencies) * 0.95) - 1],
            "p99": latencies[int(len(latencies) * 0.99) - 1],
            "max": latencies[-1],
        }
        for task in (relaying, catching_up):
            tree.stop()
            while not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=0.5)
    finally:
        server.should_exit = True
        await serving
        if settings.database_schema:
            await drop_schema(db_url, settings.database_schema)
    return results


async def drop_schema(db_url: str, schema: str) -> None:
    """A run's (or a round's) PostgreSQL schema gone: runs on one database leave none behind."""
    engine = create_engine(db_url)
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await engine.dispose()


def main(
    events: Annotated[int, typer.Option(help="events for the throughput phases")] = 4000,
    rate: Annotated[int, typer.Option(help="commands per second in the latency phase")] = 200,
    seconds: Annotated[float, typer.Option(help="length of the latency phase")] = 10.0,
    raw: Annotated[int, typer.Option(help="messages/rows for the raw limits")] = 20000,
    database_url: Annotated[str, typer.Option(help="default: a fresh SQLite file")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="also print the figures as JSON")] = False,
) -> None:
    configure_logging("bench", json=False, level="WARNING")
    tune_gc()  # as `trellis serve` does
    workdir = Path(tempfile.mkdtemp(prefix="trellis-bench-"))
    nats = EmbeddedNats(workdir / "nats")
    nats.start()
    try:
        db_url = database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        figures = asyncio.run(_run(nats.url, db_url, workdir, events, rate, seconds, raw))
    finally:
        nats.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    report(figures, db_url)
    if as_json:
        print(json.dumps(figures, indent=2))


async def _run(nats_url: str, db_url: str, workdir: Path, events: int, rate: int, seconds: float, raw: int):
    publish, consume = await raw_jetstream(nats_url, raw)
    inserts = await raw_inserts(db_url, raw)
    pipeline = await goals_pipeline(db_url, nats_url, workdir, events, rate, seconds)
    return {
        "raw_publish": publish,
        "raw_consume": consume,
        "raw_inserts": inserts,
        **pipeline,
        "cores": os.cpu_count(),
    }


def report(f: dict[str, Any], db_url: str) -> None:
    table = Table(title=f"Trellis pipeline ({db_url.split(':')[0]}, {f['cores']} cores)")
    table.add_column("measurement")
    table.add_column("figure", justify="right")
    table.add_column("raw limit (same run)", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("target")
    lat = f["latency"]

    def row(
        name: str, value: float, limit_name: str, limit: float, target: str = "", ok: bool | None = None
    ) -> None:
        verdict = "" if ok is None else ("[green]met[/]" if ok else "[red]missed[/]")
        table.add_row(
            name,
            f"{value:,.0f}/s",
            f"{limit_name} {limit:,.0f}/s",
            f"{value / limit:.1%}",
            f"{target} {verdict}",
        )

    table.add_row("raw JetStream publish (pipelined)", f"{f['raw_publish']:,.0f}/s", "", "", "")
    table.add_row("raw JetStream pull-consume + ack", f"{f['raw_consume']:,.0f}/s", "", "", "")
    table.add_row("raw batched inserts", f"{f['raw_inserts']:,.0f}/s", "", "", "")
    row("commands, in process", f["commands_in_process"], "inserts", f["raw_inserts"])
    row("commands, over HTTP", f["commands_http"], "inserts", f["raw_inserts"])
    row(
        "outbox → stream",
        f["outbox_to_stream"],
        "publish",
        f["raw_publish"],
        "≥ 70% (issue 14)",
        f["outbox_to_stream"] >= 0.7 * f["raw_publish"],
    )
    row(
        "stream → read view (catch-up)",
        f["stream_to_view"],
        "consume",
        f["raw_consume"],
        "≥ 70% (issue 14)",
        f["stream_to_view"] >= 0.7 * f["raw_consume"],
    )
    verdict = "[green]met[/]" if lat["p99"] < 100 and lat["rate"] >= 190 else "[red]missed[/]"
    table.add_row(
        f"command → read view at {lat['rate']:.0f}/s",
        f"p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f}, p99 {lat['p99']:.1f}, max {lat['max']:.1f}",
        "",
        "",
        f"p99 < 100 ms {verdict}",
    )
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
