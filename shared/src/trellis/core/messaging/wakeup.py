"""Wake the relay of another process when a command commits (PostgreSQL).

On PostgreSQL a service may run its API in several processes and its relay and
consumers in another (``run_relay`` / ``run_consumers``), or several instances that take
turns at the relay. A commit wakes the relay of its own process at once (an in-process
callback); a relay elsewhere would otherwise wait for its poll interval (half a second).
So every append also says ``pg_notify('trellis_outbox', current_schema())`` in the same
statement that takes the append lock (no extra round trip; PostgreSQL delivers it at
commit, and not at all on rollback), and each running relay listens on one connection
of its own and wakes when its schema is named. A lost listening connection is
reconnected with a backoff; meanwhile the poll interval still bounds the delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from trellis.core.store.append_lock import OUTBOX_CHANNEL as CHANNEL

log = structlog.get_logger("trellis.outbox")


class CommitWakeups:
    """Calls ``wake`` whenever a transaction that appended events to ``schema`` commits,
    in any process on the same PostgreSQL database."""

    def __init__(self, engine: AsyncEngine, schema: str | None, wake: Callable[[], None]) -> None:
        self.engine = engine
        self.schema = schema or "public"
        self.wake = wake
        self.received = 0

    def _on_notify(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload == self.schema:
            self.received += 1
            self.wake()

    async def run(self) -> None:
        """Listen until cancelled, reconnecting when the connection is lost."""
        failures = 0
        while True:
            try:
                await self._listen()
                failures = 0
                log.warning("outbox.listen_lost", channel=CHANNEL)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.warning("outbox.listen_failed", error=repr(exc), attempt=failures)
            await asyncio.sleep(min(5.0, 0.1 * 2**failures) * (0.5 + random.random() / 2))

    async def _listen(self) -> None:
        """Hold one connection listening until it is lost."""
        lost = asyncio.Event()
        async with self.engine.connect() as connection:
            # Outside any transaction: a LISTEN inside one takes effect only at its commit
            # (and a checkout begins one: ``store.database``).
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            raw = (await connection.get_raw_connection()).driver_connection
            if raw is None:
                raise ConnectionError("no driver connection to listen on")
            raw.add_termination_listener(lambda _connection: lost.set())
            await raw.add_listener(CHANNEL, self._on_notify)
            log.info("outbox.listening", channel=CHANNEL, schema=self.schema)
            self.wake()  # a commit while no one listened: look now
            try:
                await lost.wait()
            finally:
                with contextlib.suppress(Exception):
                    await raw.remove_listener(CHANNEL, self._on_notify)
