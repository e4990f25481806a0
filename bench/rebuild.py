"""Rebuild benchmark: the goals alignment tree rebuilt without downtime from a million events.

    uv run python bench/rebuild.py                      # SQLite, a temporary file
    uv run python bench/rebuild.py --database-url postgresql+asyncpg://postgres@127.0.0.1/postgres

Generates the events quickly (bulk inserts straight into the ``events`` table: a goal
tree of company objectives, team and individual goals with key results, then progress
recorded on them), measures the raw limit (reading the same rows, in the same batches,
through the same driver, without decoding or applying them), then times
``trellis projections rebuild goals-alignment-tree``'s machinery end to end: shadow
tables, catch-up, hand-over and swap. Prints events/s and the ratio to the raw reads.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import pstats
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, insert, select, text

from trellis.contracts.envelope import utcnow
from trellis.contracts.ids import uuid7
from trellis.contracts.subjects import Subjects
from trellis.core.rebuild.event_sources import _ENVELOPE_COLUMNS, StoreSource
from trellis.core.rebuild.rebuilder import Rebuild
from trellis.core.runtime.service import tune_gc
from trellis.core.store.database import create_engine
from trellis.core.store.event_store import EventStore
from trellis.core.store.migrate import migrate
from trellis.core.store.sessions import session_factory
from trellis.core.store.tables import events
from trellis.goals.bootstrap import SERVICE
from trellis.goals.views.alignment_tree import AlignmentTree
from trellis.goals.views.tables import goal_key_results, goal_nodes

console = Console()
TENANT = "bench"


def generate(total: int, seed: int = 7, chunk: int = 50_000) -> Iterator[list[dict[str, Any]]]:
    """A goal tree (a company objective per 20,000 events, 10 teams each, 20 individual goals
    per team), two key results per goal, then progress recorded on random key results, up to
    ``total`` events; in chunks, so a million events never sit in memory at once."""
    rng = random.Random(seed)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    versions: dict[str, int] = {}
    made = 0

    def add(goal: str, event_type: str, payload: dict[str, Any]) -> None:
        versions[goal] = versions.get(goal, 0) + 1
        rows.append(
            {
                "event_id": str(uuid7()),
                "event_type": event_type,
                "schema_version": 1,
                "tenant_id": TENANT,
                "aggregate_type": "goal",
                "aggregate_id": goal,
                "aggregate_version": versions[goal],
                "occurred_at": now,
                "recorded_at": now,
                "actor_id": "bench",
                "correlation_id": str(uuid.uuid4()),
                "causation_id": None,
                "payload": payload,
            }
        )

    def full() -> bool:
        return len(rows) >= chunk

    goals: list[str] = []
    companies = max(1, total // 20_000)
    for c in range(companies):
        company = f"c{c}"
        goals.append(company)
        add(company, "GoalCreated", _created(company, "company", None))
        for t in range(10):
            team = f"{company}-t{t}"
            goals.append(team)
            add(team, "GoalCreated", _created(team, "team", company))
            for i in range(20):
                person = f"{team}-i{i}"
                goals.append(person)
                add(person, "GoalCreated", _created(person, "individual", team))
    for goal in goals:
        for k in range(2):
            add(goal, "KeyResultAdded", _key_result(goal, k))
    made = len(rows)
    values: dict[str, float] = {}
    while made < total:
        if full():
            yield rows
            rows = []
        goal = goals[rng.randrange(len(goals))]
        kr = f"{goal}-kr{rng.randrange(2)}"
        previous = values.get(kr, 0.0)
        values[kr] = round(rng.uniform(0, 100), 2)
        add(
            goal,
            "KeyResultProgressRecorded",
            {
                "goal_id": goal,
                "key_result_id": kr,
                "value": values[kr],
                "previous_value": previous,
                "comment": "",
                "confidence": rng.randint(1, 5),
            },
        )
        made += 1
    yield rows


def _created(goal: str, level: str, parent: str | None) -> dict[str, Any]:
    return {
        "goal_id": goal,
        "level": level,
        "title": f"Goal {goal}",
        "description": "",
        "owner_id": f"owner-{goal}",
        "team_id": None,
        "period": "2026-Q4",
        "due_date": None,
        "parent_id": parent,
        "progress_rollup": "both",
        "weight": 1.0,
    }


def _key_result(goal: str, k: int) -> dict[str, Any]:
    return {
        "goal_id": goal,
        "key_result_id": f"{goal}-kr{k}",
        "name": f"KR {k}",
        "start": 0.0,
        "target": 100.0,
        "current": 0.0,
        "unit": "%",
        "weight": 1.0,
    }


async def load(engine: Any, rows: list[dict[str, Any]], schema: str | None) -> None:
    if engine.dialect.name == "postgresql":
        columns = list(rows[0])
        async with engine.begin() as conn:
            raw = await conn.get_raw_connection()
            records = [tuple(json.dumps(r[c]) if c == "payload" else r[c] for c in columns) for r in rows]
            await raw.driver_connection.copy_records_to_table(
                "events", records=records, columns=columns, schema_name=schema
            )
        return
    for start in range(0, len(rows), 50_000):
        async with engine.begin() as conn:
            await conn.execute(insert(events), rows[start : start + 50_000])


async def raw_reads(sessions: Any, types: list[str], batch_size: int) -> tuple[int, float]:
    """Every row the rebuild reads, in the same keyset batches, not decoded."""
    c = events.c
    position, count = 0, 0
    started = time.perf_counter()
    while True:
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(*_ENVELOPE_COLUMNS)
                    .where(c.global_position > position, c.event_type.in_(types))
                    .order_by(c.global_position)
                    .limit(batch_size)
                )
            ).all()
        if not rows:
            break
        count += len(rows)
        position = rows[-1].global_position
    return count, time.perf_counter() - started


class TimedRebuild(Rebuild):
    """Notes how long the hand-over (final catch-up, swap, watermark) holds the lock."""

    hand_over_seconds = 0.0

    async def _hand_over(self, sessions: Any, position: int, applied: int) -> tuple[int, int, int]:
        started = time.perf_counter()
        try:
            return await super()._hand_over(sessions, position, applied)
        finally:
            self.hand_over_seconds = time.perf_counter() - started


def main(
    events_count: Annotated[
        int, typer.Option("--events", help="how many events to rebuild from")
    ] = 1_000_000,
    database_url: Annotated[str, typer.Option(help="default: a temporary SQLite file")] = "",
    batch_size: Annotated[int, typer.Option(help="events read and applied at once")] = 50_000,
    commit_every: Annotated[int, typer.Option(help="events per rebuild transaction")] = 1_000_000,
    profile: Annotated[bool, typer.Option(help="print where the rebuild's time goes")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
) -> None:
    """Time a rebuild of the alignment tree from ``--events`` stored events."""
    tune_gc()
    with tempfile.TemporaryDirectory(prefix="trellis-bench-rebuild-") as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'goals.db'}"
        figures = asyncio.run(_run(url, events_count, batch_size, commit_every, profile))
    if as_json:
        print(json.dumps(figures))
    else:
        report(figures)


async def _run(url: str, total: int, batch_size: int, commit_every: int, profile: bool) -> dict[str, Any]:
    schema = f"bench_{uuid.uuid4().hex[:8]}" if url.startswith("postgresql") else None
    engine = create_engine(url, schema=schema)
    try:
        await migrate(engine, *SERVICE.migrations, schema=schema)
        started = time.perf_counter()
        for rows in generate(total):
            await load(engine, rows, schema)
        generated = time.perf_counter() - started
        sessions = session_factory(engine)
        store = EventStore(service="goals", registry=SERVICE.registry, sessions=sessions, subjects=Subjects())
        projection = AlignmentTree()
        source = StoreSource(store, projection.event_types())
        count, raw_seconds = await raw_reads(sessions, source.types, batch_size)
        rebuild = TimedRebuild(
            projection,
            engine=engine,
            source=source,
            subjects=Subjects(),
            batch_size=batch_size,
            commit_every=commit_every,
        )
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        started = time.perf_counter()
        result = await rebuild.run()
        seconds = time.perf_counter() - started
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
        async with sessions() as session:
            nodes = (await session.execute(select(func.count()).select_from(goal_nodes))).scalar_one()
            krs = (await session.execute(select(func.count()).select_from(goal_key_results))).scalar_one()
        assert result.applied == count == total, (result.applied, count, total)
        return {
            "database": engine.dialect.name,
            "events": total,
            "goals": nodes,
            "key_results": krs,
            "batch_size": batch_size,
            "commit_every": commit_every,
            "generate_and_load_seconds": round(generated, 1),
            "raw_read_seconds": round(raw_seconds, 2),
            "raw_read_per_second": round(count / raw_seconds),
            "rebuild_seconds": round(seconds, 2),
            "rebuild_per_second": round(total / seconds),
            "ratio_to_raw_reads": round(raw_seconds / seconds, 3),
            "hand_over_seconds": round(rebuild.hand_over_seconds, 3),
        }
    finally:
        if schema:
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()


def report(f: dict[str, Any]) -> None:
    table = Table(title=f"Rebuild of goals-alignment-tree from {f['events']:,} events ({f['database']})")
    table.add_column("measurement")
    table.add_column("figure", justify="right")
    table.add_row("view built", f"{f['goals']:,} goals, {f['key_results']:,} key results")
    table.add_row("events generated and bulk-loaded", f"{f['generate_and_load_seconds']} s")
    table.add_row(
        "raw reads of the same rows (no decoding)",
        f"{f['raw_read_per_second']:,}/s ({f['raw_read_seconds']} s)",
    )
    table.add_row(
        "rebuild, end to end (shadow, catch-up, swap)",
        f"{f['rebuild_per_second']:,}/s ({f['rebuild_seconds']} s)",
    )
    table.add_row("ratio to raw reads", f"{f['ratio_to_raw_reads']:.0%}")
    table.add_row("hand-over (lock held: final catch-up, swap, watermark)", f"{f['hand_over_seconds']} s")
    met = f["rebuild_seconds"] < 30 and f["ratio_to_raw_reads"] >= 0.35
    table.add_row("target (issue 14)", "< 30 s and ≥ 35% of raw reads: " + ("met" if met else "NOT met"))
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
