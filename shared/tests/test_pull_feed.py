"""The runner's pull loop against a real nats-server: prompt, complete, and nothing stranded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from trellis.core.consuming.pull import ConsumerGone, PullFeed, _Request
from trellis.core.runtime.embedded import EmbeddedNats
from trellis.testing import eventually


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Any]:
    conn = await nats.connect(nats_url)
    try:
        yield conn
    finally:
        await conn.close()


async def stream_with_consumer(js: Any, root: str, *, ack_wait: float = 30.0) -> tuple[str, str]:
    stream = root.upper()
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{root}.>"]))
    await js.add_consumer(
        stream, ConsumerConfig(durable_name="reader", ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait)
    )
    return stream, "reader"


async def feed_on(js: Any, stream: str, durable: str, *, batch: int, expires: float) -> PullFeed:
    feed = PullFeed.of(js, stream=stream, durable=durable, batch=batch, expires=expires)
    await feed.start()
    return feed


async def waiting_fetch(feed: PullFeed) -> asyncio.Task[list[Any]]:
    """A fetch of up to 30 s, once its request is open and waiting on the server."""
    fetch = asyncio.create_task(feed.fetch(30.0))
    await asyncio.sleep(0.1)
    return fetch


async def test_an_event_reaching_an_idle_consumer_is_handed_over_without_waiting_for_a_full_batch(
    nc: Any, subject_root: str
) -> None:
    js = nc.jetstream()
    stream, durable = await stream_with_consumer(js, subject_root)
    # each fetch waits up to 30 s and the request asks for 200 messages: only one comes
    feed = await feed_on(js, stream, durable, batch=100, expires=3.0)
    try:
        for i in range(3):
            fetch = await waiting_fetch(feed)
            await js.publish(f"{subject_root}.x", str(i).encode())
            [msg] = await asyncio.wait_for(fetch, 5.0)
            assert msg.data == str(i).encode()
            await msg.ack()
        assert feed.requests_sent == 1  # one request, still open, brought all three
    finally:
        await feed.close()


async def test_a_backlog_comes_in_batches_in_order_each_message_once(nc: Any, subject_root: str) -> None:
    js = nc.jetstream()
    stream, durable = await stream_with_consumer(js, subject_root)
    for i in range(1_000):
        await js.publish(f"{subject_root}.x", str(i).encode())
    feed = await feed_on(js, stream, durable, batch=64, expires=1.0)
    seen: list[int] = []
    try:
        while len(seen) < 1_000:
            msgs = await feed.fetch(5.0)
            assert msgs, "the backlog stopped coming"
            assert len(msgs) <= 64
            for msg in msgs:
                seen.append(int(msg.data))
                await msg.ack()
        assert seen == list(range(1_000))
        assert await feed.fetch(0.3) == []
        assert feed.owed <= 2 * 64  # never more asked for than two batches
    finally:
        await feed.close()
    info = await js.consumer_info(stream, durable)
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_closing_hands_back_what_was_received_and_what_the_open_request_still_brings(
    nc: Any, subject_root: str
) -> None:
    js = nc.jetstream()
    stream, durable = await stream_with_consumer(js, subject_root, ack_wait=30.0)
    for i in range(10):
        await js.publish(f"{subject_root}.x", str(i).encode())
    feed = await feed_on(js, stream, durable, batch=4, expires=1.0)
    first = await feed.fetch(5.0)  # taken and never answered: the runner stopped mid-batch
    assert first
    for msg in first:
        await msg.nak()
    await feed.close()  # the rest (received, or on its way for the open request) goes back

    successor = await feed_on(js, stream, durable, batch=100, expires=1.0)
    got: set[bytes] = set()
    try:
        # all ten again, long before their 30 s ack wait would have let them come back
        async def everything() -> None:
            while len(got) < 10:
                for msg in await successor.fetch(5.0):
                    got.add(msg.data)
                    await msg.ack()

        await asyncio.wait_for(everything(), 5.0)
    finally:
        await successor.close()
    assert got == {str(i).encode() for i in range(10)}


async def test_a_consumer_deleted_under_the_feed_is_an_error_the_runner_sees(
    nc: Any, subject_root: str
) -> None:
    js = nc.jetstream()
    stream, durable = await stream_with_consumer(js, subject_root)
    feed = await feed_on(js, stream, durable, batch=10, expires=30.0)
    try:
        fetch = await waiting_fetch(feed)
        await js.delete_consumer(stream, durable)
        with pytest.raises(ConsumerGone):
            await asyncio.wait_for(fetch, 5.0)
    finally:
        await feed.close()


async def test_an_interrupted_fetch_returns_at_once(nc: Any, subject_root: str) -> None:
    js = nc.jetstream()
    stream, durable = await stream_with_consumer(js, subject_root)
    feed = await feed_on(js, stream, durable, batch=10, expires=2.0)
    fetch = await waiting_fetch(feed)
    feed.interrupt()
    assert await asyncio.wait_for(fetch, 1.0) == []
    # closing waits for the open request to end (by the server's 408), naking what it brings
    await js.publish(f"{subject_root}.x", b"late")
    await asyncio.wait_for(feed.close(), 5.0)
    # naked after the request ended: not bounced back to it (that would count redeliveries)
    assert (await js.consumer_info(stream, durable)).num_redelivered == 0
    again = await feed_on(js, stream, durable, batch=10, expires=1.0)
    try:  # handed back, not stranded until its ack wait
        assert [m.data for m in await asyncio.wait_for(again.fetch(5.0), 5.0)] == [b"late"]
    finally:
        await again.close()


async def test_a_request_whose_end_never_came_is_dropped_by_the_clock_and_asked_again(
    nc: Any, subject_root: str
) -> None:
    js = nc.jetstream()
    stream, durable = await stream_with_consumer(js, subject_root)
    feed = await feed_on(js, stream, durable, batch=10, expires=0.3)
    try:
        # as if a request had been sent and the server lost it with its 408 (a node died):
        # the feed believes 20 messages are owed, so it asks for nothing until that expires
        feed._requests.append(_Request(left=20, expires_at=time.monotonic() + 0.3))
        await js.publish(f"{subject_root}.x", b"waiting")
        [msg] = await asyncio.wait_for(feed.fetch(5.0), 3.0)
        assert msg.data == b"waiting"
        assert feed.requests_sent == 1  # the one sent once the lost one was dropped
        await msg.ack()
    finally:
        await feed.close()


async def test_after_a_server_restart_the_feed_asks_again(
    embedded_nats: EmbeddedNats, subject_root: str
) -> None:
    conn = await nats.connect(embedded_nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        js = conn.jetstream()
        stream, durable = await stream_with_consumer(js, subject_root)
        feed = await feed_on(js, stream, durable, batch=10, expires=1.0)
        assert await feed.fetch(0.2) == []  # a request is open on the server
        embedded_nats.stop()
        embedded_nats.start()
        await eventually(lambda: _connected(conn), timeout=10.0)
        await asyncio.wait_for(_publish_when_ready(js, f"{subject_root}.x", b"after the restart"), 20.0)
        # the request open before the restart is gone (ended by the server's 409 "Server
        # Shutdown", or by the clock if that never came): the feed asks again
        msgs: list[Any] = []
        while not msgs:
            msgs = await asyncio.wait_for(feed.fetch(1.0), 5.0)
        assert [m.data for m in msgs] == [b"after the restart"]
        await msgs[0].ack()
        await feed.close()
    finally:
        await conn.close()


async def _publish_when_ready(js: Any, subject: str, data: bytes) -> None:
    while True:  # JetStream takes a moment to recover its streams after a restart
        try:
            await js.publish(subject, data, timeout=1.0)
            return
        except Exception:
            await asyncio.sleep(0.1)


async def _connected(conn: Any) -> bool:
    return bool(conn.is_connected)


def test_a_feed_needs_a_batch_and_an_expiry() -> None:
    with pytest.raises(ValueError):
        PullFeed(None, api_prefix="$JS.API", stream="S", durable="d", batch=0)  # type: ignore[arg-type]
