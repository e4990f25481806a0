"""Admission: what a service refuses before it does any work for a request.

Two ASGI middlewares sit in front of every service's app, so that neither the body
parser nor authentication nor a command handler runs for a refused request:

- ``BodySizeLimit`` refuses a body above ``max_body_bytes`` with 413: at once when its
  ``Content-Length`` says so (the body is never read), and by counting the chunks of a
  body sent without one. Without it a 150 MB body was read and parsed before the token
  was checked, and the process grew past its memory limit.
- ``AdmissionControl`` bounds the requests in flight. Past saturation an asyncio service
  otherwise queues without limit: under twice the rate it could serve, every command
  waited seconds. Commands (POST/PUT/PATCH/DELETE) have their own bound; reads a larger
  one (they are cheaper, but they share the event loop and the connection pool, so an
  unbounded flood of reads queues the commands behind it too). Beyond a bound it answers
  503 with ``Retry-After`` at once, and readiness reports the service overloaded so a load
  balancer steers new requests elsewhere. Optionally each tenant has a token bucket of
  commands (429 beyond it), so one tenant's burst cannot take the whole bound.

Every refusal carries the one error body, ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trellis.core import metrics
from trellis.core.errors import Unauthenticated
from trellis.core.runtime.auth import TokenVerifier
from trellis.core.runtime.http import error_body

log = structlog.get_logger("trellis.admission")

COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Never refused: a load balancer must always be able to ask whether the service is alive
# and whether it should get requests.
OPERATIONS_PATHS = frozenset({"/health", "/ready", "/metrics"})
# A refusal this recent still counts as overload for readiness (a load balancer polls
# every few seconds: "at the bound at this very instant" would rarely be seen).
OVERLOAD_MEMORY = 1.0


async def refuse(
    send: Send,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> None:
    metrics.REFUSED.labels(code).inc()
    response = JSONResponse(error_body(code, message, details), status, headers=headers)
    await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:  # a response never reads the request
    return {"type": "http.disconnect"}


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value)
    return None


class BodyTooLarge(Exception):
    """Raised into the app by the counting ``receive`` when a body passes the limit."""


class BodySizeLimit:
    """Refuses request bodies above ``max_bytes`` with 413, before anything parses them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send, declared=int(declared))
            return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLarge(f"request body over {self.max_bytes} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the app makes of the exception, the answer is 413
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await self._too_large(send, declared=None)

    async def _too_large(self, send: Send, *, declared: int | None) -> None:
        details: dict[str, Any] = {"max_bytes": self.max_bytes}
        if declared is not None:
            details["content_length"] = declared
        # The rest of the body is not read: the connection closes after the answer.
        await refuse(
            send,
            413,
            "payload_too_large",
            f"the request body is larger than {self.max_bytes} bytes",
            details,
            {"Connection": "close"},
        )


@dataclass
class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take a token: 0.0 if there was one, otherwise the seconds until there will be."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class TenantRates:
    """A token bucket of commands per tenant, the tenant read from a verified token.

    Verification happens once per token (cached for ``cache_seconds``): an unverified
    token could name any tenant and drain another tenant's bucket. A request whose token
    does not verify is not bucketed; the route refuses it with 401 as usual.
    """

    rate: float
    burst: float
    verifier: TokenVerifier
    clock: Callable[[], float] = time.monotonic
    cache_seconds: float = 60.0
    cache_size: int = 10_000
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    _tenants: dict[str, tuple[str, float]] = field(default_factory=dict)

    def tenant_of(self, scope: Scope) -> str | None:
        value = header(scope, b"authorization")
        if value is None:
            return None
        scheme, _, token = value.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        now = self.clock()
        cached = self._tenants.get(token)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            tenant = self.verifier.verify(token).tenant_id
        except Unauthenticated:
            return None
        if len(self._tenants) >= self.cache_size:
            self._tenants.pop(next(iter(self._tenants)))  # the oldest entry
        self._tenants[token] = (tenant, now + self.cache_seconds)
        return tenant

    def wait(self, tenant: str) -> float:
        """0.0 if ``tenant`` may run a command now, otherwise the seconds until it may."""
        now = self.clock()
        bucket = self.buckets.get(tenant)
        if bucket is None:
            bucket = self.buckets[tenant] = TokenBucket(self.rate, self.burst, self.burst, now)
        return bucket.take(now)


class Admission:
    """The bounds, the requests in flight and the recent refusals of one service process.

    The commands' bound adapts (additive increase, multiplicative decrease, as TCP does):
    a fixed count cannot hold latency, since the commands a process serves in a second
    vary with the machine and its neighbours (the same bound that keeps commands under
    100 ms on an idle machine let them wait seconds on a starved one). Each command that
    took longer than ``latency_target`` while at least half the bound was in flight lowers
    the bound by a tenth (at most once per ``latency_target``, so one slow burst counts
    once); each faster one raises it by ``1/bound`` (about one per round of commands), up
    to ``max_commands``. A slow command with few others in flight was not slowed by the
    queue the bound shortens (a slow database, a big command): it leaves the bound alone.
    """

    def __init__(
        self,
        *,
        max_commands: int,
        max_reads: int,
        retry_after: int,
        latency_target: float = 0.0,
        min_commands: int = 2,
        tenant_rates: TenantRates | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_commands = max_commands  # 0: unbounded
        self.latency_target = latency_target  # 0: the bound stays at max_commands
        self.min_commands = min(min_commands, max_commands)
        self.command_bound = float(max_commands)
        self._last_decrease = -math.inf
        self.max_reads = max_reads  # 0: unbounded
        self.retry_after = retry_after
        self.tenant_rates = tenant_rates
        self.clock = clock
        self.commands = 0
        self.reads = 0
        self.refused = 0  # since the process started
        self._last_refusal = -math.inf
        self._last_logged = -math.inf
        self._refused_since_log = 0

    @property
    def overloaded(self) -> bool:
        """At a bound now, or refused a request for it within the last second."""
        at_bound = self.commands_full or (0 < self.max_reads <= self.reads)
        return at_bound or self.clock() - self._last_refusal < OVERLOAD_MEMORY

    def load(self) -> dict[str, Any]:
        """For readiness: whether the service is overloaded, and the figures saying so."""
        return {
            "status": "overloaded" if self.overloaded else "ok",
            "commands_in_flight": self.commands,
            "command_bound": int(self.command_bound),
            "max_commands_in_flight": self.max_commands,
            "reads_in_flight": self.reads,
            "max_reads_in_flight": self.max_reads,
            "refused": self.refused,
        }

    @property
    def commands_full(self) -> bool:
        return self.max_commands > 0 and self.commands >= int(self.command_bound)

    def command_done(self, seconds: float) -> None:
        """Adapt the commands' bound to how long a command just took (it has left
        ``commands`` already)."""
        if not self.latency_target or not self.max_commands:
            return
        if seconds > self.latency_target:
            if self.commands + 1 < self.command_bound / 2:
                return
            now = self.clock()
            if now - self._last_decrease >= self.latency_target:
                self.command_bound = max(float(self.min_commands), self.command_bound * 0.9)
                self._last_decrease = now
        else:
            self.command_bound = min(float(self.max_commands), self.command_bound + 1 / self.command_bound)

    def note_refusal(self, kind: str) -> None:
        now = self.clock()
        self.refused += 1
        self._last_refusal = now
        self._refused_since_log += 1
        if now - self._last_logged >= 1.0:  # at most a line a second, however many refusals
            log.warning("admission.overloaded", refused=self._refused_since_log, kind=kind)
            self._last_logged = now
            self._refused_since_log = 0


class AdmissionControl:
    """Bounds the commands and reads in flight (503) and each tenant's command rate (429)."""

    def __init__(self, app: ASGIApp, *, admission: Admission) -> None:
        self.app = app
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPERATIONS_PATHS:
            await self.app(scope, receive, send)
            return
        admission = self.admission
        if scope["method"] in COMMAND_METHODS:
            if admission.commands_full:
                await self._overloaded(send, "commands", admission.commands)
                return
            rates = admission.tenant_rates
            tenant = rates.tenant_of(scope) if rates is not None else None
            if rates is not None and tenant is not None:
                wait = rates.wait(tenant)
                if wait > 0:
                    await refuse(
                        send,
                        429,
                        "rate_limited",
                        "this tenant sends more commands than it may; retry later",
                        {"tenant": tenant, "commands_per_second": rates.rate, "burst": rates.burst},
                        {"Retry-After": str(max(1, math.ceil(wait)))},
                    )
                    return
            admission.commands += 1
            started = time.perf_counter()
            try:
                await self.app(scope, receive, send)
            finally:
                admission.commands -= 1
                admission.command_done(time.perf_counter() - started)
            return
        if 0 < admission.max_reads <= admission.reads:
            await self._overloaded(send, "reads", admission.max_reads)
            return
        admission.reads += 1
        try:
            await self.app(scope, receive, send)
        finally:
            admission.reads -= 1

    async def _overloaded(self, send: Send, kind: str, bound: int) -> None:
        self.admission.note_refusal(kind)
        await refuse(
            send,
            503,
            "overloaded",
            f"the service has {bound} {kind} in flight, as many as it takes; retry later",
            {"in_flight": bound, "kind": kind},
            {"Retry-After": str(self.admission.retry_after)},
        )


def install_admission(app: Any, settings: Any, verifier: TokenVerifier) -> Admission:
    """Puts the body limit and the admission control in front of ``app`` (a Starlette or
    FastAPI app, with ``ServiceSettings``); the returned ``Admission`` answers readiness."""
    rates = None
    if settings.tenant_command_rate > 0:
        burst = settings.tenant_command_burst or max(1.0, settings.tenant_command_rate)
        rates = TenantRates(rate=settings.tenant_command_rate, burst=burst, verifier=verifier)
    admission = Admission(
        max_commands=settings.max_commands_in_flight,
        max_reads=settings.max_reads_in_flight,
        retry_after=settings.overload_retry_after,
        latency_target=settings.command_latency_target,
        tenant_rates=rates,
    )
    # Added last, the body limit runs first: a huge body is refused before it is counted in flight.
    app.add_middleware(AdmissionControl, admission=admission)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return admission
