"""What a command handler answers: the aggregate, its new version, the events it recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Accepted:
    id: str
    version: int
    events: list[str]
    details: dict[str, Any] = field(default_factory=dict)
    related: dict[str, str] = field(default_factory=dict)  # what else it created, by role
