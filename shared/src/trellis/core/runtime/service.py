"""Wiring a service: one definition per service, one runtime per running process.

A service declares itself with a ``ServiceDefinition`` (its name, settings class,
event registry, migrations, projections, deadline handlers, HTTP routers). ``Runtime``
builds the engine, event store, relay, consumer runners and deadline scheduler from it
and owns their tasks; ``create_app`` wraps a runtime in a FastAPI app whose lifespan
starts and stops it. Tests build a ``Runtime`` directly with the settings (and the
clock) they want.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError
from pydantic import BaseModel, Field
from sqlalchemy import text

from trellis.contracts.envelope import EventRegistry
from trellis.contracts.subjects import Subjects
from trellis.core import tracing
from trellis.core.consuming.clock import Clock, SystemClock, TestClock
from trellis.core.consuming.consumer import ConsumerRunner, RetryPolicy
from trellis.core.consuming.deadlines import DeadlineScheduler
from trellis.core.consuming.deadlines import Handler as DeadlineHandler
from trellis.core.consuming.inline import InlineProjection
from trellis.core.consuming.leases import Leases, PartitionCoordinator, instance_id
from trellis.core.consuming.projection import Consumer, Projection
from trellis.core.messaging.asyncapi import asyncapi_document
from trellis.core.messaging.jetstream import (
    JetStreams,
    StreamSpec,
    connect_when_available,
    ensure_stream,
    stream_partitions,
)
from trellis.core.messaging.outbox import OutboxRelay
from trellis.core.messaging.wakeup import CommitWakeups
from trellis.core.runtime.admission import install_admission
from trellis.core.runtime.auth import verifier_for
from trellis.core.runtime.http import CorrelationMiddleware, install_error_handlers
from trellis.core.runtime.idempotency import IdempotencyKeys, IdempotencyMiddleware
from trellis.core.runtime.metrics_api import install_metrics
from trellis.core.runtime.openapi import install_openapi
from trellis.core.runtime.settings import ServiceSettings
from trellis.core.store.aggregate import Aggregate
from trellis.core.store.database import create_engine, is_sqlite
from trellis.core.store.event_store import EventStore
from trellis.core.store.migrate import migrate
from trellis.core.store.sessions import session_factory

log = structlog.get_logger("trellis.service")


@dataclass
class Application:
    """What a service builds on its runtime: the consumers its runners run, its deadline
    handlers and its workers. Each service subclasses it with the typed parts its routers
    use (its commands, repositories, read services), which they get through
    ``application_of``; mypy sees every dependency and ``build`` shows the order."""

    consumers: list[Consumer] = field(default_factory=list, kw_only=True)
    deadlines: dict[str, DeadlineHandler] = field(default_factory=dict, kw_only=True)
    # Long-running loops of the service's own (say a webhook delivery worker), started after
    # the migrations and cancelled on stop like the relay and the consumers.
    workers: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict, kw_only=True)
    # projections of this service's own events (among ``consumers``) that also write a new
    # aggregate's first events in the appending transaction (``trellis.core.consuming.inline``)
    inline: list[Projection] = field(default_factory=list, kw_only=True)


@dataclass(frozen=True)
class ServiceDefinition:
    """What makes a service: everything ``Runtime`` and ``create_app`` need to know."""

    name: str
    title: str
    description: str
    settings: type[ServiceSettings]
    registry: EventRegistry
    migrations: tuple[Path, ...]  # the service's own Alembic version folders (the core's are added)
    build: Callable[[Runtime], Application]  # the service's parts, built on a runtime
    routers: Callable[[], list[APIRouter]]
    version: str = "0.1.0"
    # aggregate type → class, so the operators' tool can show an aggregate's state at any
    # version (``trellis events history``); optional: it otherwise looks among the
    # ``Aggregate`` subclasses the service has imported
    aggregates: Mapping[str, type[Aggregate]] = field(default_factory=dict)
    # the registry of another service's stream (``trellis.contracts.registry_of``): the core
    # knows no service's events, each service hands it the contracts it consumes
    contracts: Callable[[str], EventRegistry] | None = None


class Runtime:
    """A running service's engine, event store, NATS connection, relay and consumers."""

    def __init__(
        self,
        definition: ServiceDefinition,
        settings: ServiceSettings,
        *,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.definition = definition
        self.settings = settings
        self.clock: Clock = clock or (TestClock(frozen=False) if settings.test_clock else SystemClock())
        self.subjects = Subjects(settings.subject_root)
        self.engine = create_engine(settings.database_url, schema=settings.database_schema)
        self.sessions = session_factory(
            self.engine,
            group_commit=settings.commits_grouped,
            max_batch=settings.group_commit_max_batch,
            max_age=settings.group_commit_max_age,
            service=definition.name,
        )
        self.store = EventStore(
            service=definition.name,
            registry=definition.registry,
            sessions=self.sessions,
            subjects=self.subjects,
        )
        self.nc: NATS | None = None
        self.streams: JetStreams | None = None
        self._js: Any = None  # this service's own stream's API, once the stream exists
        self.relay = OutboxRelay(
            sessions=self.sessions,
            jetstream=lambda: self._js,
            stream=self.subjects.stream(definition.name),
            batch_size=settings.relay_batch_size,
            poll_interval=settings.relay_poll_interval,
        )
        self.store.on_commit(self.relay.wake)
        # commits of the other processes on the same PostgreSQL schema wake it too
        self.wakeups = (
            None
            if is_sqlite(settings.database_url)
            else CommitWakeups(self.engine, settings.database_schema, self.relay.wake)
        )
        self.deadlines = DeadlineScheduler(sessions=self.sessions, clock=self.clock)
        self.application = definition.build(self)
        self.consumers = self.application.consumers
        for projection in self.application.inline:
            if projection not in self.consumers or projection.source != definition.name:
                raise ValueError(
                    f"{projection.name}: inline only a consumer of {definition.name}'s own events"
                )
            self.store.after_append(
                InlineProjection(projection, registry=definition.registry, sessions=self.sessions)
            )
        for kind, handler in self.application.deadlines.items():
            self.deadlines.add_handler(kind, handler)
        self.runners = [
            ConsumerRunner(
                projection=p,
                sessions=self.sessions,
                registry=self.registry_of(p.source),
                jetstream=functools.partial(self.jetstream_for, p.source),
                subjects=self.subjects,
                batch_size=settings.consumer_batch_size,
                retry=retry,
                ack_wait=settings.consumer_ack_wait,
            )
            for p in self.consumers
        ]
        self.instance = instance_id()
        self.leases = Leases(self.sessions, holder=self.instance, ttl=settings.lease_ttl)
        self.coordinator = PartitionCoordinator(self.leases, service=definition.name)
        self._tasks: list[asyncio.Task[None]] = []
        self._nats_task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        self.stopping = False

    @property
    def stream(self) -> StreamSpec:
        return StreamSpec(
            name=self.subjects.stream(self.definition.name),
            subjects=[self.subjects.all_of(self.definition.name)],
            replicas=self.settings.stream_replicas,
            subject_transform=(
                self.subjects.partition_transform(self.definition.name, self.settings.partitions)
                if self.settings.partitions > 1
                else None
            ),
        )

    def jetstream(self) -> Any:
        return self._js

    def jetstream_for(self, service: str) -> Any:
        """The JetStream API that reaches ``service``'s stream (None until connected)."""
        if self._js is None or self.streams is None:
            return None
        return self.streams.of(service)

    def registry_of(self, service: str) -> EventRegistry:
        """The registry that decodes ``service``'s stream (this service's own, or a contract)."""
        if service == self.definition.name:
            return self.definition.registry
        if self.definition.contracts is None:
            raise KeyError(f"{self.definition.name} was given no contracts to read {service!r}'s stream")
        return self.definition.contracts(service)

    async def start(self) -> None:
        """Migrate, start the deadline scheduler, then connect to NATS in the background:
        commands (and deadlines) work before NATS is up."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await migrate(self.engine, *self.definition.migrations, schema=self.settings.database_schema)
        if self.settings.run_deadlines and self.deadlines.has_handlers:
            self._spawn(self.deadlines.run(), "deadlines")
        if self.settings.run_workers:
            for name, worker in self.application.workers.items():
                self._spawn(worker(), name)
        self._nats_task = asyncio.create_task(self._connect_and_run(), name="nats-startup")

    async def _connect_and_run(self) -> None:
        nc = await connect_when_available(
            self.settings.nats_url,
            name=f"trellis-{self.definition.name}",
            credentials=self.settings.nats_credentials,
        )
        self.nc = nc
        self.streams = JetStreams(
            nc,
            home=self.definition.name,
            import_prefix=self.settings.nats_import_prefix,
            publish_async_max_pending=4000,
        )
        js = self.streams.own()
        await self._stream_in_place(js)
        self._js = js
        if self.settings.run_relay:
            if self.wakeups is not None:
                self._spawn(self.wakeups.run(), "outbox-wakeups")
            self._spawn(self.relay.run(), "outbox-relay")
        if self.settings.run_consumers:
            self._spawn(self.coordinator.run(self._discover_partitions), "consumers")
        self.ready.set()
        log.info("service.ready", stream=self.stream.name)

    async def _stream_in_place(self, js: Any) -> None:
        """Wait until the service's stream is there.

        With one NATS account for everything (the embedded run, tests) the service makes
        or updates it itself: that account is the operators'. With an account per service
        (``nats_import_prefix``, ``deploy/nats/accounts.conf``) its user may not create or
        change a stream: the operators provision it (``trellis nats provision``, a bootstrap
        step), and the service only checks that it exists, waiting for it if not.
        """
        provisions = self.settings.nats_import_prefix is None
        while True:
            try:
                if provisions:
                    await ensure_stream(js, self.stream)
                else:
                    await js.stream_info(self.stream.name)
                return
            except NotFoundError:
                log.error(
                    "nats.stream_missing",
                    stream=self.stream.name,
                    fix="the operators provision it: trellis nats provision (as the ops user)",
                )
            except Exception as exc:
                log.warning("nats.provisioning_failed", stream=self.stream.name, error=str(exc))
            await asyncio.sleep(1.0)

    async def _discover_partitions(self) -> bool:
        """Add a slot per partition of each projection's source stream, once it exists;
        whether every source stream was found."""
        complete = True
        for runner in self.runners:
            if runner.lease_name in self.coordinator.slots:  # partition 0's: found already
                continue
            source = runner.projection.source
            try:
                count = await stream_partitions(self.jetstream_for(source), self.subjects.stream(source))
            except Exception:  # its service has not created it yet: next round
                complete = False
                continue
            if count == 1:
                runner.leases = self.leases
                self.coordinator.add(runner.slot())
            else:
                for partition in range(count):
                    self.coordinator.add(runner.for_partition(partition, count, self.leases).slot())
        return complete

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.append(task)

    async def wait_ready(self, timeout: float = 30.0) -> None:
        await asyncio.wait_for(self.ready.wait(), timeout)

    async def stop(self, grace: float | None = None) -> None:
        """Shut down gracefully within ``grace`` seconds (the ``shutdown_grace`` setting).

        Consumers stop fetching and finish the batch in hand (acked or naked after its
        commit); the relay publishes what is left in the outbox; then whatever still runs
        is cancelled (uncommitted work is redelivered or re-published later, never lost)
        and connections close.
        """
        grace = self.settings.shutdown_grace if grace is None else grace
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        self.stopping = True
        with contextlib.suppress(Exception):
            await self.coordinator.stop(timeout=max(0.0, deadline - loop.time()))
        if self._js is not None and self.settings.run_relay:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._flush_outbox(), timeout=max(0.1, deadline - loop.time()))
        tasks = [*self._tasks, *([self._nats_task] if self._nats_task else [])]
        for task in tasks:
            # nats-py may turn a cancellation inside a fetch into a timeout: insist.
            while not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=0.5)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
        self._tasks.clear()
        if self.nc is not None and not self.nc.is_closed:
            # Consumers are stopped and unacked messages are redelivered: a plain close is
            # safe, and drain() waits out the pull subscriptions' pending fetches.
            with contextlib.suppress(Exception):
                await self.nc.flush(timeout=2)
            with contextlib.suppress(Exception):
                await self.nc.close()
        await self.engine.dispose()

    async def _flush_outbox(self) -> None:
        while await self.relay.relay_once():
            pass

    async def readiness(self) -> dict[str, Any]:
        checks: dict[str, Any] = {}
        try:
            async with self.sessions() as session:
                await session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        checks["nats"] = "ok" if self.nc is not None and self.nc.is_connected else "disconnected"
        return checks


class Load(BaseModel):
    """How loaded the instance is, from its admission control."""

    status: Literal["ok", "overloaded"]
    commands_in_flight: int
    command_bound: int = Field(description="the adaptive bound on commands in flight now")
    max_commands_in_flight: int
    reads_in_flight: int
    max_reads_in_flight: int
    refused: int = Field(description="requests refused for overload since start")


class Checks(BaseModel):
    database: str = Field(description="`ok` or the error met")
    nats: str = Field(description="`ok` or `disconnected`")
    load: Load


class Readiness(BaseModel):
    status: Literal["ok", "degraded", "overloaded"]
    checks: Checks


class Liveness(BaseModel):
    status: Literal["ok"]
    service: str


def tune_gc() -> None:
    """Garbage-collector settings for a long-running service process.

    Everything imported and built at start-up is frozen out of collections, and young
    collections run less often: a consumer batch allocates thousands of short-lived
    objects, and the default thresholds spent about a tenth of catch-up time in the
    collector (measured with bench/pipeline.py).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def create_app(definition: ServiceDefinition, settings: ServiceSettings | None = None) -> FastAPI:
    """The service's FastAPI app; its lifespan starts and stops the runtime."""
    settings = settings or definition.settings()
    runtime = Runtime(definition, settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title=definition.title,
        description=definition.description,
        version=definition.version,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.token_verifier = verifier_for(settings)
    keys = IdempotencyKeys(runtime.sessions)
    runtime.store.after_append(keys.mark_committed)  # in the command's transaction
    app.add_middleware(IdempotencyMiddleware, keys=keys, verifier=app.state.token_verifier)
    app.state.admission = admission = install_admission(app, settings, app.state.token_verifier)
    app.add_middleware(CorrelationMiddleware)
    tracing.configure(definition.name)  # exports only when the OTEL_* variables say so
    install_metrics(app, runtime)  # outermost: refusals are counted too
    install_error_handlers(app)

    @app.get("/health", tags=["operations"], summary="Liveness: the process is up")
    async def health() -> Liveness:
        return Liveness(status="ok", service=definition.name)

    @app.get(
        "/ready",
        tags=["operations"],
        summary="Readiness: database reachable, not overloaded",
        response_model=Readiness,
        responses={
            503: {"model": Readiness, "description": "degraded (the database is not reachable) or overloaded"}
        },
    )
    async def ready() -> JSONResponse:
        checks = await runtime.readiness()
        checks["load"] = admission.load()
        # NATS being down does not make the service unready: commands still commit and
        # the outbox catches up. Only the database is essential. An overloaded instance
        # is unready so that a load balancer sends new requests to the others.
        ok = checks["database"] == "ok"
        status = "ok" if ok else "degraded"
        if ok and admission.overloaded:
            ok, status = False, "overloaded"
        return JSONResponse({"status": status, "checks": checks}, 200 if ok else 503)

    @app.get("/v1/event-schemas", tags=["events"], summary="JSON Schema of every event type")
    async def event_schemas() -> dict[str, Any]:
        return {
            "envelope": EventRegistry.envelope_schema(),
            "events": definition.registry.json_schemas(),
            "subjects": f"{runtime.subjects.root}.{definition.name}."
            "<aggregate_type>.<event_type>.<tenant_id>.<aggregate_id>",
        }

    @app.get(
        "/v1/asyncapi.json",
        tags=["events"],
        summary="AsyncAPI 3.0 document of the events (generated by FastStream, built once)",
    )
    async def asyncapi() -> dict[str, Any]:
        if not asyncapi_cache:
            asyncapi_cache.append(_asyncapi())
        return asyncapi_cache[0]

    asyncapi_cache: list[dict[str, Any]] = []

    def _asyncapi() -> dict[str, Any]:
        return asyncapi_document(
            service=definition.name,
            title=definition.title,
            version=definition.version,
            description=definition.description,
            registry=definition.registry,
            subjects=runtime.subjects,
            consumes=[
                (p.source, runtime.registry_of(p.source), p.event_types())
                for p in runtime.consumers
                if p.source != definition.name
            ],
            nats_url=settings.nats_url,
        )

    if settings.test_clock:
        from trellis.core.runtime.clock_api import router as test_clock_router

        app.include_router(test_clock_router)
    for router in definition.routers():
        app.include_router(router)
    install_openapi(app)
    return app
