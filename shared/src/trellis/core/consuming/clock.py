"""Time as the domain sees it: deadlines, due dates, "late" and "missed" are decided by a clock.

Services take a ``Clock`` instead of calling ``datetime.now``, so tests (and a test
deployment) can move time. The event store still stamps ``occurred_at`` with real time:
the audit trail says when a thing was recorded, the payload says what it was about.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Protocol

from trellis.contracts.envelope import utcnow


class Clock(Protocol):
    def now(self) -> dt.datetime: ...

    def on_change(self, listener: Callable[[], None]) -> None: ...


class SystemClock:
    """Real time. Never moves by hand, so nothing is ever told it did."""

    def now(self) -> dt.datetime:
        return utcnow()

    def on_change(self, listener: Callable[[], None]) -> None:
        return None


class TestClock:
    """A clock tests move. ``frozen``: stands still until moved; otherwise real time plus an offset.

    Listeners (the deadline scheduler) are called after every move, so a test that moves
    the clock past a due date does not wait for a poll interval.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, start: dt.datetime | None = None, *, frozen: bool = True) -> None:
        self.frozen = frozen
        self._at = start or utcnow()
        self._offset = dt.timedelta(0) if start is None else start - utcnow()
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> dt.datetime:
        return self._at if self.frozen else utcnow() + self._offset

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        if delta < dt.timedelta(0):
            raise ValueError("time only moves forward")
        self._at += delta
        self._offset += delta
        self._changed()
        return self.now()

    def set(self, when: dt.datetime) -> dt.datetime:
        if when.tzinfo is None:
            raise ValueError("give an aware datetime")
        return self.advance(when - self.now())

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()
