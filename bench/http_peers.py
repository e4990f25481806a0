"""Trellis's ``POST /v1/goals`` over HTTP beside a minimal FastAPI app doing the same, in
one run on one machine.

    uv run python bench/http_peers.py [--seconds 8] [--connections 16] [--rounds 2]

Three servers, each a uvicorn process of its own (httptools, uvloop) on SQLite files in
WAL mode with ``synchronous=NORMAL``: the goals service in its embedded run (with its
nats-server, relay and consumers running, as deployed), the peer (``http_peer_app.py``:
PyJWT, a pydantic body, one SQLAlchemy async insert; no event store, outbox, permissions or
audit trail), and the peer's ``GET /hello`` (the HTTP stack's own limit here). The load is
``--connections`` concurrent keep-alive clients in this process (``load_client.py``: a
minimal HTTP/1.1 writer; httpx was the bottleneck), for ``--seconds``
each, rounds alternating Trellis and the peer; each figure is the min-max over rounds.
Client and servers share the 2 cores, the same way for every target: compare ratios.

Trellis's consumers (the alignment tree, the pace watch, the realignment reaction) share its
process and cores with the API, so a saturating load is served faster by a service whose
views fall behind. The last column says how far behind they were when each round's load
stopped: events appended and not yet applied to the alignment tree, and the tree's batches
during the round (both from the service's ``/metrics``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import typer
from load_client import Connections
from rich.console import Console
from rich.table import Table

from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.embedded import EmbeddedNats
from trellis.core.runtime.settings import DEV_JWT_SECRET

console = Console()
HERE = Path(__file__).parent
TOKEN = mint_token(secret=DEV_JWT_SECRET, tenant="bench", employee="bencher", roles=["admin", "employee"])
BODY = {"level": "individual", "title": "a goal", "period": "Q4"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(command: list[str], env: dict[str, str], cwd: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command, env={**os.environ, **env}, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{command} did not start")


async def consumer_figures(base: str) -> dict[str, float]:
    """Events appended, and the alignment tree's acked messages and batches, so far."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{base}/metrics")).text
    figures = {"appended": 0.0, "applied": 0.0, "batches": 0.0}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith("trellis_events_appended_total{"):
            figures["appended"] += float(value)
        elif name == 'trellis_consumer_messages_total{answer="ack",consumer="goals-alignment-tree"}':
            figures["applied"] = float(value)
        elif name == 'trellis_consumer_batch_seconds_count{consumer="goals-alignment-tree"}':
            figures["batches"] = float(value)
    return figures


async def load(url: str, method: str, seconds: float, connections: int) -> dict[str, float]:
    """Requests/s and latency percentiles of ``connections`` clients for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    where = urlsplit(url)
    path = where.path
    pool = Connections(f"http://{where.netloc}", connections)
    await pool.open()
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            started = time.perf_counter()
            if method == "POST":
                status, _ = await pool.post(path, BODY, headers)
            else:
                status, _ = await pool.get(path)
            if status >= 300:
                errors += 1
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    await pool.close()
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {"rps": len(latencies) / elapsed, "p50": pct(0.5), "p99": pct(0.99), "errors": errors}


def main(
    seconds: Annotated[float, typer.Option(help="seconds of load per target and round")] = 8.0,
    connections: Annotated[int, typer.Option(help="concurrent clients")] = 16,
    rounds: Annotated[int, typer.Option(help="alternating rounds")] = 2,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        nats = EmbeddedNats(work / "nats", _free_port())
        nats.start()
        trellis_port, peer_port = _free_port(), _free_port()
        trellis = _start(
            [sys.executable, "-m", "trellis.goals"],
            {
                "TRELLIS_GOALS_EMBEDDED": "true",
                "TRELLIS_GOALS_DATA_DIR": str(work / "data"),
                "TRELLIS_GOALS_NATS_URL": nats.url,
                "TRELLIS_GOALS_HTTP_PORT": str(trellis_port),
                "TRELLIS_GOALS_HTTP_HOST": "127.0.0.1",
                "TRELLIS_GOALS_LOG_LEVEL": "WARNING",
                "TRELLIS_GOALS_MAX_COMMANDS_IN_FLIGHT": "0",  # measure the path, not the admission
                "TRELLIS_GOALS_TENANT_COMMAND_RATE": "0",
            },
            HERE,
            trellis_port,
        )
        peer = _start(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "http_peer_app:app",
                "--port",
                str(peer_port),
                "--log-level",
                "warning",
            ],
            {"PEER_DATABASE": str(work / "peer.db"), "PEER_JWT_SECRET": DEV_JWT_SECRET},
            HERE,
            peer_port,
        )
        targets = {
            "Trellis POST /v1/goals": (f"http://127.0.0.1:{trellis_port}/v1/goals", "POST"),
            "peer POST /v1/goals": (f"http://127.0.0.1:{peer_port}/v1/goals", "POST"),
            "FastAPI GET /hello": (f"http://127.0.0.1:{peer_port}/hello", "GET"),
        }
        results: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
        try:
            for url, method in targets.values():  # warm: connections, caches, tables
                asyncio.run(load(url, method, 1.0, connections))
            trellis_base = f"http://127.0.0.1:{trellis_port}"
            for _ in range(rounds):
                for name, (url, method) in targets.items():
                    if name.startswith("Trellis"):
                        before = asyncio.run(consumer_figures(trellis_base))
                    figure = asyncio.run(load(url, method, seconds, connections))
                    if name.startswith("Trellis"):
                        after = asyncio.run(consumer_figures(trellis_base))
                        figure["behind"] = after["appended"] - after["applied"]
                        figure["batches"] = after["batches"] - before["batches"]
                    results[name].append(figure)
        finally:
            for process in (trellis, peer):
                process.terminate()
                process.wait(10)
            nats.stop()
    _report(results, connections)


def _span(values: list[float], fmt: str = "{:,.0f}") -> str:
    low, high = min(values), max(values)
    return fmt.format(low) if fmt.format(low) == fmt.format(high) else f"{fmt.format(low)}-{fmt.format(high)}"


def _report(results: dict[str, list[dict[str, Any]]], connections: int) -> None:
    table = Table(title=f"HTTP, {connections} connections, SQLite, 2 cores (min-max of rounds)")
    for column in ("target", "req/s", "p50 ms", "p99 ms", "errors", "Trellis ÷ it", "tree behind / batches"):
        table.add_column(column, justify="right" if column != "target" else "left")
    trellis = results["Trellis POST /v1/goals"]
    for name, runs in results.items():
        ratio = (
            ""
            if name.startswith("Trellis")
            else _span([t["rps"] / r["rps"] for t, r in zip(trellis, runs, strict=True)], "{:.2f}")
        )
        table.add_row(
            name,
            _span([r["rps"] for r in runs]),
            _span([r["p50"] for r in runs], "{:.1f}"),
            _span([r["p99"] for r in runs], "{:.1f}"),
            str(int(sum(r["errors"] for r in runs))),
            ratio,
            f"{_span([r['behind'] for r in runs])} / {_span([r['batches'] for r in runs])}"
            if name.startswith("Trellis")
            else "",
        )
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
