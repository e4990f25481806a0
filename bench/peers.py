"""Trellis beside the event store a user would pick instead, in one run on one database.

    uv run python bench/peers.py                      # SQLite files (WAL, synchronous=NORMAL)
    uv run python bench/peers.py --database-url postgresql+asyncpg://postgres@127.0.0.1/postgres

Commands in process, with 1 and with 8 concurrent writers: goal creates, and updates
(key-result progress on existing goals, each writer cycling over its own ten goals),
done by the goals service's command path (``GoalCommands``: permission check, domain
decision, contract check, append with the outbox row, commit) and by pyeventsourcing 9
(``eventsourcing``: an ``Application`` and an ``Aggregate`` of the same shape, its SQLite or
PostgreSQL persistence, used as its documentation shows, its blocking calls on threads).
Trellis's commands run on uvloop, the loop ``trellis serve`` runs them on (uvicorn picks
it; ``--loop asyncio`` for the standard one); the peer's run on threads. Both on the same
database with the same durability: SQLite in WAL mode with
``synchronous=NORMAL`` for both (the peer's connections are given the pragma Trellis
uses), PostgreSQL with its defaults. Each figure is the min-max of ``--rounds``
alternating rounds (Trellis, peer, Trellis, peer, ...), next to the raw batched-insert
limit of the same database measured in the same run. Nothing here is tuned for the peer
or for Trellis beyond what a production deployment of each would set.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from pipeline import drop_schema, raw_inserts
from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.engine import make_url

from trellis.core.runtime.api_kit import application_in
from trellis.core.runtime.auth import Actor
from trellis.core.runtime.logging import configure_logging
from trellis.core.runtime.service import Runtime, tune_gc
from trellis.core.store.database import create_engine, is_sqlite
from trellis.core.store.migrate import migrate
from trellis.goals.application.commands import GoalCommands
from trellis.goals.application.wiring import GoalsApplication
from trellis.goals.bootstrap import SERVICE, GoalsSettings

console = Console()
WRITERS = (1, 8)
GOALS_PER_WRITER = 10
ACTOR = Actor(employee_id="bencher", tenant_id="bench", roles=frozenset({"admin"}))


# --- the peer: pyeventsourcing, the same aggregate shape ----------------------------------


class PeerGoal(Aggregate):
    @event("Created")
    def __init__(self, tenant_id: str, owner_id: str, level: str, title: str, period: str) -> None:
        self.tenant_id = tenant_id
        self.owner_id = owner_id
        self.level = level
        self.title = title
        self.period = period
        self.key_results: dict[str, dict[str, Any]] = {}

    @event("KeyResultAdded")
    def add_key_result(self, key_result_id: str, name: str, start: float, target: float) -> None:
        self.key_results[key_result_id] = {"name": name, "start": start, "target": target, "value": start}

    @event("ProgressRecorded")
    def record_progress(self, key_result_id: str, value: float) -> None:
        self.key_results[key_result_id]["value"] = value


class PeerGoals(Application):
    def create_goal(self, title: str) -> UUID:
        goal = PeerGoal(tenant_id="bench", owner_id="bencher", level="individual", title=title, period="Q")
        self.save(goal)
        return goal.id

    def add_key_result(self, goal_id: UUID) -> str:
        goal = self.repository.get(goal_id)
        kr = str(uuid.uuid4())
        goal.add_key_result(kr, "k", 0.0, 1e9)
        self.save(goal)
        return kr

    def record_progress(self, goal_id: UUID, kr: str, value: float) -> None:
        goal = self.repository.get(goal_id)
        goal.record_progress(kr, value)
        self.save(goal)


def _sqlite_like_trellis() -> None:
    """The peer's SQLite connections with ``synchronous=NORMAL``, as Trellis's (WAL both)."""
    from eventsourcing.sqlite import SQLiteConnectionPool

    create = SQLiteConnectionPool._create_connection
    if getattr(create, "trellis_bench", False):
        return

    def create_normal(self: Any) -> Any:
        connection = create(self)
        raw: sqlite3.Connection = connection._sqlite_conn
        raw.execute("PRAGMA synchronous=NORMAL;")
        return connection

    create_normal.trellis_bench = True  # type: ignore[attr-defined]
    SQLiteConnectionPool._create_connection = create_normal  # type: ignore[method-assign]


def peer_env(db_url: str, workdir: Path) -> dict[str, str]:
    if is_sqlite(db_url):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(workdir / f"peer-{uuid.uuid4().hex[:8]}.db"),
        }
    url = make_url(db_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.database or "postgres",
        "POSTGRES_HOST": url.host or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_SCHEMA": f"peer_{uuid.uuid4().hex[:8]}",
        "POSTGRES_POOL_SIZE": "10",
        "POSTGRES_MAX_OVERFLOW": "10",
        "CREATE_TABLE": "y",
    }


async def peer_round(db_url: str, workdir: Path, n: int, writers: int) -> tuple[float, float]:
    """(creates/s, updates/s) of the peer with ``writers`` threads."""
    env = peer_env(db_url, workdir)
    if "POSTGRES_SCHEMA" in env:  # the peer's tables in a schema of their own, as Trellis's
        engine = create_engine(db_url)
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{env["POSTGRES_SCHEMA"]}"'))
        await engine.dispose()
    app = PeerGoals(env=env)
    per = max(1, n // writers)
    pool = ThreadPoolExecutor(max_workers=writers)
    loop = asyncio.get_running_loop()
    try:
        created = await _timed(
            lambda: asyncio.gather(
                *(loop.run_in_executor(pool, _peer_creates, app, per) for _ in range(writers))
            )
        )
        targets = [
            [(g, app.add_key_result(g)) for g in (app.create_goal("t") for _ in range(GOALS_PER_WRITER))]
            for _ in range(writers)
        ]
        updated = await _timed(
            lambda: asyncio.gather(
                *(loop.run_in_executor(pool, _peer_updates, app, targets[w], per) for w in range(writers))
            )
        )
    finally:
        pool.shutdown()
        app.close()
        if "POSTGRES_SCHEMA" in env:
            await drop_schema(db_url, env["POSTGRES_SCHEMA"])
    return per * writers / created, per * writers / updated


def _peer_creates(app: PeerGoals, count: int) -> None:
    for i in range(count):
        app.create_goal(f"g{i}")


def _peer_updates(app: PeerGoals, targets: list[tuple[UUID, str]], count: int) -> None:
    for i in range(count):
        goal, kr = targets[i % len(targets)]
        app.record_progress(goal, kr, float(i + 1))


# --- Trellis: the goals service's command path -----------------------------------------


@dataclass
class TrellisGoals:
    runtime: Runtime
    commands: GoalCommands
    workdir: Path
    values: Any = field(default_factory=lambda: iter(range(1, 10**9)))

    @classmethod
    async def open(cls, db_url: str, workdir: Path, group_commit: bool | None = None) -> TrellisGoals:
        """The goals service's commands on ``db_url``; ``group_commit`` None: the default
        for the database, as a deployment gets it."""
        sqlite = is_sqlite(db_url)
        settings = GoalsSettings(
            database_url=f"sqlite+aiosqlite:///{workdir / f'trellis-{uuid.uuid4().hex[:8]}.db'}"
            if sqlite
            else db_url,
            database_schema=None if sqlite else f"trellis_{uuid.uuid4().hex[:8]}",
            nats_url="nats://127.0.0.1:1",  # commands do not wait for NATS: not started here
            subject_root="bench",
            data_dir=workdir,
            run_relay=False,
            run_consumers=False,
            log_level="WARNING",
            log_json=False,
            group_commit=group_commit,
        )
        runtime = Runtime(SERVICE, settings)
        await migrate(runtime.engine, *SERVICE.migrations, schema=settings.database_schema)
        return cls(runtime, application_in(runtime, GoalsApplication).commands, workdir)

    async def close(self) -> None:
        await self.runtime.engine.dispose()
        if self.runtime.settings.database_schema:
            await drop_schema(self.runtime.settings.database_url, self.runtime.settings.database_schema)

    async def creates(self, count: int) -> None:
        for i in range(count):
            await self.commands.create_goal(ACTOR, "bench", level="individual", title=f"g{i}", period="Q")

    async def targets(self) -> list[tuple[str, str]]:
        out = []
        for _ in range(GOALS_PER_WRITER):
            goal = await self.commands.create_goal(ACTOR, "bench", level="individual", title="t", period="Q")
            kr = await self.commands.add_key_result(
                ACTOR, "bench", goal.goal_id, None, name="k", start=0, target=1e9
            )
            out.append((goal.goal_id, kr.key_result_id or ""))
        return out

    async def updates(self, targets: list[tuple[str, str]], count: int) -> None:
        for i in range(count):
            goal, kr = targets[i % len(targets)]
            await self.commands.record_progress(
                ACTOR, "bench", goal, kr, None, value=float(next(self.values))
            )


async def trellis_round(db_url: str, workdir: Path, n: int, writers: int) -> tuple[float, float]:
    goals = await TrellisGoals.open(db_url, workdir)
    per = max(1, n // writers)
    try:
        await goals.creates(20)  # warm: statement caches, the first connections
        created = await _timed(lambda: asyncio.gather(*(goals.creates(per) for _ in range(writers))))
        targets = [await goals.targets() for _ in range(writers)]
        updated = await _timed(
            lambda: asyncio.gather(*(goals.updates(targets[w], per) for w in range(writers)))
        )
    finally:
        await goals.close()
    return per * writers / created, per * writers / updated


async def _timed(work: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


# --- the run ------------------------------------------------------------------------------


async def _run(db_url: str, workdir: Path, n: int, rounds: int, raw: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"raw_inserts": await raw_inserts(_raw_url(db_url, workdir), raw)}
    for writers in WRITERS:
        runs: dict[str, list[tuple[float, float]]] = {"trellis": [], "peer": []}
        for r in range(rounds):
            runs["trellis"].append(await trellis_round(db_url, workdir, n, writers))
            runs["peer"].append(await peer_round(db_url, workdir, n, writers))
            console.print(
                f"writers={writers} round {r + 1}: trellis {runs['trellis'][-1][0]:,.0f}/"
                f"{runs['trellis'][-1][1]:,.0f}, peer {runs['peer'][-1][0]:,.0f}/{runs['peer'][-1][1]:,.0f}"
                " creates/updates per s"
            )
        for i, kind in enumerate(("creates", "updates")):
            mine = [run[i] for run in runs["trellis"]]
            theirs = [run[i] for run in runs["peer"]]
            ratios = [a / b for a, b in zip(mine, theirs, strict=True)]
            figures[f"{kind}_{writers}"] = {
                "trellis": [min(mine), max(mine)],
                "pyeventsourcing": [min(theirs), max(theirs)],
                "ratio": [min(ratios), max(ratios)],
            }
    return figures


def _raw_url(db_url: str, workdir: Path) -> str:
    return f"sqlite+aiosqlite:///{workdir / 'raw.db'}" if is_sqlite(db_url) else db_url


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if name == "asyncio":
        return None
    if name != "uvloop":
        raise typer.BadParameter(f"unknown loop {name!r}: uvloop or asyncio")
    import uvloop

    return uvloop.new_event_loop


def report(figures: dict[str, Any], db_url: str, loop: str) -> None:
    table = Table(title=f"Trellis beside pyeventsourcing ({db_url.split(':')[0]}, {loop} loop, one run)")
    for column in ("commands in process", "Trellis /s", "pyeventsourcing /s", "ratio (target ≥ 1.5)"):
        table.add_column(column, justify="right" if column != "commands in process" else "left")
    for writers in WRITERS:
        for kind in ("creates", "updates"):
            f = figures[f"{kind}_{writers}"]
            table.add_row(
                f"goal {kind}, {writers} writer{'s' if writers > 1 else ''}",
                "{:,.0f}-{:,.0f}".format(*f["trellis"]),
                "{:,.0f}-{:,.0f}".format(*f["pyeventsourcing"]),
                "{:.2f}-{:.2f}".format(*f["ratio"]),
            )
    console.print(table)
    console.print(f"raw batched inserts, same database, same run: {figures['raw_inserts']:,.0f} rows/s")


def main(
    commands: Annotated[int, typer.Option(help="commands per measurement (split over the writers)")] = 1600,
    rounds: Annotated[int, typer.Option(help="alternating rounds per figure")] = 3,
    raw: Annotated[int, typer.Option(help="rows for the raw insert limit")] = 20000,
    database_url: Annotated[str, typer.Option(help="default: SQLite files in a temporary folder")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="also print the figures as JSON")] = False,
    loop: Annotated[
        str,
        typer.Option(help="the event loop: uvloop, as `trellis serve` runs (uvicorn picks it), or asyncio"),
    ] = "uvloop",
) -> None:
    _sqlite_like_trellis()
    # The peer's calls run on threads, so the loop is Trellis's alone.
    run_bench(
        "trellis-peers-",
        loop,
        database_url,
        lambda db_url, workdir: _run(db_url, workdir, commands, rounds, raw),
        lambda figures, db_url: report(figures, db_url, loop),
        as_json=as_json,
    )


def run_bench(
    prefix: str,
    loop: str,
    database_url: str,
    run: Callable[[str, Path], Awaitable[dict[str, Any]]],
    report: Callable[[dict[str, Any], str], None],
    *,
    as_json: bool,
) -> None:
    """Run ``run(db_url, workdir)`` on ``loop`` (default database: SQLite files in a fresh
    folder), as `trellis serve` is tuned, then ``report`` its figures (and print them as JSON)."""
    configure_logging("bench", json=False, level="WARNING")
    tune_gc()  # as `trellis serve` does
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    db_url = database_url or f"sqlite+aiosqlite:///{workdir / 'unused.db'}"
    try:
        with asyncio.Runner(loop_factory=_loop_factory(loop)) as runner:
            figures = runner.run(run(db_url, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(figures, db_url)
    if as_json:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    typer.run(main)
