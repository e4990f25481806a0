"""How long an event waits for an idle consumer: nats-py's ``fetch`` beside ``PullFeed``.

    uv run python bench/idle_latency.py [--messages 60] [--timeout 1.0]

An idle durable consumer waits for work the way the runner does (batches of 100, each wait
at most ``--timeout`` seconds) while one message is published at a random moment every
0 to 2 timeouts. The clock starts before the publish and stops when the consumer has the
message in hand. The raw limit of the same run: a core NATS request-reply round trip on the
same connection. Both readers run in the same run on one packaged nats-server, one after
the other, each on a consumer of its own.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import nats
import typer
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from nats.js.errors import FetchTimeoutError
from rich.console import Console
from rich.table import Table

from trellis.core.consuming.pull import PullFeed
from trellis.core.runtime.embedded import EmbeddedNats

BATCH = 100


async def waits(
    js: Any, subject: str, fetch: Callable[[], Awaitable[list[Any]]], messages: int, timeout: float
) -> list[float]:
    """Seconds from publish to hand-over, for ``messages`` published at random moments."""
    sent: dict[bytes, float] = {}
    seen: list[float] = []
    stopping = False

    async def consume() -> None:
        while not stopping:
            try:
                msgs = await fetch()
            except (FetchTimeoutError, NatsTimeoutError, TimeoutError):
                continue
            now = time.perf_counter()
            for msg in msgs:
                seen.append(now - sent[msg.data])
                await msg.ack()

    consumer = asyncio.create_task(consume())
    for i in range(messages):
        await asyncio.sleep(random.uniform(0, 2 * timeout))
        key = str(i).encode()
        sent[key] = time.perf_counter()
        await js.publish(subject, key)
    deadline = time.perf_counter() + 3 * timeout + 1
    while len(seen) < messages and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    stopping = True
    await consumer
    return seen


async def round_trip(nc: Any, count: int = 200) -> list[float]:
    async def echo(msg: Any) -> None:
        await msg.respond(b"")

    sub = await nc.subscribe("bench.echo", cb=echo)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        await nc.request("bench.echo", b"", timeout=1.0)
        times.append(time.perf_counter() - started)
    await sub.unsubscribe()
    return times


async def measure(url: str, messages: int, timeout: float) -> dict[str, list[float]]:
    nc = await nats.connect(url)
    publisher = await nats.connect(url)
    js, pjs = nc.jetstream(), publisher.jetstream()
    await js.add_stream(StreamConfig(name="IDLE", subjects=["idle.>"]))
    results: dict[str, list[float]] = {"raw request-reply": await round_trip(nc)}
    for reader in ("nats-py fetch", "PullFeed"):
        durable = "fetch" if reader == "nats-py fetch" else "feed"
        subject = f"idle.{durable}"
        await js.add_consumer(
            "IDLE",
            ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, filter_subject=subject),
        )
        if reader == "nats-py fetch":
            sub = await js.pull_subscribe_bind(durable, "IDLE")
            results[reader] = await waits(
                pjs, subject, lambda sub=sub: sub.fetch(BATCH, timeout=timeout), messages, timeout
            )
        else:
            feed = PullFeed.of(js, stream="IDLE", durable=durable, batch=BATCH, expires=timeout)
            await feed.start()
            results[reader] = await waits(
                pjs, subject, lambda feed=feed: feed.fetch(timeout), messages, timeout
            )
            await feed.close()
    await nc.close()
    await publisher.close()
    return results


def main(
    messages: Annotated[int, typer.Option(help="messages per reader")] = 60,
    timeout: Annotated[float, typer.Option(help="each wait's timeout, seconds (the runner's: 1.0)")] = 1.0,
) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="trellis-bench-"))
    server = EmbeddedNats(workdir / "nats")
    server.start()
    try:
        results = asyncio.run(measure(server.url, messages, timeout))
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    table = Table(title=f"An idle consumer: publish → in hand (waits of at most {timeout} s)")
    for column in ("reader", "messages", "p50 ms", "p99 ms", "max ms", f"over {timeout / 4:.2g} s"):
        table.add_column(column, justify="right")
    for reader, seconds in results.items():
        ordered = sorted(seconds)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        slow = sum(1 for s in ordered if s > timeout / 4)
        table.add_row(
            reader,
            str(len(ordered)),
            f"{statistics.median(ordered) * 1000:.1f}",
            f"{p99 * 1000:.1f}",
            f"{ordered[-1] * 1000:.1f}",
            str(slow),
        )
    Console().print(table)


if __name__ == "__main__":
    typer.run(main)
