"""The audit trail of operators' changes: a log line and an ops event on the bus.

Every command that changes something (a rebuild swapped in, a view reset, dead letters
redriven or dropped, an outbox relayed by hand) records who did it (``--operator``, or
the OS user), what, with which arguments, when, and how it ended:

- a structlog line ``ops.audit`` (JSON in production, like every other log line);
- an ``OpsAudit`` JSON message on ``<root>.ops.audit.<command>`` (for example
  ``trellis.ops.audit.projections-rebuild``), in the stream ``<ROOT>_OPS``
  (``TRELLIS_OPS``) that the tool creates if needed and that keeps the messages for
  ever. ``Nats-Msg-Id`` is the audit id. Subscribe to ``trellis.ops.audit.>`` to follow
  what operators do.

When NATS cannot be reached the log line still goes out and the command says so; the
change itself has already happened and is not undone.
"""

from __future__ import annotations

import datetime as dt
import socket
import sys
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from pydantic import BaseModel, Field

from trellis.contracts.envelope import utcnow
from trellis.contracts.ids import uuid7
from trellis.contracts.subjects import Subjects
from trellis.core.messaging.jetstream import StreamSpec, ensure_stream

log = structlog.get_logger("trellis.ops")


class OpsAudit(BaseModel):
    """One change made with the operators' tool."""

    audit_id: str = Field(default_factory=lambda: str(uuid7()))
    at: dt.datetime = Field(default_factory=utcnow)
    operator: str
    host: str = Field(default_factory=socket.gethostname)
    command: str  # e.g. "projections-rebuild"
    arguments: dict[str, Any] = Field(default_factory=dict)
    outcome: str  # "done", "refused: ...", "failed: ..."
    details: dict[str, Any] = Field(default_factory=dict)


def ops_stream(subjects: Subjects) -> StreamSpec:
    return StreamSpec(name=subjects.stream("ops"), subjects=[f"{subjects.root}.ops.>"])


async def record(
    nc: NATS | None,
    subjects: Subjects,
    *,
    operator: str,
    command: str,
    arguments: dict[str, Any],
    outcome: str,
    details: dict[str, Any] | None = None,
) -> OpsAudit:
    """Log the change and publish it; returns the record."""
    entry = OpsAudit(
        operator=operator, command=command, arguments=arguments, outcome=outcome, details=details or {}
    )
    log.info("ops.audit", **entry.model_dump(mode="json"))
    if nc is None:
        return entry
    try:
        js = nc.jetstream()
        await ensure_stream(js, ops_stream(subjects))
        await js.publish(
            f"{subjects.root}.ops.audit.{command}",
            entry.model_dump_json().encode(),
            headers={"Nats-Msg-Id": entry.audit_id},
        )
    except Exception as exc:
        print(f"warning: the audit event could not be published ({exc}); it is in the log", file=sys.stderr)
    return entry
