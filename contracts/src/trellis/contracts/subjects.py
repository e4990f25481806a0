"""The NATS subject scheme and stream names.

Every event is published on::

    <root>.<service>.<aggregate_type>.<event_type>.<tenant_id>.<aggregate_id>

for example ``trellis.goals.goal.GoalAligned.acme.0190c2...``. One stream per
service captures ``<root>.<service>.>``. A consumer filters by any prefix of the
tokens, with ``*`` for the ones it does not care about:

- everything of a service:          ``trellis.goals.>``
- one aggregate type:               ``trellis.goals.goal.>``
- one event type:                   ``trellis.goals.goal.GoalRetired.>``
- one tenant's events of a type:    ``trellis.goals.goal.GoalRetired.acme.*``
- one aggregate:                    ``trellis.goals.goal.*.*.<aggregate_id>``

A stream in several partitions (the ``partitions`` setting, for several instances of
its consumers) stores each event under that subject plus one more token, its *partition*:
the server's deterministic subject mapping ``partition(n, <aggregate_id>)`` (a stream
subject transform, see ``partition_transform``), so the stored subject is
``trellis.goals.goal.GoalAligned.acme.0190c2....3``. Every event of an aggregate is in
the same partition; a projection with several instances runs one durable consumer per
partition, each consumed by one instance at a time (``core/leases.py``), so order per
aggregate holds however the work is split. Publishers never compute the partition, and
filters ending in ``.>`` (not ``.*``) match with or without it.

``root`` is configurable so tests (and several installations on one NATS) never
share streams.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trellis.contracts.envelope import EventEnvelope

_TOKEN = re.compile(r"[A-Za-z0-9_\-]+")


def check_token(value: str, what: str) -> str:
    """Refuse values that would break the subject scheme (dots, spaces, wildcards)."""
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise ValueError(f"{what} {value!r} may only contain letters, digits, '-' and '_'")
    return value


@dataclass(frozen=True)
class Subjects:
    root: str = "trellis"

    def __post_init__(self) -> None:
        check_token(self.root, "subject root")

    def stream(self, service: str) -> str:
        return f"{self.root}_{service}".upper().replace("-", "_")

    def all_of(self, service: str) -> str:
        return f"{self.root}.{service}.>"

    def for_event(self, service: str, envelope: EventEnvelope) -> str:
        return ".".join(
            (
                self.root,
                service,
                envelope.aggregate_type,
                envelope.event_type,
                envelope.tenant_id,
                envelope.aggregate_id,
            )
        )

    def matching(
        self,
        service: str,
        aggregate_type: str = "*",
        event_type: str = "*",
        tenant_id: str = "*",
    ) -> str:
        return f"{self.root}.{service}.{aggregate_type}.{event_type}.{tenant_id}.>"

    def in_partition(self, service: str, partition: int, event_type: str = "*") -> str:
        """The stored subjects of one partition (of one event type, or all)."""
        return f"{self.root}.{service}.*.{event_type}.*.*.{partition}"

    def partition_transform(self, service: str, partitions: int) -> tuple[str, str]:
        """The stream's subject transform (source, destination) that appends the partition."""
        if partitions < 1:
            raise ValueError("a stream has at least one partition")
        head = f"{self.root}.{service}"
        wildcards = ".".join(f"{{{{wildcard({i})}}}}" for i in range(1, 5))
        return f"{head}.*.*.*.*", f"{head}.{wildcards}.{{{{partition({partitions},4)}}}}"


_PARTITIONS = re.compile(r"\{\{\s*partition\(\s*(\d+)\s*,")


def partitions_of(transform_destination: str | None) -> int:
    """How many partitions a stream has, read from its subject transform (1 without one)."""
    found = _PARTITIONS.search(transform_destination or "")
    return int(found.group(1)) if found else 1
