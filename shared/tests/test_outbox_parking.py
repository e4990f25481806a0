"""Outbox rows NATS can never accept are parked; the rest flows; per aggregate nothing overtakes.

On a real nats-server, on SQLite and PostgreSQL: a row bigger than the server's max_payload
(or the stream's max_msg_size, or with a subject the stream does not capture) is parked with
its reason instead of stopping the outbox; other aggregates' rows keep flowing; the later
rows of its aggregate wait behind it; retrying (after a fix) or dropping it lets them go,
in order.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from nats.js.api import StreamConfig
from sqlalchemy import select, update
from structlog.testing import capture_logs

from trellis.contracts.envelope import EventEnvelope
from trellis.core.messaging.jetstream import connect
from trellis.core.messaging.outbox import OutboxRelay
from trellis.core.messaging.outbox_parked import Publishability, dead_rows, figures, resolve
from trellis.core.runtime.embedded import EmbeddedNats
from trellis.core.store.tables import outbox
from trellis.testing import eventually

from .conftest import SERVICE, Core
from .test_outbox_relay import CrashBeforeMarking, drain, provision, stream_messages


async def interleaved(core: Core, rounds: int = 3) -> dict[str, list[EventEnvelope]]:
    """Events of counters a and b, committed alternately: a1 b1 a2 b2 a3 b3."""
    stored: dict[str, list[EventEnvelope]] = {"a": [], "b": []}
    for i in range(rounds):
        for counter in ("a", "b"):
            stored[counter] += await core.append(counter, i + 1)
    return stored


async def spoil(core: Core, event: EventEnvelope, **values: Any) -> None:
    async with core.sessions() as session, session.begin():
        await session.execute(update(outbox).where(outbox.c.event_id == str(event.event_id)).values(**values))


async def row_of(core: Core, event: EventEnvelope) -> Any:
    async with core.sessions() as session:
        return (await session.execute(select(outbox).where(outbox.c.event_id == str(event.event_id)))).one()


async def on_stream(js: Any, stream: str) -> list[str]:
    return [m.headers["Nats-Msg-Id"] for m in await stream_messages(js, stream)]


def ids(*events: EventEnvelope) -> list[str]:
    return [str(e.event_id) for e in events]


def relay_on(core: Core, js: Any, stream: str) -> OutboxRelay:
    return OutboxRelay(sessions=core.sessions, stream=stream, jetstream=lambda: js, batch_size=4)


async def test_a_row_over_max_payload_is_parked_while_other_aggregates_flow_and_its_own_wait(
    core: Core, js: Any
) -> None:
    stream = await provision(js, core)
    stored = await interleaved(core)
    a1, a2, a3 = stored["a"]
    b1, b2, b3 = stored["b"]
    await spoil(core, a2, body=b"x" * (js._nc.max_payload + 1))

    relay = relay_on(core, js, stream)
    with capture_logs() as logs:
        await drain(relay)
    assert await on_stream(js, stream) == ids(a1, b1, b2, b3)  # a3 did not overtake a2
    [told] = [e for e in logs if e["event"] == "outbox.row_parked"]
    assert told["log_level"] == "error" and told["event_id"] == str(a2.event_id)
    parked = await row_of(core, a2)
    assert parked.parked_at is not None and parked.published_at is None
    assert "exceeds the server's max_payload" in parked.last_error
    waiting = await row_of(core, a3)
    assert waiting.parked_at is None and waiting.published_at is None
    assert await relay.pending() == 0  # nothing the relay can do: it does not spin on them

    # Later events: b's flow, a's line up behind a2.
    [b4] = await core.append("b", 4)
    [a4] = await core.append("a", 4)
    await drain(relay)
    assert await on_stream(js, stream) == ids(a1, b1, b2, b3, b4)
    async with core.sessions() as session:
        box = await figures(session)
        [dead] = await dead_rows(session)
    assert (box.unpublished, box.dead, box.held) == (3, 1, 2)
    assert (dead["event_id"], dead["aggregate_id"], dead["held_behind"]) == (str(a2.event_id), "a", 2)
    assert relay.published == 5 and relay.parked == 1
    assert (await row_of(core, a4)).published_at is None


async def test_subjects_the_stream_cannot_take_are_parked(core: Core, js: Any) -> None:
    stream = await provision(js, core)
    stored = await interleaved(core, rounds=2)
    (a1, a2), (b1, b2) = stored["a"], stored["b"]
    root = core.subjects.root
    await spoil(core, a1, subject=f"{root}.elsewhere.counter.Counted.acme.a")
    await spoil(core, b2, subject=f"{root}.{SERVICE}..Counted.acme.b")
    await drain(relay_on(core, js, stream))
    assert await on_stream(js, stream) == ids(b1)
    assert "not captured by the stream" in (await row_of(core, a1)).last_error
    assert "invalid subject" in (await row_of(core, b2)).last_error
    assert (await row_of(core, a2)).parked_at is None  # held behind a1


class StaleStreamView(OutboxRelay):
    """Reads the stream's configuration before an operator lowers its max_msg_size."""

    async def _stream_head(self, js: Any) -> tuple[int, str | None, StreamConfig]:
        last_seq, last_id, config = await super()._stream_head(js)
        config.max_msg_size = -1
        return last_seq, last_id, config


async def refusing_stream(core: Core, js: Any) -> str:
    stream = core.subjects.stream(SERVICE)
    subjects = [core.subjects.all_of(SERVICE)]
    await js.add_stream(StreamConfig(name=stream, subjects=subjects, max_msg_size=4096))
    return stream


@pytest.mark.parametrize("relay_class", [OutboxRelay, StaleStreamView])
async def test_a_message_over_the_streams_max_msg_size_is_parked_and_the_rest_follows(
    core: Core, js: Any, relay_class: type[OutboxRelay]
) -> None:
    stream = await refusing_stream(core, js)
    stored = await interleaved(core)
    a1, a2, a3 = stored["a"]
    b1, b2, b3 = stored["b"]
    await spoil(core, a2, body=b"x" * 8000)  # under max_payload: only the stream refuses it
    relay = relay_class(sessions=core.sessions, stream=stream, jetstream=lambda: js, ack_timeout=1.0)
    await drain(relay)
    assert await on_stream(js, stream) == ids(a1, b1, b2, b3)
    reason = (await row_of(core, a2)).last_error
    if relay_class is StaleStreamView:  # found out by the server's refusal
        assert "refused by the stream: message size exceeds maximum allowed (10054)" in reason
    else:
        assert "exceeds the stream's max_msg_size of 4,096 bytes" in reason
    assert (await row_of(core, a3)).parked_at is None


async def test_dropping_a_dead_row_lets_the_rows_behind_it_go_in_order(core: Core, js: Any) -> None:
    stream = await provision(js, core)
    stored = await interleaved(core)
    a1, a2, a3 = stored["a"]
    b1, b2, b3 = stored["b"]
    await spoil(core, a2, body=b"x" * (js._nc.max_payload + 1))
    relay = relay_on(core, js, stream)
    await drain(relay)
    async with core.sessions() as session, session.begin():
        dropped = await resolve(session, str(a2.event_id), retry=False)
        assert await resolve(session, str(b1.event_id), retry=False) is None  # not a dead row
    assert dropped is not None and dropped["outcome"] == "dropped" and dropped["requeued"] == 1
    await drain(relay)
    assert await on_stream(js, stream) == ids(a1, b1, b2, b3, a3)
    async with core.sessions() as session:
        box = await figures(session)
    assert (box.unpublished, box.dead, box.held) == (0, 0, 0)


async def test_a_relay_killed_after_publishing_leaves_parked_and_held_rows_alone(core: Core, js: Any) -> None:
    stream = await provision(js, core)
    stored = await interleaved(core)
    _a1, a2, a3 = stored["a"]
    await spoil(core, a2, body=b"x" * (js._nc.max_payload + 1))
    await drain(relay_on(core, js, stream))
    [b4] = await core.append("b", 4)
    with pytest.raises(RuntimeError):
        await CrashBeforeMarking(sessions=core.sessions, stream=stream, jetstream=lambda: js).relay_once()
    restarted = relay_on(core, js, stream)
    await drain(restarted)  # recognises b4 on the stream; a3 was never sent
    assert restarted.published == 0
    assert (await row_of(core, b4)).published_at is not None
    assert (await row_of(core, a3)).published_at is None
    assert (await row_of(core, a2)).published_at is None


async def test_retried_after_the_server_takes_bigger_messages_it_is_published_before_its_followers(
    core: Core, tmp_path: Path
) -> None:
    config = tmp_path / "nats.conf"
    config.write_text("max_payload: 4096\n")
    server = EmbeddedNats(tmp_path / "nats", config_file=config)
    server.start()
    nc = await connect(server.url, name="parking-test")
    try:
        js = nc.jetstream()
        stream = await provision(js, core)
        stored = await interleaved(core)
        a1, a2, a3 = stored["a"]
        b1, b2, b3 = stored["b"]
        big = json.loads((await row_of(core, a2)).body)
        big["payload"]["note"] = "y" * 6000
        await spoil(core, a2, body=json.dumps(big).encode())
        relay = relay_on(core, js, stream)
        await drain(relay)
        assert await on_stream(js, stream) == ids(a1, b1, b2, b3)
        assert "max_payload of 4,096 bytes" in (await row_of(core, a2)).last_error

        # The fix: the server now takes messages up to 1 MB.
        server.stop()
        config.write_text("max_payload: 1048576\n")
        server.start()
        await eventually(lambda: _reconnected_with_1mb(nc), timeout=20)
        async with core.sessions() as session, session.begin():
            retried = await resolve(session, str(a2.event_id), retry=True)
        assert retried is not None and retried["requeued"] == 2
        await drain(relay)
        assert await on_stream(js, stream) == ids(a1, b1, b2, b3, a2, a3)
        async with core.sessions() as session:
            box = await figures(session)
        assert (box.unpublished, box.dead, box.held) == (0, 0, 0)
    finally:
        await nc.close()
        server.stop()


async def _reconnected_with_1mb(nc: Any) -> bool:
    return bool(nc.is_connected and nc.max_payload == 1048576)


def test_publishability_follows_nats_wildcards_subject_rules_and_sizes() -> None:
    def why(subject: str, *patterns: str, body: bytes = b"{}", **limits: Any) -> str | None:
        check = Publishability(
            max_payload=limits.get("max_payload"),
            stream_subjects=list(patterns),
            max_msg_size=limits.get("max_msg_size", -1),
        )
        return check(SimpleNamespace(subject=subject, body=body))

    assert why("t.goals.goal.Created.acme.g1", "t.goals.>") is None
    assert why("t.goals", "t.goals.>") is not None  # ">" needs at least one more token
    assert why("t.goals.x", "t.*.x") is None and why("t.goals.y", "t.*.x") is not None
    assert why("t.goals.x", "t.goals") is not None
    assert why("t.goals.x", "other.>", "t.*.x") is None  # any pattern of the stream
    assert why("t.goals.x", ">") is None
    assert why("anything") is None  # no patterns known: no check
    assert why("t.go.als", "t.go\\.als") is not None  # a pattern is literal, never a regex
    for invalid in ("t..x", "t.x.", ".t", "t.*", "t.>", "t. x", "t.x\n", ""):
        assert "invalid subject" in (why(invalid, "t.>") or ""), invalid
    assert "max_payload of 100" in (why("t.x", "t.>", body=b"x" * 100, max_payload=100) or "")
    assert "max_msg_size of 100" in (why("t.x", "t.>", body=b"x" * 100, max_msg_size=100) or "")
    assert why("t.x", "t.>", body=b"x" * 10, max_payload=1000, max_msg_size=1000) is None


async def test_a_row_no_server_takes_in_a_later_batch_of_a_pass_is_parked_before_anything_after_it_goes(
    core: Core, js: Any
) -> None:
    stream = await provision(js, core)
    stored = await interleaved(core, rounds=6)  # a1 b1 a2 b2 ... a6 b6: three batches of four
    a5 = stored["a"][4]
    await spoil(core, a5, body=b"x" * (js._nc.max_payload + 1))  # in the third batch
    relay = relay_on(core, js, stream)
    assert await relay.relay_once() == 8  # the first two batches; the pass stops before the third
    assert relay.parked == 0
    await drain(relay)
    assert relay.parked == 1
    expected = [e for pair in zip(stored["a"], stored["b"], strict=True) for e in pair]
    held = {str(a5.event_id), str(stored["a"][5].event_id)}
    assert await on_stream(js, stream) == [str(e.event_id) for e in expected if str(e.event_id) not in held]
