"""An inline projection writes a new aggregate's first events in the appending transaction;
the consumer, given them again from the stream, skips them and applies the later ones."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from trellis.core.consuming.inline import InlineProjection
from trellis.core.store.tables import dead_letters, processed_events
from trellis.testing import eventually

from .conftest import Core, CounterTotals, registry
from .test_ops_rebuild import Running


def _inline(core: Core, projection: CounterTotals) -> None:
    core.store.after_append(InlineProjection(projection, registry=registry, sessions=core.sessions))


async def _processed(core: Core) -> int:
    async with core.sessions() as session:
        return len((await session.execute(select(processed_events.c.event_id))).all())


async def test_a_new_aggregate_is_in_the_view_when_its_append_commits(core: Core) -> None:
    _inline(core, CounterTotals())
    await core.append("c-1", 2, 3)  # one transaction creating the counter: applied inline
    assert await core.totals() == {"c-1": (5, 2)}
    assert await _processed(core) == 2
    await core.append("c-1", 4)  # an existing aggregate: left to the consumer
    assert await core.totals() == {"c-1": (5, 2)}


async def test_the_consumer_skips_what_was_applied_inline_and_applies_the_rest_in_order(
    core: Core, js: Any
) -> None:
    inline, live = CounterTotals(), CounterTotals()
    _inline(core, inline)
    running = await Running(core, js, live).start()
    try:
        for i in range(5):
            await running.append(f"c-{i}", 1)  # created: inline
            await running.append(f"c-{i}", 10)  # later: through the stream
        await running.settled()  # each counter: total 11, applied exactly twice
        assert inline.calls == 5
        await eventually(lambda: _equals(_processed(core), 10))
        await asyncio.sleep(0.3)  # the consumer has seen every delivery: nothing applied twice
        assert live.calls == 5 and await core.totals() == running.expected()
    finally:
        await running.stop()


async def test_a_handler_failing_inline_fails_neither_the_command_nor_the_event(core: Core, js: Any) -> None:
    inline, live = CounterTotals(), CounterTotals()
    inline.fail_for.add("c-1")
    _inline(core, inline)
    running = await Running(core, js, live).start()
    try:
        await running.append("c-1", 7)  # the command commits although the inline apply failed
        assert await core.totals() == {}
        await running.settled()  # the consumer applied it from the stream
        async with core.sessions() as session:
            assert (await session.execute(select(dead_letters))).first() is None
    finally:
        await running.stop()


async def _equals(value: Any, expected: Any) -> bool:
    return await value == expected
