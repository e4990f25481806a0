"""Consume Trellis events with FastStream: typed, upcast, de-duplicated, in order.

Install ``trellis-contracts[faststream]``, then::

    from faststream import FastStream
    from faststream.nats import NatsBroker
    from trellis.contracts.goals import KeyResultProgressRecorded
    from trellis.contracts.kit import Envelope, TrellisEvents

    broker = NatsBroker("nats://nats:4222")
    trellis = TrellisEvents(broker)

    @trellis.subscriber(KeyResultProgressRecorded, durable="analytics-progress")
    async def progress(event: KeyResultProgressRecorded, envelope: Envelope) -> None:
        ...

    app = FastStream(broker)

What a subscription gives, and how:

- **The typed event.** Each message is the JSON envelope of ``trellis.contracts.envelope``;
  the kit's decoder reads it and hands the handler the payload as its event model,
  *upcast to the newest version* by the registry's upcasters, so a handler written today
  reads events recorded years ago. The envelope (ids, tenant, version, who, when) is
  there too: declare a parameter ``envelope: Envelope``.
- **Binding by subject.** One durable pull consumer per subscription on the service's
  stream (``TRELLIS_GOALS``), filtered by aggregate type, event type and tenant on the
  subject scheme of ``trellis.contracts.subjects``. The kit never creates or changes the
  stream: Trellis owns it. Where accounts are split, the stream is reached through an
  imported JetStream API: give the broker ``js_options={"prefix": "..."}``
  (``trellis_broker(url, api_prefix=...)``).
- **Per-aggregate order.** The consumer has at most one message in flight
  (``max_ack_pending=1``, fetched one at a time) and a failed handler's message is
  redelivered at once, before any later one: the handler sees the stream's order, which
  is each aggregate's commit order. One subscription is one lane; for more throughput,
  split the work by tenant or event type into several subscriptions.
- **Ack after the handler returns.** A handler that raises is retried (redelivered)
  up to ``max_deliver`` times; then the message goes to the dead-letter hook with the
  error and is terminated, and the subscription goes on. A message that is not a Trellis
  event at all goes there at once.
- **Dedupe by ``event_id``.** JetStream delivers at least once: a handler that succeeded
  but whose ack was lost (a crash in between) sees the event again. ``processed=`` says
  whether an event was already handled; the default remembers the last 100,000 ids of
  this process. For exactly once *in effect* across restarts, record the event id in the
  handler's own transaction and pass a ``Processed`` that reads it back (the example
  consumer under ``examples/`` does).
- **Forward compatible.** An event type this version of the contracts does not know (a
  newer Trellis) is skipped and acked, with a log line and the ``unknown`` hook: it is
  never a failure.
- **Replay.** ``deliver_from=<stream sequence>`` starts a new durable there (the
  default is the whole stream).
"""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol, TypeVar

from faststream import AckPolicy, Context
from faststream.exceptions import AckMessage, RejectMessage
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from nats.js.api import AckPolicy as JsAckPolicy
from nats.js.api import ConsumerConfig, DeliverPolicy

from trellis.contracts import SERVICES, registry_of
from trellis.contracts.envelope import DomainEvent, EventEnvelope, EventRegistry
from trellis.contracts.errors import MalformedEvent, UnknownEventType
from trellis.contracts.subjects import Subjects

log = logging.getLogger("trellis.kit")

_ENVELOPE = "trellis_envelope"

Envelope = Annotated[EventEnvelope, Context(f"message.{_ENVELOPE}")]
"""A handler parameter that receives the event's envelope."""

H = TypeVar("H", bound=Callable[..., Awaitable[Any]])


class Processed(Protocol):
    """Which events were already handled (dedupe by ``event_id``)."""

    async def seen(self, envelope: EventEnvelope) -> bool: ...

    async def remember(self, envelope: EventEnvelope) -> None: ...


class RecentlyProcessed:
    """The last ``size`` event ids handled by this process (lost on restart)."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    async def seen(self, envelope: EventEnvelope) -> bool:
        return str(envelope.event_id) in self._ids

    async def remember(self, envelope: EventEnvelope) -> None:
        self._ids[str(envelope.event_id)] = None
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)


DeadLetter = Callable[[bytes, EventEnvelope | None, BaseException], Awaitable[None]]
"""Called with the raw message, its envelope when it had one, and why it is given up."""

Unknown = Callable[[EventEnvelope], Awaitable[None]]


async def _log_dead_letter(body: bytes, envelope: EventEnvelope | None, error: BaseException) -> None:
    log.error("trellis event given up: %s (event %s)", error, envelope.event_id if envelope else body[:200])


async def _log_unknown(envelope: EventEnvelope) -> None:
    log.info("skipped %s: not in these contracts (a newer Trellis?)", envelope.event_type)


def trellis_broker(url: str | list[str], *, api_prefix: str | None = None, **options: Any) -> NatsBroker:
    """A ``NatsBroker`` for Trellis's streams; ``api_prefix`` reaches them through an imported
    JetStream API (``$JS.<account>.API``) where accounts are split."""
    if api_prefix:
        options["js_options"] = {**options.get("js_options", {}), "prefix": api_prefix}
    return NatsBroker(url, **options)


class TrellisEvents:
    """Binds handlers to Trellis's event streams on a FastStream ``NatsBroker``."""

    def __init__(
        self,
        broker: NatsBroker,
        *,
        root: str = "trellis",
        max_deliver: int = 5,
        ack_wait: float = 30.0,
        dead_letter: DeadLetter = _log_dead_letter,
        unknown: Unknown = _log_unknown,
    ) -> None:
        self.broker = broker
        self.subjects = Subjects(root)
        self.max_deliver = max_deliver
        self.ack_wait = ack_wait
        self.dead_letter = dead_letter
        self.unknown = unknown

    def subscriber(
        self,
        *event_types: type[DomainEvent],
        durable: str,
        tenant: str = "*",
        processed: Processed | None = None,
        deliver_from: int | None = None,
        dead_letter: DeadLetter | None = None,
        title: str | None = None,
    ) -> Callable[[H], H]:
        """Bind a handler to ``event_types`` (of one service) on a durable consumer.

        The handler's first parameter is the event (annotate it with the event class, or
        a union of them); ``envelope: Envelope`` is optional.
        """
        if not event_types:
            raise ValueError("name at least one event type")
        service, registry = _service_of(event_types)
        aggregates = {cls.aggregate_type or "*" for cls in event_types}
        wanted = {cls.event_type for cls in event_types}
        subject = self.subjects.matching(
            service,
            aggregate_type=aggregates.pop() if len(aggregates) == 1 else "*",
            event_type=next(iter(wanted)) if len(wanted) == 1 else "*",
            tenant_id=tenant,
        )
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=JsAckPolicy.EXPLICIT,
            max_ack_pending=1,  # one message in flight: the stream's order, per aggregate
            max_deliver=self.max_deliver + 1,  # the kit gives up first, with the hook
            ack_wait=self.ack_wait,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if deliver_from else DeliverPolicy.ALL,
            opt_start_seq=deliver_from,
        )
        seen = processed or RecentlyProcessed()
        give_up = dead_letter or self.dead_letter

        async def decoder(message: NatsMessage, _default: Any) -> DomainEvent:
            try:
                envelope = EventEnvelope.model_validate_json(message.body)
            except ValueError as exc:
                await give_up(message.body, None, MalformedEvent(f"not a Trellis event: {exc}"))
                raise RejectMessage from exc
            setattr(message, _ENVELOPE, envelope)
            if envelope.event_type not in wanted:
                if envelope.event_type not in registry:
                    await self.unknown(envelope)
                raise AckMessage  # another type on the same subjects: not this handler's
            try:
                event = registry.decode(envelope)
            except UnknownEventType:
                await self.unknown(envelope)
                raise AckMessage from None
            except MalformedEvent as exc:
                await give_up(message.body, envelope, exc)
                raise RejectMessage from exc
            if await seen.seen(envelope):
                raise AckMessage  # handled before its ack was lost
            return event

        def bind(handler: H) -> H:
            @functools.wraps(handler)
            async def handle(*args: Any, **kwargs: Any) -> Any:
                message: NatsMessage = self.broker.context.get_local("message")
                envelope: EventEnvelope = getattr(message, _ENVELOPE)
                try:
                    result = await handler(*args, **kwargs)
                except Exception as exc:
                    delivered = message.raw_message.metadata.num_delivered or 1
                    if delivered < self.max_deliver:
                        raise  # nacked: redelivered at once, before anything later
                    await give_up(message.body, envelope, exc)
                    raise RejectMessage from exc
                await seen.remember(envelope)
                return result

            self.broker.subscriber(
                subject,
                stream=JStream(self.subjects.stream(service), declare=False),
                durable=durable,
                config=config,
                pull_sub=PullSub(batch_size=1),
                decoder=decoder,
                ack_policy=AckPolicy.NACK_ON_ERROR,
                title=title or f"{durable}:{subject}",
            )(handle)
            return handler

        return bind


def _service_of(event_types: tuple[type[DomainEvent], ...]) -> tuple[str, EventRegistry]:
    for service in SERVICES:
        registry = registry_of(service)
        if set(event_types) <= set(registry.types()):
            return service, registry
    raise ValueError("the event types of one subscription come from one service's contracts")
