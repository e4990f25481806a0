"""``trellis replay webhooks``: re-deliver a time range of events to one webhook subscriber.

The notifications service owns webhook subscriptions and their delivery (signing,
retries, the "replay" marking), so the replay itself is its job; this command is the
operators' entry to it. A service offers it by giving its application (``Application``) a
``webhook_replay`` callable (``ReplaysWebhooks``)::

    async def webhook_replay(
        *, subscription_id: str, since: datetime, until: datetime | None,
        operator: str, dry_run: bool, streams: JetStreams,  # the tool's, to read the streams
    ) -> dict[str, Any]:   # at least {"subscription_id", "events": <how many>, ...}

The command finds the installed service that offers it, asks it for the plan (dry run)
and prints it, then, with ``--yes``, has it enqueue the deliveries (through the normal
signed, retried delivery path, marked as replays) and records the audit event.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from rich.console import Console

from trellis.core.errors import TrellisError
from trellis.ops import audit
from trellis.ops.target import OpsError, Target


@runtime_checkable
class ReplaysWebhooks(Protocol):
    """An application that can replay a time range of events to one webhook subscriber."""

    webhook_replay: Callable[..., Awaitable[dict[str, Any]]]


async def webhooks(
    target: Target,
    *,
    subscription_id: str,
    since: dt.datetime,
    until: dt.datetime | None,
    operator: str,
    yes: bool,
    console: Console,
) -> dict[str, Any]:
    if until is not None and until <= since:
        raise OpsError("--until must be after --since")
    async with target.runtimes() as runtimes, target.nats() as nc:
        offering = [rt for rt in runtimes if isinstance(rt.application, ReplaysWebhooks)]
        if not offering:
            raise OpsError(
                "no installed service offers webhook replay yet (the notifications service will: "
                "see trellis/ops/replay.py for how it plugs in)"
            )
        runtime = offering[0]
        assert isinstance(runtime.application, ReplaysWebhooks)
        replay = functools.partial(
            runtime.application.webhook_replay,
            subscription_id=subscription_id,
            since=since,
            until=until,
            operator=operator,
            streams=target.streams(nc),
        )
        arguments = {
            "subscription_id": subscription_id,
            "since": since.isoformat(),
            "until": until.isoformat() if until else None,
        }
        try:
            plan = await replay(dry_run=True)
        except TrellisError as exc:  # no such subscription, a bad range: the service says why
            raise OpsError(f"{runtime.definition.name}: {exc}") from exc
        end = until.isoformat() if until else "now"
        console.print(
            f"replay to webhook subscription {subscription_id} ({runtime.definition.name}): "
            f"{plan.get('events', '?')} events from {since.isoformat()} to {end}"
        )
        if not yes:
            raise OpsError("nothing done: pass --yes to re-deliver")
        result = await replay(dry_run=False)
        await audit.record(
            nc,
            runtime.subjects,
            operator=operator,
            command="replay-webhooks",
            arguments=arguments,
            outcome="done",
            details=result,
        )
        return dict(result)
