"""Across services at steady rates: feedback given → in the recipient's inbox, and
key-result progress → in the alignment tree.

    uv run python bench/cross_service.py                  # 50 and 200 commands/s, SQLite
    uv run python bench/cross_service.py --rates 50,100,200 --seconds 20
    uv run python bench/cross_service.py --rates 50 --seconds 20 --paths tree
    uv run python bench/cross_service.py --database-url postgresql+asyncpg://postgres@127.0.0.1/postgres

The layout ``trellis up`` runs: its own packaged nats-server on a free port, and the
onboarding (the org), goals, feedback and notifications services each in its own process,
on its own SQLite file (the default) or its own schema of one PostgreSQL database
(``--database-url``; the schemas are dropped afterwards). Each service gets this run's own
secrets, as a deployment does.

Two paths, one after the other at each rate (``--paths inbox,tree``), each with its
commands' own answer time beside:

- **feedback → inbox**: employees give each other feedback over HTTP (``POST
  /v1/feedback``); the clock starts before the request and stops when the recipient's
  notification row is in the notifications service's inbox table. The path: the feedback
  service's command, its relay to its stream, the notifications service's consumer, its
  rules and its inbox, each in its own process.
- **key-result progress → alignment tree**: each employee records progress on the one key
  result of their own goal (``POST /v1/goals/{id}/key-results/{kr}/progress``, values
  rising); the clock stops when the goals service's alignment tree (``goal_key_results``)
  holds that value or a later one. The path: the goals command, its relay, the goals
  stream, the tree's consumer.

Arrivals are polled from this process, read-only: the inbox every 10 ms (by ``rowid`` on
SQLite; on PostgreSQL through the inbox's (tenant, recipient, created_at) index, for the
notifications still awaited only), each row timed by its own ``created_at``, stamped when
its ``NotificationCreated`` was recorded in the transaction that writes the row (its commit
follows, in the same turn of the consumer); the tree every 3 ms, by key, each value timed
when seen. (Polled every 3 ms and timed when seen, the inbox's own queries on PostgreSQL
took enough of the two cores to double the latency they measured.)

The raw limit of the same run: one JetStream round trip (publish, then a pull consumer on
the same server fetches and acks it) at the same rate, the floor of any hop through NATS;
each path above takes at least two.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import os
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import httpx
import typer
from load_client import Connections
from pipeline import drop_schema
from rich.console import Console
from rich.table import Table

from trellis.core.messaging.jetstream import StreamSpec, connect, ensure_stream
from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.embedded import EmbeddedNats, free_port
from trellis.core.store.database import is_sqlite

console = Console(width=150)
TENANT = "bench"
PEOPLE = 40
SERVICES = ("onboarding", "goals", "feedback", "notifications")
SECRET = secrets.token_hex(32)  # this run's own, for every service's tokens


def token(employee: str, *roles: str) -> dict[str, str]:
    minted = mint_token(secret=SECRET, tenant=TENANT, employee=employee, roles=list(roles or ["employee"]))
    return {"Authorization": f"Bearer {minted}"}


def percentiles(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    if not ms:
        return {"count": 0}
    return {
        "count": len(ms),
        "p50": statistics.median(ms),
        "p95": ms[max(0, int(len(ms) * 0.95) - 1)],
        "p99": ms[max(0, int(len(ms) * 0.99) - 1)],
        "max": ms[-1],
    }


async def paced(rate: int, seconds: float, one: Any) -> float:
    """Start ``one(i)`` ``rate`` times a second for ``seconds``; the rate achieved."""
    total, interval = int(rate * seconds), 1.0 / rate
    started = time.perf_counter()
    tasks = []
    for i in range(total):
        delay = started + i * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return total / (time.perf_counter() - started)


async def raw_round_trip(nats_url: str, rate: int, seconds: float) -> dict[str, float]:
    """Publish at ``rate``; a pull consumer fetches and acks: publish → acked fetch, in ms."""
    nc = await connect(nats_url, name="bench-raw-rtt")
    js = nc.jetstream()
    await ensure_stream(js, StreamSpec(name="BENCH_RTT", subjects=["bench.rtt.>"]))
    sub = await js.pull_subscribe("bench.rtt.>", durable="rtt", stream="BENCH_RTT")
    sent: dict[str, float] = {}
    seen: list[float] = []
    done = asyncio.Event()

    async def consume() -> None:
        while not done.is_set() or len(seen) < len(sent):
            try:
                msgs = await sub.fetch(100, timeout=0.2)
            except TimeoutError:
                continue
            now = time.perf_counter()
            for msg in msgs:
                await msg.ack()
                seen.append((now - sent[msg.data.decode()]) * 1000)

    consumer = asyncio.create_task(consume())

    async def one(i: int) -> None:
        sent[str(i)] = time.perf_counter()
        await js.publish(f"bench.rtt.{i}", str(i).encode())

    await paced(rate, seconds, one)
    done.set()
    await asyncio.wait_for(consumer, 10)
    await js.delete_stream("BENCH_RTT")
    await nc.close()
    return percentiles(seen)


class System:
    """The four services in their own processes, on one embedded nats-server, each on its own
    SQLite file (``database_url`` empty) or its own schema of ``database_url``."""

    def __init__(self, workdir: Path, nats_url: str, database_url: str = "") -> None:
        self.workdir = workdir
        self.nats_url = nats_url
        self.database_url = database_url
        self.run = secrets.token_hex(4)
        self.urls: dict[str, str] = {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Any] = []

    def schema(self, service: str) -> str:
        return f"bench_{service}_{self.run}"

    def start(self) -> None:
        for name in SERVICES:
            prefix = f"TRELLIS_{name.upper()}_"
            port = free_port()
            env = {
                **os.environ,
                f"{prefix}DATA_DIR": str(self.workdir),
                f"{prefix}NATS_URL": self.nats_url,
                f"{prefix}HTTP_PORT": str(port),
                f"{prefix}LOG_LEVEL": "WARNING",
                f"{prefix}JWT_SECRET": SECRET,
                "TRELLIS_FEEDBACK_ANONYMITY_KEY": secrets.token_hex(32),
                "TRELLIS_NOTIFICATIONS_WEBHOOK_SECRET_KEYS": secrets.token_hex(32),
            }
            if self.database_url:
                env[f"{prefix}DATABASE_URL"] = self.database_url
                env[f"{prefix}DATABASE_SCHEMA"] = self.schema(name)
            else:
                env[f"{prefix}EMBEDDED"] = "true"
            log = open(self.workdir / f"{name}.log", "wb")  # each service's output, for a failed start
            self.logs.append(log)
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "trellis.cli", "serve", name], env=env, stdout=log, stderr=log
                )
            )
            self.urls[name] = f"http://127.0.0.1:{port}"

    async def ready(self, client: httpx.AsyncClient) -> None:
        deadline = time.monotonic() + 60
        for name, url in self.urls.items():
            while True:
                try:
                    if (await client.get(f"{url}/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} not ready: see {self.workdir / (name + '.log')}")
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in self.logs:
            log.close()

    async def drop(self) -> None:
        if self.database_url:
            for name in SERVICES:
                await drop_schema(self.database_url, self.schema(name))

    async def probe(self, service: str) -> Probe:
        """A read-only look at ``service``'s tables."""
        if not self.database_url:
            found = sorted(self.workdir.glob(f"{service}*.db"))
            if not found:
                raise RuntimeError(f"no {service} database in {self.workdir}")
            return SqliteProbe(sqlite3.connect(f"file:{found[0]}?mode=ro", uri=True))
        url = self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        return PostgresProbe(
            await asyncpg.connect(url, server_settings={"search_path": self.schema(service)})
        )


class Probe:
    """Where the measured commands have arrived (read-only polls)."""

    async def feedback_in_inbox(self, awaited: dict[str, float]) -> list[tuple[str, float]]:
        """Of the feedback ids ``awaited`` (with the wall-clock time each was given), those
        whose notification is now in the inbox, each with its row's ``created_at``: the
        time its ``NotificationCreated`` was recorded, in the transaction that wrote the row."""
        raise NotImplementedError

    async def tree_values(self, key_results: list[str]) -> dict[str, float]:
        """The alignment tree's current value of each of ``key_results``."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class SqliteProbe(Probe):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.last: int | None = None

    async def feedback_in_inbox(self, awaited: dict[str, float]) -> list[tuple[str, float]]:
        if self.last is None:
            self.last = self.db.execute("SELECT coalesce(max(rowid), 0) FROM inbox_notifications").fetchone()[
                0
            ]
        rows = self.db.execute(  # only the rows since the last look: each poll costs what arrived
            "SELECT rowid, json_extract(subject, '$.id'), created_at FROM inbox_notifications "
            "WHERE rowid > ? AND cause_event_type = 'FeedbackGiven'",
            (self.last,),
        ).fetchall()
        for rowid, _, _ in rows:
            self.last = max(self.last, rowid)
        return [(feedback_id, _epoch(created_at)) for _, feedback_id, created_at in rows]

    async def tree_values(self, key_results: list[str]) -> dict[str, float]:
        marks = ",".join("?" * len(key_results))
        rows = self.db.execute(
            f"SELECT key_result_id, current FROM goal_key_results WHERE key_result_id IN ({marks})",
            key_results,
        ).fetchall()
        return dict(rows)

    async def close(self) -> None:
        self.db.close()


class PostgresProbe(Probe):
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.people: list[str] = []

    async def feedback_in_inbox(self, awaited: dict[str, float]) -> list[tuple[str, float]]:
        if not awaited:
            return []
        since = dt.datetime.fromtimestamp(min(awaited.values()) - 0.05, dt.UTC)
        rows = await self.conn.fetch(  # the inbox's index: this tenant's people, since then
            "SELECT subject->>'id', created_at FROM inbox_notifications WHERE tenant_id = $1 "
            "AND recipient_id = ANY($2::varchar[]) AND created_at >= $3 "
            "AND cause_event_type = 'FeedbackGiven' AND subject->>'id' = ANY($4::varchar[])",
            TENANT,
            self.people,
            since,
            list(awaited),
        )
        return [(row[0], _epoch(row[1])) for row in rows]

    async def tree_values(self, key_results: list[str]) -> dict[str, float]:
        rows = await self.conn.fetch(
            "SELECT key_result_id, current FROM goal_key_results WHERE key_result_id = ANY($1::varchar[])",
            key_results,
        )
        return {row[0]: row[1] for row in rows}

    async def close(self) -> None:
        await self.conn.close()


async def seed(client: httpx.AsyncClient, system: System) -> list[str]:
    hr = token("bench-hr", "hr", "admin")
    people = [f"p{i:03d}" for i in range(PEOPLE)]
    for person in people:
        body = {
            "employee_id": person,
            "name": person.upper(),
            "email": f"{person}@bench.test",
            "start_date": "2026-01-05",
        }
        resp = await client.post(f"{system.urls['onboarding']}/v1/employees", json=body, headers=hr)
        resp.raise_for_status()
    last = people[-1]

    async def known() -> bool:  # feedback's org replica knows everyone (refuses an unknown recipient)
        body = {"recipient_id": last, "body": "warm-up", "visibility": "private"}
        resp = await client.post(
            f"{system.urls['feedback']}/v1/feedback", json=body, headers=token(people[0])
        )
        return resp.status_code == 201

    deadline = time.monotonic() + 60
    while not await known():
        if time.monotonic() > deadline:
            raise RuntimeError("the feedback service never learnt the org")
        await asyncio.sleep(0.2)
    return people


async def seed_goals(
    client: httpx.AsyncClient, system: System, people: list[str]
) -> list[tuple[str, str, str]]:
    """Each employee's own goal with one key result: (owner, goal id, key result id)."""
    goals = system.urls["goals"]
    out = []
    for person in people:
        body = {"level": "individual", "title": f"{person}'s goal", "period": "2026-Q4"}
        deadline = time.monotonic() + 60
        while True:  # the goals service learns the org from onboarding's stream
            resp = await client.post(f"{goals}/v1/goals", json=body, headers=token(person))
            if resp.status_code == 201:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the goals service refused {person}'s goal: {resp.status_code} {resp.text}"
                )
            await asyncio.sleep(0.2)
        goal_id = resp.json()["goal_id"]
        kr = {"name": "steps", "start": 0, "target": 1e9}
        resp = await client.post(f"{goals}/v1/goals/{goal_id}/key-results", json=kr, headers=token(person))
        resp.raise_for_status()
        out.append((person, goal_id, resp.json()["key_result_id"]))
    return out


async def measured(
    url: str,
    rate: int,
    seconds: float,
    send: Any,
    arrivals: Any,
    poll: float,
) -> dict[str, Any]:
    """Send ``rate`` commands a second (``send(connections, i)`` → a key, or the HTTP status
    of a refusal) while polling ``arrivals(awaited)`` every ``poll`` seconds: the keys arrived,
    each with the wall-clock time it arrived (None: seen now). Latencies in ms."""
    awaited: dict[str, float] = {}  # key → wall-clock time it was sent, until it arrives
    early: dict[str, float] = {}  # arrived before its command's answer did: when
    sent = 0
    latencies: list[float] = []
    answered: list[float] = []  # the command's own answer, in ms
    stop = asyncio.Event()
    errors: collections.Counter[int] = collections.Counter()  # refusals, by status

    async def watch() -> None:
        while not stop.is_set() or awaited:
            arrived = await arrivals(awaited)
            now = time.time()
            for key, when in arrived:
                issued = awaited.pop(key, None)
                if issued is not None:
                    latencies.append(((now if when is None else when) - issued) * 1000)
                else:
                    early[key] = now if when is None else when
            await asyncio.sleep(poll)

    watching = asyncio.create_task(watch())
    connections = Connections(url, 32)
    await connections.open()

    async def one(i: int) -> None:
        nonlocal sent
        issued = time.time()
        key = await send(connections, i)
        answered.append((time.time() - issued) * 1000)
        if isinstance(key, int):
            errors[key] += 1
            return
        sent += 1
        if key in early:  # polled before the answer was read: timed all the same
            latencies.append((early.pop(key) - issued) * 1000)
        else:
            awaited[key] = issued

    achieved = await paced(rate, seconds, one)
    await connections.close()
    stop.set()
    try:
        await asyncio.wait_for(watching, 30)
    except TimeoutError:
        watching.cancel()
    missing = sent - len(latencies)
    return {
        "rate": achieved,
        "errors": sum(errors.values()),
        "refusals": dict(errors),
        "missing": missing,
        "answered": percentiles(answered),
        **percentiles(latencies),
    }


def _epoch(value: Any) -> float:
    """A stored timestamp (SQLite: ISO text in UTC; PostgreSQL: an aware datetime) in seconds."""
    when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return float((when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp())


async def feedback_to_inbox(system: System, people: list[str], rate: int, seconds: float) -> dict[str, Any]:
    probe = await system.probe("notifications")
    if isinstance(probe, PostgresProbe):
        probe.people = people
    tokens = {person: token(person) for person in people}  # minted once: the client is not measured

    async def give(connections: Connections, i: int) -> str | int:
        giver, recipient = people[i % len(people)], people[(i * 7 + 1) % len(people)]
        if giver == recipient:
            recipient = people[(i + 1) % len(people)]
        body = {"recipient_id": recipient, "body": f"thanks #{i}", "visibility": "private"}
        status, answer = await connections.post("/v1/feedback", body, tokens[giver])
        return str(answer["id"]) if status == 201 else status

    await probe.feedback_in_inbox({})  # where the inbox stands before the run
    try:
        # each row carries when it was written: a poll every 10 ms costs the services little
        return await measured(system.urls["feedback"], rate, seconds, give, probe.feedback_in_inbox, 0.01)
    finally:
        await probe.close()


async def progress_to_tree(
    system: System, key_results: list[tuple[str, str, str]], rate: int, seconds: float, start: int
) -> dict[str, Any]:
    """Progress on each employee's key result in turn, values rising from ``start``; a value
    has arrived when the tree holds it or a later one."""
    probe = await system.probe("goals")
    tokens = {owner: token(owner) for owner, _, _ in key_results}
    sent: dict[str, tuple[str, float]] = {}  # key → (key result, value)

    async def record(connections: Connections, i: int) -> str | int:
        owner, goal_id, kr = key_results[i % len(key_results)]
        value = float(start + i + 1)
        path = f"/v1/goals/{goal_id}/key-results/{kr}/progress"
        status, _ = await connections.post(path, {"value": value}, tokens[owner])
        if status != 200:
            return status
        key = f"{kr}:{value:.0f}"
        sent[key] = (kr, value)
        return key

    async def arrivals(awaited: dict[str, float]) -> list[tuple[str, None]]:
        if not awaited:
            return []
        pending = [sent[key] for key in awaited if key in sent]
        current = await probe.tree_values(sorted({kr for kr, _ in pending}))
        return [(f"{kr}:{value:.0f}", None) for kr, value in pending if current.get(kr, -1.0) >= value]

    try:
        # seen when polled (a key result's row has no time of its own): by its primary key, every 3 ms
        return await measured(system.urls["goals"], rate, seconds, record, arrivals, 0.003)
    finally:
        await probe.close()


def main(
    rates: Annotated[str, typer.Option(help="commands per second, comma-separated")] = "50,200",
    seconds: Annotated[float, typer.Option(help="length of each rate's run, per path")] = 15.0,
    database_url: Annotated[
        str, typer.Option(help="PostgreSQL (a schema per service, dropped after); default: SQLite files")
    ] = "",
    paths: Annotated[str, typer.Option(help="which paths, comma-separated: inbox, tree")] = "inbox,tree",
) -> None:
    chosen = {path.strip() for path in paths.split(",")}
    if not chosen <= {"inbox", "tree"}:
        raise typer.BadParameter("inbox, tree or both", param_hint="--paths")
    if database_url and is_sqlite(database_url):
        database_url = ""  # SQLite is the default: a file per service
    workdir = Path(tempfile.mkdtemp(prefix="trellis-bench-cross-"))
    nats = EmbeddedNats(workdir / "nats", free_port())
    nats.start()
    system = System(workdir, nats.url, database_url)
    results: list[tuple[int, dict[str, Any], dict[str, dict[str, Any]]]] = []
    try:
        system.start()

        async def run() -> None:
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
            async with httpx.AsyncClient(timeout=30, limits=limits) as client:
                await system.ready(client)
                people = await seed(client, system)
                key_results = await seed_goals(client, system, people)
                done = 0
                for rate in (int(r) for r in rates.split(",")):
                    raw = await raw_round_trip(nats.url, rate, min(seconds, 5.0))
                    measured: dict[str, dict[str, Any]] = {}
                    if "inbox" in chosen:
                        measured["feedback → inbox"] = await feedback_to_inbox(system, people, rate, seconds)
                    if "tree" in chosen:
                        tree = await progress_to_tree(system, key_results, rate, seconds, done)
                        measured["progress → tree"] = tree
                        done += int(rate * seconds)
                    results.append((rate, raw, measured))

        asyncio.run(run())
    finally:
        system.stop()
        nats.stop()
        asyncio.run(system.drop())
        shutil.rmtree(workdir, ignore_errors=True)
    report(results, "PostgreSQL" if database_url else "SQLite")


def _answered(answered: dict[str, float]) -> str:
    return " / ".join(f"{answered[k]:.1f}" if k in answered else "-" for k in ("p50", "p99")) + " ms"


def _by_status(refusals: dict[int, int]) -> str:
    return " (" + ", ".join(f"{n} x {code}" for code, n in sorted(refusals.items())) + ")" if refusals else ""


def report(results: list[tuple[int, dict[str, Any], dict[str, dict[str, Any]]]], database: str) -> None:
    table = Table(title=f"Across services (four processes, {database}, {os.cpu_count()} cores)")
    for column in (
        "path",
        "rate asked",
        "achieved",
        "p50",
        "p95",
        "p99",
        "max",
        "answered p50 / p99",
        "lost / refused (by status)",
        "raw NATS p50 / p99",
        "target",
    ):
        table.add_column(column, justify="right")
    for rate, raw, measured in results:
        for path, f in measured.items():
            verdict = ""
            if rate == 200 and path.startswith("feedback"):
                verdict = "p99 < 100 ms " + ("[green]met[/]" if f.get("p99", 1e9) < 100 else "[red]missed[/]")
            table.add_row(
                path,
                f"{rate}/s",
                f"{f['rate']:.0f}/s",
                *(f"{f[k]:.1f} ms" if k in f else "-" for k in ("p50", "p95", "p99", "max")),
                _answered(f["answered"]),
                f"{f['missing']} / {f['errors']}{_by_status(f['refusals'])}",
                f"{raw['p50']:.1f} / {raw['p99']:.1f} ms",
                verdict,
            )
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
