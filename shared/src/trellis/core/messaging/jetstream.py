"""NATS connections and idempotent JetStream provisioning (streams and durable consumers)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    SubjectTransform,
)
from nats.js.errors import NotFoundError

from trellis.contracts.subjects import partitions_of

log = structlog.get_logger("trellis.messaging")


async def connect(
    url: str, *, name: str, credentials: str | None = None, inbox_prefix: str | None = None
) -> NATS:
    """Connect, reconnecting for ever: a service outlives any NATS restart. ``inbox_prefix``
    replaces ``_INBOX`` for replies and push deliveries (the operators' tool has its own, which
    the services' accounts export to it)."""
    options: dict[str, Any] = {
        "servers": [u.strip() for u in url.split(",")],
        "name": name,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 2,
    }
    if credentials:
        options["user_credentials"] = credentials
    if inbox_prefix:
        options["inbox_prefix"] = inbox_prefix

    nc = NATS()

    async def _disconnected() -> None:
        if not (nc.is_closed or nc.is_draining):  # closed on purpose: nothing to say
            log.warning("nats.disconnected")

    async def _reconnected() -> None:
        log.info("nats.reconnected")

    async def _error(exc: Exception) -> None:
        log.debug("nats.error", error=str(exc))

    await nc.connect(
        **options,
        disconnected_cb=_disconnected,
        reconnected_cb=_reconnected,
        error_cb=_error,
    )
    return nc


async def connect_when_available(url: str, *, name: str, credentials: str | None = None) -> NATS:
    """Keep trying the first connection (NATS may start after the service)."""
    delay = 0.2
    while True:
        try:
            return await connect(url, name=name, credentials=credentials)
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            log.warning("nats.unavailable", url=url, error=str(exc), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


class JetStreams:
    """One connection's JetStream API for each service's stream.

    With one NATS account for everything (the embedded run) every stream is this account's.
    With an account per service (``deploy/nats/accounts.conf``), another service's stream is
    in its account: this account imports the JetStream API subjects that account exports
    for it under ``import_prefix`` (a template, ``JS.{service}.API``), and their acks by
    their own subjects. ``home`` is the service whose account the connection is in (its
    stream needs no import); ``None`` for the operators' account, which imports every
    service's API.
    """

    def __init__(
        self, nc: NATS, *, home: str | None, import_prefix: str | None = None, **options: Any
    ) -> None:
        self.nc = nc
        self.home = home
        self.import_prefix = import_prefix
        self._options = options
        self._contexts: dict[str | None, JetStreamContext] = {}

    def own(self) -> JetStreamContext:
        """The connection's own account's API (its service's stream, the operators' audit)."""
        return self._context(None)

    def of(self, service: str) -> JetStreamContext:
        """The API that reaches ``service``'s stream."""
        if not self.import_prefix or service == self.home:
            return self.own()
        return self._context(self.import_prefix.format(service=service))

    def _context(self, prefix: str | None) -> JetStreamContext:
        if prefix not in self._contexts:
            options = {**self._options, **({"prefix": prefix} if prefix else {})}
            self._contexts[prefix] = self.nc.jetstream(**options)
        return self._contexts[prefix]


@dataclass(frozen=True)
class StreamSpec:
    """One service's stream. ``duplicate_window`` bounds JetStream's Nats-Msg-Id de-duplication;
    ``subject_transform`` (source, destination) is how the stream partitions its events
    (``Subjects.partition_transform``)."""

    name: str
    subjects: list[str]
    replicas: int = 1
    subject_transform: tuple[str, str] | None = None
    duplicate_window: float = 120.0
    max_age: float = 0.0  # seconds; 0 keeps events for ever (they are the history)
    storage: StorageType = StorageType.FILE

    def config(self) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=self.subjects,
            retention=RetentionPolicy.LIMITS,
            storage=self.storage,
            num_replicas=self.replicas,
            duplicate_window=self.duplicate_window,
            max_age=self.max_age,
            discard=DiscardPolicy.OLD,
            subject_transform=SubjectTransform(*self.subject_transform) if self.subject_transform else None,
        )


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer. Retries are driven by the consumer runner (delayed naks),
    so ``max_deliver`` is only the server's backstop, set a little above the runner's limit."""

    stream: str
    durable: str
    filter_subjects: list[str]
    ack_wait: float = 30.0
    max_deliver: int = 10
    max_ack_pending: int = 1000
    deliver_policy: DeliverPolicy = DeliverPolicy.ALL
    extra: dict[str, Any] = field(default_factory=dict)

    def config(self) -> ConsumerConfig:
        filters = self.filter_subjects
        return ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliver,
            max_ack_pending=self.max_ack_pending,
            deliver_policy=self.deliver_policy,
            filter_subject=filters[0] if len(filters) == 1 else None,
            filter_subjects=filters if len(filters) > 1 else None,
            **self.extra,
        )


async def ensure_stream(js: JetStreamContext, spec: StreamSpec) -> None:
    """Create the stream, or bring an existing one to this configuration.

    An existing stream keeps its partitioning once it holds events: moving an aggregate
    to another partition could apply its events out of order, so a change of the
    partition count is refused with a warning (re-partitioning means a new stream).
    """
    config = spec.config()
    try:
        info = await js.stream_info(spec.name)
    except NotFoundError:
        await js.add_stream(config)
        log.info("nats.stream_created", stream=spec.name, subjects=spec.subjects)
        return
    current = info.config.subject_transform
    wanted = partitions_of(spec.subject_transform[1] if spec.subject_transform else None)
    has = partitions_of(current.dest if current else None)
    if current is not None and has != wanted and info.state.messages:
        log.warning("nats.partitions_kept", stream=spec.name, partitions=has, configured=wanted)
        config.subject_transform = current
    await js.update_stream(config)


async def stream_partitions(js: JetStreamContext, stream: str) -> int:
    """The number of partitions of ``stream`` (from its subject transform)."""
    info = await js.stream_info(stream)
    transform = info.config.subject_transform
    return partitions_of(transform.dest if transform else None)


async def ensure_consumer(js: JetStreamContext, spec: ConsumerSpec) -> None:
    """Create the durable consumer, or update the settings that may change in place."""
    config = spec.config()
    try:
        await js.consumer_info(spec.stream, spec.durable)
    except NotFoundError:
        await js.add_consumer(spec.stream, config)
        log.info("nats.consumer_created", stream=spec.stream, consumer=spec.durable)
        return
    await js.add_consumer(spec.stream, config)  # create-or-update for compatible changes
