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

The aggregate id being the last token also lets a deployment partition a stream
by aggregate (subject mapping on token 6) while keeping each aggregate in order.
``root`` is configurable so tests (and several installations on one NATS) never
share streams.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trellis.core.events import EventEnvelope

_TOKEN = re.compile(r"^[A-Za-z0-9_\-]+$")


def check_token(value: str, what: str) -> str:
    """Refuse values that would break the subject scheme (dots, spaces, wildcards)."""
    if not _TOKEN.match(value):
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
        return f"{self.root}.{service}.{aggregate_type}.{event_type}.{tenant_id}.*"
