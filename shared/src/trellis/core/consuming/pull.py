"""A durable pull consumer's messages as they come: the runner's lean pull loop.

nats-py's ``PullSubscription.fetch`` answers one batch per call. When it finds nothing
at once it leaves a waiting pull request behind, and a message that reaches that request
is returned only when the batch is full or the fetch times out: measured against a real
server (``bench/idle_latency.py``), three to seven events in a hundred reaching an idle
consumer waited a quarter of a second or more, up to the whole fetch timeout (a second),
before its projection saw them. And every call pays a request round trip.

``PullFeed`` keeps pull requests open instead, the way the newer NATS clients consume: the
server pushes messages into one inbox while the runner applies the batch before, and
``fetch`` hands over whatever is there at once (up to a batch), waiting only when nothing
is. It asks for more (a pull request with an expiry, never ``no_wait``) whenever what it
is owed falls below a batch, so under a backlog the next batch is already in hand when the
last one is applied, and an idle consumer has one request open at a time.

The server's status messages on the inbox:

- ``408`` (the request expired) and ``404`` (nothing left, for a ``no_wait`` request) end
  the oldest open request; ``409`` ends one too (a leadership change, a server shutting
  down, a limit), except a deleted consumer, which is an error (``ConsumerGone``: the runner
  provisions it again). Any other status is an error the runner backs off from.
- ``100`` (heartbeat, flow control) is not asked for, and ignored.
- A request whose end never came (the server restarted, the leader moved) is dropped by the
  clock a moment after its expiry.

``close`` waits for the open requests to end, then hands back (naks) everything received
and not handed over, so nothing waits out its ack wait on an inbox nobody reads. Not
sooner: a message naked while a request is open would be redelivered to that very request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

log = structlog.get_logger("trellis.consumer")

__all__ = ["ConsumerGone", "PullFeed"]

_GRACE = 0.5  # how long past its expiry a request may still be ended by the server's word


class ConsumerGone(Exception):
    """The server says the durable consumer this feed pulls from is no more."""


@dataclass
class _Request:
    left: int  # messages the server may still send for it
    expires_at: float  # monotonic


class PullFeed:
    """The messages of durable consumer ``durable`` on ``stream``, ``batch`` at a time."""

    def __init__(
        self,
        nc: NATS,
        *,
        api_prefix: str,
        stream: str,
        durable: str,
        batch: int,
        expires: float = 1.0,
    ) -> None:
        if batch < 1 or expires <= 0:
            raise ValueError("a pull feed needs a batch of at least 1 and a positive expiry")
        self.nc = nc
        self.batch = batch
        self.expires = expires
        self._next_subject = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = nc.new_inbox()
        self._sub: Subscription | None = None
        self._received: deque[Msg] = deque()
        self._arrived = asyncio.Event()
        self._requests: deque[_Request] = deque()  # open, oldest first
        self._failure: Exception | None = None
        self._closing = False
        self.requests_sent = 0

    @classmethod
    def of(cls, js: JetStreamContext, *, stream: str, durable: str, batch: int, expires: float) -> PullFeed:
        """A feed on ``js``'s connection and API prefix (an imported account's, say).

        nats-py keeps both only as private attributes of the context; read here, once."""
        nc: NATS = js._nc
        prefix: str = js._prefix
        return cls(nc, api_prefix=prefix, stream=stream, durable=durable, batch=batch, expires=expires)

    async def start(self) -> None:
        # the callback only moves each message to ``_received``: the client's own pending
        # queue stays short, far under its limits (the credits asked for are two batches)
        self._sub = await self.nc.subscribe(self._inbox, cb=self._on_message)

    @property
    def owed(self) -> int:
        """Messages the open requests may still bring."""
        return sum(request.left for request in self._requests)

    async def fetch(self, timeout: float) -> list[Msg]:
        """Up to a batch of messages: those already here at once, or the first ones to come
        within ``timeout`` seconds (an empty list if none does)."""
        deadline = time.monotonic() + timeout
        while True:
            self._arrived.clear()  # before looking: an arrival from here on sets it again
            if self._closing:
                return []
            if self._failure is not None:
                failure, self._failure = self._failure, None
                raise failure
            self._forget_expired()
            if self._received:
                msgs = [self._received.popleft() for _ in range(min(self.batch, len(self._received)))]
                await self._ask_for_more()
                return msgs
            await self._ask_for_more()
            if self._received or self._failure is not None:
                continue  # came while the request was being sent
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            # wake in time to renew a request that expires before our deadline
            wait = min(remaining, self._next_expiry() - time.monotonic() + _GRACE)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), max(wait, 0.001))

    def interrupt(self) -> None:
        """Have a ``fetch`` that waits return empty-handed now, and every later one too."""
        self._closing = True
        self._arrived.set()

    async def close(self) -> None:
        """Hand back everything received and not handed over, and whatever the open requests
        still bring until they end; then stop listening."""
        self._closing = True
        # naked only once no request is open: naked earlier, a message would be redelivered
        # at once to the very request still open here, over and over
        while self._requests:
            self._arrived.clear()
            self._forget_expired()
            if not self._requests:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), self._next_expiry() - time.monotonic() + _GRACE)
        await self._nak_received()
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        await self._nak_received()  # anything the client had queued for the callback already

    async def _ask_for_more(self) -> None:
        """Keep the server sending: when less than a batch is owed and in hand, ask for
        enough to make two (one being applied, the next on its way)."""
        if self._closing:
            return
        have = self.owed + len(self._received)
        if have >= self.batch:
            return
        wanted = 2 * self.batch - have
        expires = self.expires
        request = {"batch": wanted, "expires": int(expires * 1_000_000_000)}
        self._requests.append(_Request(left=wanted, expires_at=time.monotonic() + expires))
        self.requests_sent += 1
        await self.nc.publish(self._next_subject, json.dumps(request).encode(), reply=self._inbox)

    def _next_expiry(self) -> float:
        if not self._requests:
            return time.monotonic() + self.expires
        return min(request.expires_at for request in self._requests)

    def _forget_expired(self) -> None:
        """Drop requests whose end the server never told (it restarted, the leader moved)."""
        now = time.monotonic()
        while self._requests and self._requests[0].expires_at + _GRACE < now:
            self._requests.popleft()

    async def _on_message(self, msg: Msg) -> None:
        if msg.reply or not msg.headers or "Status" not in msg.headers:
            self._count_delivery()
            self._received.append(msg)
            self._arrived.set()
            return
        status, description = msg.headers.get("Status", ""), msg.headers.get("Description", "")
        if status == "408" or status == "404":
            if self._requests:
                self._requests.popleft()  # the oldest request is over (expired, or nothing left)
        elif status == "409":
            if "consumer deleted" in description.lower() or "push based" in description.lower():
                self._failure = ConsumerGone(f"{status} {description}")
                self._requests.clear()  # nothing more comes for any of them
            else:  # leadership change, server shutdown, a limit exceeded: that request is over
                log.info("consumer.pull_request_ended", status=status, description=description)
                if self._requests:
                    self._requests.popleft()
        elif status == "100":
            return  # heartbeat or flow control: not asked for, nothing to do
        else:
            self._failure = ConnectionError(f"pull request refused: {status} {description}")
            if self._requests:
                self._requests.popleft()
        self._arrived.set()

    def _count_delivery(self) -> None:
        """One credit of the oldest open request is used; a request that got its whole
        batch ends without a word from the server."""
        if not self._requests:
            return  # a late delivery for a request dropped by the clock
        oldest = self._requests[0]
        oldest.left -= 1
        if oldest.left <= 0:
            self._requests.popleft()

    async def _nak_received(self) -> None:
        while self._received:
            msg = self._received.popleft()
            with contextlib.suppress(Exception):
                await msg.nak()
