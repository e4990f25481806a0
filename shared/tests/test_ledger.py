"""The consumer's ledger and its exactly-once batches, without NATS: deliveries built by hand.

Each test runs on SQLite and on PostgreSQL (the ``core`` fixture).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData, insert, select

from trellis.contracts.envelope import EventEnvelope, utcnow
from trellis.core.consuming.delivery import ACK, Delivery, Outcome, RetryPolicy
from trellis.core.consuming.exactly_once import ExactlyOnce
from trellis.core.consuming.handover import GLOBAL_POSITION, Watermark
from trellis.core.consuming.ledger import ConsumerLedger
from trellis.core.store.tables import consumer_failures, dead_letters, processed_events

from .conftest import SERVICE, Core, CounterTotals, registry

RETRY = RetryPolicy(max_attempts=3, delays=(0.5, 2.0))


class Consumer:
    """A projection, its ledger, and a stream sequence counter standing in for the stream."""

    def __init__(self, core: Core, retry: RetryPolicy = RETRY) -> None:
        self.core = core
        self.projection = CounterTotals()
        self.ledger = ConsumerLedger(core.sessions, self.projection.name)
        self.exactly_once = ExactlyOnce(self.ledger, self.projection, retry)
        self.sequences: dict[str, int] = {}

    def delivery(self, envelope: EventEnvelope, *, deliveries: int = 1) -> Delivery:
        event_id = str(envelope.event_id)
        sequence = self.sequences.setdefault(event_id, len(self.sequences) + 1)
        return Delivery.of(
            registry,
            subject=self.core.subjects.for_event(SERVICE, envelope),
            data=envelope.model_dump_json().encode(),
            headers={"Nats-Msg-Id": event_id},
            stream_sequence=sequence,
            deliveries=deliveries,
        )

    async def deliver(self, *envelopes: EventEnvelope) -> list[Outcome]:
        return await self.exactly_once.apply([self.delivery(e) for e in envelopes])

    async def rows(self, table: Any) -> list[Any]:
        async with self.core.sessions() as session:
            query = select(table).where(table.c.consumer == self.ledger.consumer)
            return list((await session.execute(query)).all())


def nak(attempt: int) -> Outcome:
    return Outcome(ack=False, nak_delay=RETRY.delay(attempt))


async def test_a_duplicate_delivery_is_a_no_op(core: Core) -> None:
    consumer = Consumer(core)
    first, second = await core.append("a", 1, 2)
    assert await consumer.deliver(first, second, first) == [ACK, ACK, ACK]
    assert await consumer.deliver(second, first) == [ACK, ACK]
    assert await core.totals() == {"a": (3, 2)}
    assert consumer.projection.calls == 2 and consumer.exactly_once.applied == 2
    assert len(await consumer.rows(processed_events)) == 2


async def test_a_failing_event_is_counted_then_applied_when_it_succeeds(core: Core) -> None:
    consumer = Consumer(core)
    consumer.projection.fail_for = {"a"}
    (event,) = await core.append("a", 5)
    assert await consumer.deliver(event) == [nak(1)]
    assert await consumer.deliver(event) == [nak(2)]
    (failure,) = await consumer.rows(consumer_failures)
    assert failure.attempts == 2 and "cannot count a" in failure.last_error
    assert await core.totals() == {}
    consumer.projection.fail_for = set()
    assert await consumer.deliver(event) == [ACK]
    assert await core.totals() == {"a": (5, 1)}
    assert await consumer.rows(consumer_failures) == []
    assert [r.event_id for r in await consumer.rows(processed_events)] == [str(event.event_id)]


async def test_later_events_of_the_aggregate_wait_in_line_behind_a_failing_one(core: Core) -> None:
    consumer = Consumer(core)
    consumer.projection.fail_for = {"a"}
    first, second = await core.append("a", 1, 10)
    (other,) = await core.append("b", 7)
    assert await consumer.deliver(first, second, other) == [nak(1), nak(1), ACK]
    line = {r.event_id: r for r in await consumer.rows(consumer_failures)}
    assert line[str(first.event_id)].attempts == 1
    assert line[str(second.event_id)].attempts == 0
    assert line[str(second.event_id)].last_error == f"waiting behind {first.event_id}"
    consumer.projection.fail_for = set()
    # the waiting event comes back first: still not its turn
    assert await consumer.deliver(second) == [nak(1)]
    assert await core.totals() == {"b": (7, 1)}
    assert await consumer.deliver(first) == [ACK]
    assert await consumer.deliver(second) == [ACK]
    assert await core.totals() == {"a": (11, 2), "b": (7, 1)}
    assert await consumer.rows(consumer_failures) == []


async def test_an_event_failing_for_good_is_dead_lettered_and_parks_its_aggregate(core: Core) -> None:
    consumer = Consumer(core)
    consumer.projection.fail_for = {"a"}
    first, second = await core.append("a", 1, 2)
    (other,) = await core.append("b", 3)
    for attempt in (1, 2):
        assert await consumer.deliver(first) == [nak(attempt)]
    assert await consumer.deliver(first, other) == [ACK, ACK]
    consumer.projection.fail_for = set()  # fixed, but the aggregate stays parked until a redrive
    assert await consumer.deliver(second) == [ACK]
    letters = sorted(await consumer.rows(dead_letters), key=lambda r: r.id)
    assert [r.event_id for r in letters] == [str(first.event_id), str(second.event_id)]
    assert letters[0].reason == "RuntimeError: cannot count a" and letters[0].deliveries == RETRY.max_attempts
    assert letters[1].reason == f"parked behind dead-lettered event {first.event_id} of the same aggregate"
    assert EventEnvelope.model_validate_json(letters[1].raw).event_id == second.event_id
    assert letters[1].headers == {"Nats-Msg-Id": str(second.event_id)}
    assert letters[1].stream_sequence == consumer.sequences[str(second.event_id)]
    assert await core.totals() == {"b": (3, 1)}
    assert await consumer.rows(consumer_failures) == []


async def test_an_undecodable_message_is_dead_lettered_with_its_reason(core: Core) -> None:
    consumer = Consumer(core)
    junk = Delivery.of(
        registry,
        subject="x.counting.counter.Counted.acme.junk",
        data=b"\x00 not json",
        headers={"Nats-Msg-Id": "junk-1"},
        stream_sequence=9,
        deliveries=4,
    )
    assert await consumer.exactly_once.apply([junk]) == [ACK]
    (letter,) = await consumer.rows(dead_letters)
    assert letter.event_id == "junk-1" and letter.raw == b"\x00 not json"
    assert letter.reason.startswith("not a Trellis event envelope")
    assert (letter.stream_sequence, letter.deliveries, letter.aggregate_id) == (9, 4, None)


async def test_events_under_the_watermark_are_skipped_and_those_above_applied(core: Core) -> None:
    consumer = Consumer(core)
    old, covered, fresh = await core.append("a", 1, 2, 4)
    failures = dead_letters.to_metadata(MetaData(), name="scratch_rebuild_failures")  # the rebuild's
    failures.indexes.clear()
    async with core.engine.begin() as conn:
        await conn.run_sync(failures.metadata.create_all)
        letter = {"consumer": consumer.ledger.consumer, "subject": "s", "deliveries": 1, "raw": b"{}"}
        await conn.execute(insert(failures).values(**letter, event_id="e-z", reason="z", failed_at=utcnow()))
    consumer.projection.fail_for = {"a"}
    assert await consumer.deliver(old, covered) == [nak(1), nak(1)]  # a line the new view covers
    assert covered.global_position is not None
    async with core.sessions() as session, session.begin():
        await consumer.ledger.hand_over(
            session,
            failures=failures,
            rebuild_id="r-1",
            kind=GLOBAL_POSITION,
            position=covered.global_position,
            operator="tester",
        )
    async with core.sessions() as session:
        assert await consumer.ledger.watermark(session) == Watermark(GLOBAL_POSITION, covered.global_position)
    assert await consumer.rows(consumer_failures) == []  # the line the new view covers is gone
    assert [(r.event_id, r.reason) for r in await consumer.rows(dead_letters)] == [("e-z", "z")]
    consumer.projection.fail_for = set()
    assert await consumer.deliver(old, covered, fresh) == [ACK, ACK, ACK]
    assert await core.totals() == {"a": (4, 1)}  # only the event above the watermark
    assert [r.event_id for r in await consumer.rows(processed_events)] == [str(fresh.event_id)]


async def test_a_redrive_applies_the_parked_chain_in_order_and_unparks_the_aggregate(core: Core) -> None:
    consumer = Consumer(core)
    first, second, third = await core.append("a", 1, 2, 4)
    await dead_letter_both(consumer, first, second)
    consumer.projection.fail_for = set()
    chain = sorted(
        [r._mapping for r in await consumer.rows(dead_letters) if r.resolved_at is None],
        key=lambda r: r["id"],
    )
    done = await consumer.ledger.redrive(consumer.projection, registry, chain, operator="tester")
    assert [(r.event_id, r.outcome) for r in done] == [
        (str(first.event_id), "redriven"),
        (str(second.event_id), "redriven"),
    ]
    letters = await consumer.rows(dead_letters)
    assert {(r.resolution, r.resolution_reason, r.resolved_by) for r in letters} == {
        ("redriven", "applied by redrive", "tester")
    }
    assert await consumer.deliver(third) == [ACK]  # no longer parked
    assert await core.totals() == {"a": (7, 3)}
    again = await consumer.ledger.redrive(consumer.projection, registry, chain[:1], operator="tester")
    assert [r.outcome for r in again] == ["already_applied"]
    assert await core.totals() == {"a": (7, 3)}


async def test_a_redrive_that_fails_again_stops_its_chain(core: Core) -> None:
    consumer = Consumer(core)
    first, second = await core.append("a", 1, 2)
    await dead_letter_both(consumer, first, second)
    chain = sorted([r._mapping for r in await consumer.rows(dead_letters)], key=lambda r: r["id"])
    done = await consumer.ledger.redrive(consumer.projection, registry, chain, operator="tester")
    assert [r.outcome for r in done] == ["failed"] and "cannot count a" in done[0].error
    assert all(r.resolved_at is None for r in await consumer.rows(dead_letters))
    assert await consumer.rows(processed_events) == []


async def dead_letter_both(consumer: Consumer, first: EventEnvelope, second: EventEnvelope) -> None:
    """``first`` fails until it is dead-lettered; ``second`` is parked behind it."""
    consumer.projection.fail_for = {first.aggregate_id}
    for _ in range(RETRY.max_attempts - 1):
        await consumer.deliver(first, second)
    assert await consumer.deliver(first, second) == [ACK, ACK]
    assert len(await consumer.rows(dead_letters)) == 2


async def test_an_event_dead_lettered_at_its_first_failure_leaves_no_line_behind(core: Core) -> None:
    """(``max_attempts=1``, or a handler raising ``MalformedEvent``.) Once it is redriven,
    the aggregate's next events apply: no failure row of it holds them back."""
    consumer = Consumer(core, RetryPolicy(max_attempts=1))
    consumer.projection.fail_for = {"a"}
    first, second = await core.append("a", 1, 2)
    assert await consumer.deliver(first) == [ACK]
    assert await consumer.rows(consumer_failures) == []
    consumer.projection.fail_for = set()
    chain = [r._mapping for r in await consumer.rows(dead_letters)]
    await consumer.ledger.redrive(consumer.projection, registry, chain, operator="tester")
    assert await consumer.deliver(second) == [ACK]
    assert await core.totals() == {"a": (3, 2)}
