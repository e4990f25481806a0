"""What a command handler answers: the aggregate it changed, its new version, the events
it recorded, and the ids of anything else the command created (a plan started with a
hire, a key result added to a goal)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Accepted:
    id: str
    version: int
    events: list[str]
    related: Mapping[str, str] = field(default_factory=dict)
