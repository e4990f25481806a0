"""``Idempotency-Key``: a client that retries a change after a timeout gets the first answer.

Stripe's convention, on every ``POST``, ``PUT``, ``PATCH`` and ``DELETE``: a request that
carries ``Idempotency-Key: <1 to 255 visible ASCII characters>`` is run once per (tenant,
caller, key) for 24 hours. Its answer (status, body, ``Content-Type``, ``Location``,
``ETag``) is stored and replayed, with ``Idempotent-Replayed: true``, to a retry of the same
request; the same key on a different request (method, path, query, ``If-Match`` or body
differ) is refused with 422 ``idempotency_key_reused``. A retry arriving while the first is
still running waits for its answer. Without the header nothing of this runs.

How it holds when things fail:

- The key is reserved (a row in ``idempotency_keys``, leased for ``lease`` seconds) before
  the request runs, in its own short transaction.
- ``committed_at`` is set *in the command's own transaction*, by an append hook of the
  event store (``EventStore.after_append``): the command's events and the mark commit
  together. A key whose command committed is never run again, even if the process died
  before the answer was stored; a retry then gets 409 ``idempotency_outcome_unknown``
  (the change was made; read the resource) instead of a second change.
- A request that did not commit (a crash, a 5xx, or a transient refusal: 429, 503) frees
  its key, so the retry runs. 4xx answers are stored like any other: the same request
  would be refused the same way.
- Expired keys are deleted now and then, by the requests that reserve keys.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trellis.contracts.envelope import EventEnvelope, utcnow
from trellis.core.errors import Unauthenticated
from trellis.core.runtime.admission import header
from trellis.core.runtime.auth import TokenVerifier
from trellis.core.store.tables import idempotency_keys
from trellis.core.store.transaction import Transaction

log = structlog.get_logger("trellis.idempotency")

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_KEPT_HEADERS = (b"content-type", b"location", b"etag")
_TRANSIENT = frozenset({429, 503})

# (tenant, caller, key) of the request this task is running, for the append hook
_RUNNING: contextvars.ContextVar[tuple[str, str, str] | None] = contextvars.ContextVar(
    "trellis_idempotency_key", default=None
)


@dataclass(frozen=True)
class Stored:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Refused:
    status: int
    code: str
    message: str


class IdempotencyKeys:
    """The keys of one service's database."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        ttl: dt.timedelta = dt.timedelta(hours=24),
        lease: dt.timedelta = dt.timedelta(seconds=60),
        poll: float = 0.05,
        now: Callable[[], dt.datetime] = utcnow,
        purge_chance: float = 0.01,
    ) -> None:
        self.sessions = sessions
        self.ttl = ttl
        self.lease = lease
        self.poll = poll
        self.now = now
        self.purge_chance = purge_chance  # of a reservation deleting every expired key

    async def reserve(self, who: tuple[str, str, str], request_hash: str) -> Stored | Refused | None:
        """``None``: the request is the key's to run; else the stored answer or a refusal."""
        tenant, actor, key = who
        k = idempotency_keys.c
        mine = (k.tenant_id == tenant) & (k.actor_id == actor) & (k.key == key)
        while True:
            now = self.now()
            async with self.sessions() as session, session.begin():
                if random.random() < self.purge_chance:  # now and then, the expired keys go
                    await session.execute(delete(idempotency_keys).where(k.expires_at < now))
                row = (await session.execute(select(idempotency_keys).where(mine))).first()
                if row is not None and _aware(row.expires_at) < now:
                    await session.execute(delete(idempotency_keys).where(mine))
                    row = None
                if row is None:
                    try:
                        async with session.begin_nested():
                            await session.execute(
                                insert(idempotency_keys).values(
                                    tenant_id=tenant,
                                    actor_id=actor,
                                    key=key,
                                    request_hash=request_hash,
                                    locked_until=now + self.lease,
                                    created_at=now,
                                    expires_at=now + self.ttl,
                                )
                            )
                        return None
                    except IntegrityError:
                        continue  # another request took it meanwhile: look again
                if row.request_hash != request_hash:
                    return Refused(
                        422,
                        "idempotency_key_reused",
                        f"this {HEADER} was used for another request; use a new key for a new request",
                    )
                if row.status is not None:
                    return Stored(row.status, [tuple(h) for h in row.headers or []], row.body or b"")
                if _aware(row.locked_until) <= now:
                    if row.committed_at is not None:
                        return Refused(
                            409,
                            "idempotency_outcome_unknown",
                            "the first request with this key made its change, but its answer was "
                            "lost: read the resource to see it",
                        )
                    # the first one stopped before making any change: this one runs
                    await session.execute(
                        update(idempotency_keys).where(mine).values(locked_until=now + self.lease)
                    )
                    return None
            await asyncio.sleep(self.poll)  # the first is running: wait for its answer

    async def store(self, who: tuple[str, str, str], answer: Stored) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(idempotency_keys)
                .where(*_key(who))
                .values(status=answer.status, headers=[list(h) for h in answer.headers], body=answer.body)
            )

    async def release(self, who: tuple[str, str, str]) -> None:
        """Free the key of a request that made no change (its retry runs)."""
        k = idempotency_keys.c
        async with self.sessions() as session, session.begin():
            await session.execute(delete(idempotency_keys).where(*_key(who), k.committed_at.is_(None)))

    async def mark_committed(self, session: Transaction, _stored: list[EventEnvelope]) -> None:
        """The event store's append hook: the running request's key, in the command's transaction."""
        who = _RUNNING.get()
        if who is None:
            return
        k = idempotency_keys.c
        await session.execute(
            update(idempotency_keys)
            .where(*_key(who), k.committed_at.is_(None))
            .values(committed_at=self.now())
        )


class IdempotencyMiddleware:
    """Runs a change that carries an ``Idempotency-Key`` at most once (see the module)."""

    def __init__(self, app: ASGIApp, *, keys: IdempotencyKeys, verifier: TokenVerifier) -> None:
        self.app = app
        self.keys = keys
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = header(scope, b"idempotency-key") if scope["type"] == "http" else None
        if raw is None or scope["method"] not in _CHANGES:
            await self.app(scope, receive, send)
            return
        actor = await self._caller(scope)
        if actor is None:  # no valid token: the route answers 401
            await self.app(scope, receive, send)
            return
        key = raw.decode("latin-1")
        if not 0 < len(key) <= 255 or not all(0x21 <= ord(ch) <= 0x7E for ch in key):
            await _send_error(
                send,
                Refused(
                    400, "invalid_idempotency_key", f"{HEADER} must be 1 to 255 visible ASCII characters"
                ),
            )
            return
        body = await _read_body(receive)
        who = (actor[0], actor[1], key)
        outcome = await self.keys.reserve(who, _fingerprint(scope, body))
        if isinstance(outcome, Refused):
            await _send_error(send, outcome)
            return
        if isinstance(outcome, Stored):
            await _send_stored(send, outcome)
            return
        await self._run(scope, body, send, who)

    async def _run(self, scope: Scope, body: bytes, send: Send, who: tuple[str, str, str]) -> None:
        status = 500
        headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []
        sent = False

        async def once() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in message.get("headers", ())
                    if name.lower() in _KEPT_HEADERS
                ]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        running = _RUNNING.set(who)
        try:
            await self.app(scope, once, capture)
        except BaseException:
            await self.keys.release(who)
            raise
        finally:
            _RUNNING.reset(running)
        if status >= 500 or status in _TRANSIENT:
            await self.keys.release(who)  # unless its command committed: then it is kept
            return
        await self.keys.store(who, Stored(status, headers, b"".join(chunks)))

    async def _caller(self, scope: Scope) -> tuple[str, str] | None:
        value = header(scope, b"authorization")
        if value is None:
            return None
        scheme, _, token = value.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            actor = await self.verifier.verify_fetching(token)
        except Unauthenticated:
            return None
        return actor.tenant_id, actor.employee_id


def _key(who: tuple[str, str, str]) -> tuple[Any, ...]:
    k = idempotency_keys.c
    return (k.tenant_id == who[0], k.actor_id == who[1], k.key == who[2])


def _fingerprint(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (
        scope["method"].encode(),
        scope.get("path", "").encode(),
        scope.get("query_string", b""),
        header(scope, b"if-match") or b"",
        body,
    ):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


async def _read_body(receive: Receive) -> bytes:
    """The whole body (the body limit in front has bounded it already)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send_stored(send: Send, answer: Stored, *, replayed: bool = True) -> None:
    headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in answer.headers]
    headers.append((b"content-length", str(len(answer.body)).encode()))
    if replayed:
        headers.append((REPLAYED.lower().encode(), b"true"))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


async def _send_error(send: Send, refused: Refused) -> None:
    body = json.dumps({"error": {"code": refused.code, "message": refused.message, "details": {}}}).encode()
    await _send_stored(
        send, Stored(refused.status, [("content-type", "application/json")], body), replayed=False
    )


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
