"""Outbox relay conformance: every committed event reaches the stream exactly once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from trellis.core.messaging.jetstream import StreamSpec, connect, ensure_stream
from trellis.core.messaging.outbox import OutboxRelay
from trellis.core.runtime.embedded import EmbeddedNats
from trellis.core.store.tables import outbox
from trellis.testing import eventually

from .conftest import SERVICE, Core


async def provision(js: Any, core: Core) -> str:
    name = core.subjects.stream(SERVICE)
    await ensure_stream(js, StreamSpec(name=name, subjects=[core.subjects.all_of(SERVICE)]))
    return name


async def stream_messages(js: Any, stream: str) -> list[Any]:
    """Everything on the stream, read by a throwaway consumer."""
    sub = await js.pull_subscribe(">", stream=stream)
    out: list[Any] = []
    try:
        while True:
            try:
                batch = await sub.fetch(500, timeout=0.5)
            except Exception:
                return out
            out.extend(batch)
    finally:
        await sub.unsubscribe()


async def unpublished(core: Core) -> int:
    async with core.sessions() as session:
        return (
            await session.execute(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            )
        ).scalar_one()


async def drain(relay: OutboxRelay) -> None:
    while await relay.relay_once():
        pass


async def test_the_relay_publishes_every_event_once_with_its_id_in_aggregate_order(
    core: Core, js: Any
) -> None:
    stream = await provision(js, core)
    stored = [e for i in range(10) for e in await core.append(f"c-{i % 3}", i, i + 1)]
    await drain(OutboxRelay(sessions=core.sessions, stream=stream, jetstream=lambda: js, batch_size=7))
    msgs = await stream_messages(js, stream)
    assert len(msgs) == len(stored) == 20
    envelopes = [json.loads(m.data) for m in msgs]
    assert [m.headers["Nats-Msg-Id"] for m in msgs] == [e["event_id"] for e in envelopes]
    assert [e["event_id"] for e in envelopes] == [str(e.event_id) for e in stored]  # commit order
    for counter in ("c-0", "c-1", "c-2"):
        versions = [e["aggregate_version"] for e in envelopes if e["aggregate_id"] == counter]
        assert versions == list(range(1, len(versions) + 1))
    assert msgs[0].subject == f"{core.subjects.root}.{SERVICE}.counter.Counted.acme.c-0"
    assert await unpublished(core) == 0


async def test_the_relay_fetches_the_head_message_only_when_someone_else_moved_the_stream(
    core: Core, js: Any
) -> None:
    stream = await provision(js, core)
    relay = OutboxRelay(sessions=core.sessions, stream=stream, jetstream=lambda: js, batch_size=5)
    other = OutboxRelay(sessions=core.sessions, stream=stream, jetstream=lambda: js, batch_size=5)
    for i in range(12):
        await core.append(f"c-{i % 2}", i)
    await drain(relay)
    assert relay.head_fetches == 0  # an empty stream, then always where its last pass left it
    for i in range(3):
        await core.append("c-0", 100 + i)
    await drain(other)  # another replica's pass moves the stream
    for i in range(4):
        await core.append("c-1", 200 + i)
    await drain(relay)
    assert relay.head_fetches == 1  # it saw the stream move and asked what is there
    msgs = await stream_messages(js, stream)
    ids = [m.headers["Nats-Msg-Id"] for m in msgs]
    assert len(ids) == len(set(ids)) == 19
    assert await unpublished(core) == 0


class CrashBeforeMarking(OutboxRelay):
    """Publishes, then dies before recording that it did (the worst moment)."""

    async def _mark(self, session: Any, rows: list[Any], done: int) -> None:
        raise RuntimeError("relay killed after publishing, before marking")


async def test_a_relay_killed_after_publishing_is_restarted_without_duplicates(core: Core, js: Any) -> None:
    stream = await provision(js, core)
    for i in range(30):
        await core.append(f"c-{i % 4}", i)
    with pytest.raises(RuntimeError):
        await CrashBeforeMarking(sessions=core.sessions, stream=stream, jetstream=lambda: js).relay_once()
    assert await unpublished(core) == 30  # nothing marked
    restarted = OutboxRelay(sessions=core.sessions, stream=stream, jetstream=lambda: js)
    await drain(restarted)
    assert restarted.published == 0  # recognised on the stream, not sent again
    msgs = await stream_messages(js, stream)
    ids = [m.headers["Nats-Msg-Id"] for m in msgs]
    assert len(ids) == len(set(ids)) == 30
    assert await unpublished(core) == 0


class FailingMidBatch:
    """A JetStream context whose connection breaks after ``allowed`` publishes."""

    def __init__(self, js: Any, allowed: int) -> None:
        self.js, self.allowed = js, allowed

    def __getattr__(self, name: str) -> Any:
        return getattr(self.js, name)

    async def publish_async(self, *args: Any, **kwargs: Any) -> Any:
        if self.allowed <= 0:
            raise ConnectionError("connection lost mid-batch")
        self.allowed -= 1
        return await self.js.publish_async(*args, **kwargs)


async def test_a_batch_cut_short_publishes_the_rest_on_the_next_pass_in_order(core: Core, js: Any) -> None:
    stream = await provision(js, core)
    stored = [e for i in range(20) for e in await core.append("c-1", i)]
    relay = OutboxRelay(sessions=core.sessions, stream=stream, jetstream=lambda: FailingMidBatch(js, 8))
    with pytest.raises(ConnectionError):
        await relay.relay_once()
    assert await unpublished(core) == 12
    await drain(OutboxRelay(sessions=core.sessions, stream=stream, jetstream=lambda: js))
    msgs = await stream_messages(js, stream)
    assert [m.headers["Nats-Msg-Id"] for m in msgs] == [str(e.event_id) for e in stored]


async def test_commands_commit_while_nats_is_down_and_every_event_arrives_later(
    core: Core, embedded_nats: EmbeddedNats
) -> None:
    nc = await connect(embedded_nats.url, name="outage-test")
    js = nc.jetstream()
    stream = await provision(js, core)
    relay = OutboxRelay(
        sessions=core.sessions, stream=stream, jetstream=lambda: js, ack_timeout=1.0, max_backoff=0.5
    )
    core.store.on_commit(relay.wake)
    running = asyncio.create_task(relay.run())
    try:
        for i in range(5):
            await core.append("before", i)
        await eventually(lambda: _is_zero(unpublished(core)))
        embedded_nats.stop()
        for i in range(25):
            await core.append(f"during-{i % 5}", i)  # commands keep succeeding
        await asyncio.sleep(1.0)
        assert await unpublished(core) == 25
        embedded_nats.start()
        await eventually(lambda: _is_zero(unpublished(core)), timeout=20)
        msgs = await stream_messages(js, stream)
        ids = [m.headers["Nats-Msg-Id"] for m in msgs]
        assert len(ids) == len(set(ids)) == 30
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await nc.close()


async def _is_zero(value: Any) -> bool:
    return await value == 0


class RefusesOne:
    """A JetStream context whose server refuses one message (as during a leader election)."""

    def __init__(self, js: Any, refuse: str) -> None:
        self.js, self.refuse = js, refuse

    def __getattr__(self, name: str) -> Any:
        return getattr(self.js, name)

    async def publish_async(self, subject: str, body: bytes, headers: dict[str, str]) -> Any:
        if headers["Nats-Msg-Id"] == self.refuse:
            self.refuse = ""
            refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            refused.set_exception(RuntimeError("jetstream temporarily unavailable"))
            return refused
        return await self.js.publish_async(subject, body, headers=headers)


async def test_a_refused_publish_lets_nothing_after_it_onto_the_stream(core: Core, js: Any) -> None:
    stream = await provision(js, core)
    stored = [e for i in range(6) for c in ("a", "b") for e in await core.append(c, i)]
    refused = next(e for e in stored if e.aggregate_id == "a" and e.aggregate_version == 2)
    relay = OutboxRelay(
        sessions=core.sessions, stream=stream, jetstream=lambda: RefusesOne(js, str(refused.event_id))
    )
    with pytest.raises(ConnectionError):
        await relay.relay_once()
    assert relay.published == stored.index(refused)  # the rows before it, and nothing after
    await drain(OutboxRelay(sessions=core.sessions, stream=stream, jetstream=lambda: js))
    envelopes = [json.loads(m.data) for m in await stream_messages(js, stream)]
    assert [e["event_id"] for e in envelopes] == [str(e.event_id) for e in stored]


async def test_a_pass_sends_batch_after_batch_pipelined_in_order_and_marks_them_all(
    core: Core, js: Any
) -> None:
    stream = await provision(js, core)
    stored = [e for i in range(50) for e in await core.append(f"c-{i % 3}", i)]
    relay = OutboxRelay(
        sessions=core.sessions, stream=stream, jetstream=lambda: js, batch_size=7, batches_per_pass=4
    )
    assert await relay.relay_once() == 28  # four batches of seven in one pass
    assert await unpublished(core) == 22
    assert await relay.relay_once() == 22
    assert await relay.relay_once() == 0
    msgs = await stream_messages(js, stream)
    assert [m.headers["Nats-Msg-Id"] for m in msgs] == [str(e.event_id) for e in stored]
    assert [m.metadata.sequence.stream for m in msgs] == list(range(1, 51))
    assert relay.head_fetches == 0 and relay.published == 50


async def test_a_pass_cut_short_in_a_later_batch_marks_what_was_acknowledged_and_the_rest_follows(
    core: Core, js: Any
) -> None:
    stream = await provision(js, core)
    stored = [e for i in range(30) for e in await core.append("c-1", i)]
    relay = OutboxRelay(
        sessions=core.sessions, stream=stream, jetstream=lambda: FailingMidBatch(js, 17), batch_size=5
    )
    with pytest.raises(ConnectionError):
        await relay.relay_once()
    assert await unpublished(core) == 13  # three batches and two rows of the fourth, marked
    await drain(OutboxRelay(sessions=core.sessions, stream=stream, jetstream=lambda: js, batch_size=5))
    msgs = await stream_messages(js, stream)
    assert [m.headers["Nats-Msg-Id"] for m in msgs] == [str(e.event_id) for e in stored]


class CrashMarkingTheSecondBatch(OutboxRelay):
    """Dies marking the second batch of a pass, while the third is being published."""

    marks = 0

    async def _mark(self, session: Any, rows: list[Any], done: int) -> None:
        self.marks += 1
        if self.marks == 2:
            raise RuntimeError("relay killed marking, a batch in flight")
        await super()._mark(session, rows, done)


async def test_a_relay_killed_mid_pipeline_is_caught_up_from_the_stream_without_duplicates(
    core: Core, js: Any
) -> None:
    stream = await provision(js, core)
    stored = [e for i in range(20) for e in await core.append(f"c-{i % 2}", i)]
    crashing = CrashMarkingTheSecondBatch(
        sessions=core.sessions, stream=stream, jetstream=lambda: js, batch_size=5
    )
    with pytest.raises(RuntimeError):
        await crashing.relay_once()
    # The batch in flight was still awaited: three batches are on the stream. On PostgreSQL
    # the pass's one transaction rolled back (the first batch's marks too); on SQLite the
    # first batch's marks had committed on their own.
    assert len(await stream_messages(js, stream)) == 15
    restarted = OutboxRelay(sessions=core.sessions, stream=stream, jetstream=lambda: js, batch_size=5)
    await drain(restarted)
    assert restarted.published == 5 and restarted.head_fetches == 1  # recognised, then the rest
    msgs = await stream_messages(js, stream)
    assert [m.headers["Nats-Msg-Id"] for m in msgs] == [str(e.event_id) for e in stored]
    assert await unpublished(core) == 0
