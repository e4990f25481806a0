"""Feedback given → in the recipient's inbox, across services, at steady rates.

    uv run python bench/cross_service.py                  # 50 and 200 commands/s, SQLite
    uv run python bench/cross_service.py --rates 50,100,200 --seconds 20

The embedded layout, as ``trellis up`` runs it: its own packaged nats-server on a free port,
and the onboarding (the org), feedback and notifications services each in its own process
on its own SQLite file. At each rate, employees give each other feedback over HTTP
(``POST /v1/feedback``); the clock starts before the request and stops when the
recipient's notification row is in the notifications service's inbox table (polled every
few milliseconds from this process, read-only). The path it measures: the feedback
service's command, its relay to its stream, the notifications service's consumer, its
rules and its inbox, each in its own process.

The raw limit of the same run: one JetStream round trip (publish, then a pull consumer on
the same server fetches and acks it) at the same rate, the floor of any hop through NATS;
the path above takes at least two (the feedback stream, then the notifications consumer).
"""

from __future__ import annotations

import asyncio
import os
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

import httpx
import typer
from load_client import Connections
from rich.console import Console
from rich.table import Table

from trellis.core.messaging.jetstream import StreamSpec, connect, ensure_stream
from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.embedded import EmbeddedNats, free_port
from trellis.core.runtime.settings import DEV_JWT_SECRET

console = Console(width=150)
TENANT = "bench"
PEOPLE = 40
SERVICES = ("onboarding", "feedback", "notifications")


def token(employee: str, *roles: str) -> dict[str, str]:
    minted = mint_token(
        secret=DEV_JWT_SECRET, tenant=TENANT, employee=employee, roles=list(roles or ["employee"])
    )
    return {"Authorization": f"Bearer {minted}"}


def percentiles(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
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
    """The three services in their own processes, on one embedded nats-server."""

    def __init__(self, workdir: Path, nats_url: str) -> None:
        self.workdir = workdir
        self.nats_url = nats_url
        self.urls: dict[str, str] = {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Any] = []

    def start(self) -> None:
        for name in SERVICES:
            prefix = f"TRELLIS_{name.upper()}_"
            port = free_port()
            env = {
                **os.environ,
                f"{prefix}DATA_DIR": str(self.workdir),
                f"{prefix}NATS_URL": self.nats_url,
                f"{prefix}HTTP_PORT": str(port),
                f"{prefix}EMBEDDED": "true",
                f"{prefix}LOG_LEVEL": "WARNING",
            }
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

    def inbox_db(self) -> Path:
        found = sorted(self.workdir.glob("notifications*.db"))
        if not found:
            raise RuntimeError(f"no notifications database in {self.workdir}")
        return found[0]


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


async def feedback_to_inbox(system: System, people: list[str], rate: int, seconds: float) -> dict[str, Any]:
    db = sqlite3.connect(f"file:{system.inbox_db()}?mode=ro", uri=True)
    issued: dict[str, float] = {}
    arrived: dict[str, float] = {}
    stop = asyncio.Event()
    last = db.execute("SELECT coalesce(max(rowid), 0) FROM inbox_notifications").fetchone()[0]

    async def watch() -> None:
        nonlocal last
        while not stop.is_set() or len(arrived) < len(issued):
            rows = db.execute(  # only the rows since the last look: each poll costs what arrived
                "SELECT rowid, json_extract(subject, '$.id') FROM inbox_notifications "
                "WHERE rowid > ? AND cause_event_type = 'FeedbackGiven'",
                (last,),
            ).fetchall()
            now = time.perf_counter()
            for rowid, feedback_id in rows:
                last = max(last, rowid)
                arrived.setdefault(feedback_id, now)
            await asyncio.sleep(0.003)

    watching = asyncio.create_task(watch())
    errors = 0

    tokens = {person: token(person) for person in people}  # minted once: the client is not measured
    connections = Connections(system.urls["feedback"], 32)
    await connections.open()

    async def one(i: int) -> None:
        nonlocal errors
        giver, recipient = people[i % len(people)], people[(i * 7 + 1) % len(people)]
        if giver == recipient:
            recipient = people[(i + 1) % len(people)]
        body = {"recipient_id": recipient, "body": f"thanks #{i}", "visibility": "private"}
        t0 = time.perf_counter()
        status, answer = await connections.post("/v1/feedback", body, tokens[giver])
        if status != 201:
            errors += 1
            return
        issued[answer["id"]] = t0

    achieved = await paced(rate, seconds, one)
    await connections.close()
    stop.set()
    try:
        await asyncio.wait_for(watching, 30)
    except TimeoutError:
        watching.cancel()
    db.close()
    latencies = [(arrived[k] - t0) * 1000 for k, t0 in issued.items() if k in arrived]
    return {
        "rate": achieved,
        "errors": errors,
        "missing": len(issued) - len(latencies),
        **percentiles(latencies),
    }


def main(
    rates: Annotated[str, typer.Option(help="commands per second, comma-separated")] = "50,200",
    seconds: Annotated[float, typer.Option(help="length of each rate's run")] = 15.0,
) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="trellis-bench-cross-"))
    nats = EmbeddedNats(workdir / "nats", free_port())
    nats.start()
    system = System(workdir, nats.url)
    results: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    try:
        system.start()

        async def run() -> None:
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
            async with httpx.AsyncClient(timeout=30, limits=limits) as client:
                await system.ready(client)
                people = await seed(client, system)
                for rate in (int(r) for r in rates.split(",")):
                    raw = await raw_round_trip(nats.url, rate, min(seconds, 5.0))
                    results.append((rate, raw, await feedback_to_inbox(system, people, rate, seconds)))

        asyncio.run(run())
    finally:
        system.stop()
        nats.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    report(results)


def report(results: list[tuple[int, dict[str, Any], dict[str, Any]]]) -> None:
    table = Table(
        title=f"Feedback given → recipient's inbox (three processes, SQLite, {os.cpu_count()} cores)"
    )
    for column in (
        "rate asked",
        "achieved",
        "p50",
        "p95",
        "p99",
        "max",
        "lost / errors",
        "raw NATS p50 / p99",
        "target",
    ):
        table.add_column(column, justify="right")
    for rate, raw, f in results:
        verdict = ""
        if rate == 200:
            verdict = "[green]met[/]" if f["p99"] < 100 else "[red]missed[/]"
        table.add_row(
            f"{rate}/s",
            f"{f['rate']:.0f}/s",
            f"{f['p50']:.1f} ms",
            f"{f['p95']:.1f} ms",
            f"{f['p99']:.1f} ms",
            f"{f['max']:.1f} ms",
            f"{f['missing']} / {f['errors']}",
            f"{raw['p50']:.1f} / {raw['p99']:.1f} ms",
            f"p99 < 100 ms {verdict}" if rate == 200 else "",
        )
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
