"""Outbox → stream and catch-up beside their raw limits, in alternating rounds.

    uv run python bench/pipeline_rounds.py [--commands 8000] [--rounds 3] [--database-url …]

``bench/pipeline.py`` measures each raw limit once, before ~30 s of commands, and the
relay and catch-up after them on a backlog of ~6,000 events; on a machine whose speed
drifts within a minute, its ratios move by ±15 points from run to run. Here one backlog
of goal progress events is made once, then each round measures, one right after the other:
raw pipelined publishing of as many messages, the relay publishing the whole backlog
(outbox reset, stream recreated), raw pull-consume + ack of them, and the alignment tree
catching up on the backlog (a fresh consumer and empty view tables). Each ratio is to the
raw figure of its own round.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from pipeline import bench_settings, drop_schema, raw_consume, raw_publish, relay_backlog, tree_consumer
from rich.console import Console
from rich.table import Table
from sqlalchemy import delete, func, select, update

from trellis.core.messaging.jetstream import connect, ensure_stream
from trellis.core.runtime.api_kit import application_in
from trellis.core.runtime.auth import Actor
from trellis.core.runtime.embedded import EmbeddedNats
from trellis.core.runtime.logging import configure_logging
from trellis.core.runtime.service import create_app, tune_gc
from trellis.core.store.tables import outbox
from trellis.goals.application.wiring import GoalsApplication
from trellis.goals.bootstrap import SERVICE
from trellis.goals.views.alignment_tree import AlignmentTree

console = Console()


async def measure(
    db_url: str, nats_url: str, data_dir: Path, commands: int, rounds: int
) -> list[dict[str, float]]:
    settings = bench_settings(db_url, nats_url, data_dir)
    schema = settings.database_schema
    runtime = create_app(SERVICE, settings).state.runtime
    await runtime.start()
    figures = []
    try:
        await runtime.wait_ready()
        app = application_in(runtime, GoalsApplication).commands
        actor = Actor(employee_id="bencher", tenant_id="bench", roles=frozenset({"admin"}))
        targets = []
        for w in range(8):
            goal = await app.create_goal(actor, "bench", level="individual", title=f"g{w}", period="Q")
            kr = await app.add_key_result(actor, "bench", goal.goal_id, None, name="k", start=0, target=1e9)
            targets.append((goal.goal_id, kr.key_result_id))
        value = iter(range(1, 10**9))

        async def writer(target: tuple[str, str]) -> None:
            for _ in range(commands // len(targets)):
                await app.record_progress(actor, "bench", *target, None, value=float(next(value)))

        await asyncio.gather(*(writer(t) for t in targets))
        async with runtime.sessions() as session:
            backlog = int((await session.execute(select(func.count()).select_from(outbox))).scalar_one())
        js = runtime.jetstream()
        nc = await connect(nats_url, name="bench-raw")
        raw = nc.jetstream(publish_async_max_pending=4000)
        for r in range(rounds):
            figure: dict[str, float] = {"raw_publish": await raw_publish(raw, backlog, f"r{r}-")}
            await js.delete_stream(runtime.stream.name)
            await ensure_stream(js, runtime.stream)
            async with runtime.sessions() as session, session.begin():
                await session.execute(update(outbox).values(published_at=None))
            figure["relay"] = backlog / (await relay_backlog(runtime))[1]
            figure["raw_consume"] = await raw_consume(raw, backlog, f"raw{r}")
            await raw.delete_stream("BENCH_RAW")
            async with runtime.sessions() as session, session.begin():
                for table in reversed(AlignmentTree.tables):
                    await session.execute(delete(table))

            class Tree(AlignmentTree):
                name = f"bench-tree-{r}"  # a consumer and ledger of its own each round

            tree = tree_consumer(runtime, Tree())
            await tree.provision()
            started = time.perf_counter()
            task = asyncio.create_task(tree.run())
            while tree.applied < backlog:
                await asyncio.sleep(0.005)
            figure["catch_up"] = backlog / (time.perf_counter() - started)
            tree.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            figure["events"] = backlog
            figures.append(figure)
        await nc.close()
    finally:
        await runtime.stop()
        if schema:
            await drop_schema(db_url, schema)
    return figures


def main(
    commands: Annotated[int, typer.Option(help="progress commands making the backlog")] = 8000,
    rounds: Annotated[int, typer.Option(help="alternating rounds")] = 3,
    database_url: Annotated[str, typer.Option(help="default: a fresh SQLite file")] = "",
) -> None:
    configure_logging("bench", json=False, level="WARNING")
    tune_gc()
    workdir = Path(tempfile.mkdtemp(prefix="trellis-bench-"))
    nats = EmbeddedNats(workdir / "nats")
    nats.start()
    try:
        db_url = database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        figures = asyncio.run(measure(db_url, nats.url, workdir, commands, rounds))
    finally:
        nats.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    table = Table(title=f"Relay and catch-up beside raw, alternating rounds ({db_url.split(':')[0]})")
    for column in ("round", "raw publish", "outbox → stream", "ratio", "raw consume", "catch-up", "ratio"):
        table.add_column(column, justify="right")
    for i, f in enumerate(figures, start=1):
        table.add_row(
            str(i),
            f"{f['raw_publish']:,.0f}/s",
            f"{f['relay']:,.0f}/s",
            f"{f['relay'] / f['raw_publish']:.0%}",
            f"{f['raw_consume']:,.0f}/s",
            f"{f['catch_up']:,.0f}/s",
            f"{f['catch_up'] / f['raw_consume']:.0%}",
        )
    console.print(table)
    console.print(f"{figures[0]['events']:,.0f} events a round; target (issue 14): both ≥ 70 % of raw")


if __name__ == "__main__":
    typer.run(main)
