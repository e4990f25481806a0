"""The WebhookSubscription aggregate: an integrator's endpoint and the events it wants.

Event types are named ``<service>.<EventType>`` (``goals.GoalRetired``); a subscription
lists patterns with ``*`` and ``?`` wildcards (``goals.*``, ``*.GoalCompleted``,
``feedback.CheckIn*``, ``*``). Whether the URL is safe to call is checked by the
application layer (it needs DNS); this aggregate checks the shape of things.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from typing import Literal
from urllib.parse import urlsplit

from trellis.contracts import SERVICES
from trellis.contracts.envelope import DomainEvent
from trellis.contracts.notifications import (
    WebhookSecretRotated,
    WebhookSubscriptionChanged,
    WebhookSubscriptionCreated,
    WebhookSubscriptionDeleted,
    WebhookSubscriptionDisabled,
    WebhookSubscriptionEnabled,
)
from trellis.core.errors import InvalidInput, NotFound, RuleViolation
from trellis.core.store.aggregate import Aggregate

DisableReason = Literal["admin", "failing", "endpoint_gone"]
_PATTERN = re.compile(r"^[A-Za-z0-9_*?\-]+(\.[A-Za-z0-9_*?]+)?$")
MAX_PATTERNS = 50


def webhook_event_type(service: str, event_type: str) -> str:
    """The name a webhook subscriber sees and matches: ``goals.GoalRetired``."""
    return f"{service}.{event_type}"


def matches(patterns: list[str], name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def check_patterns(patterns: list[str]) -> list[str]:
    """Valid, de-duplicated patterns in their given order, or ``InvalidInput``."""
    if not patterns:
        raise InvalidInput("a subscription needs at least one event type pattern")
    if len(patterns) > MAX_PATTERNS:
        raise InvalidInput(f"at most {MAX_PATTERNS} event type patterns")
    out: list[str] = []
    for pattern in patterns:
        if not _PATTERN.fullmatch(pattern):
            raise InvalidInput(
                f"event type pattern {pattern!r} is not <service>.<EventType> with * or ? wildcards",
                details={"pattern": pattern},
            )
        service = pattern.split(".", 1)[0]
        if not any(fnmatch.fnmatchcase(s, service) for s in SERVICES):
            raise InvalidInput(f"no service matches {service!r}", details={"services": list(SERVICES)})
        if pattern not in out:
            out.append(pattern)
    return out


def check_url_shape(url: str) -> str:
    """http(s), a host, no credentials in it. (Whether the host is private is asked elsewhere.)"""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("a webhook URL must be http or https", details={"url": url})
    if not parts.hostname:
        raise InvalidInput("a webhook URL needs a host", details={"url": url})
    if parts.username or parts.password:
        raise InvalidInput("a webhook URL must not carry credentials")
    if len(url) > 2000:
        raise InvalidInput("a webhook URL may have at most 2000 characters")
    return url


class WebhookSubscription(Aggregate):
    aggregate_type = "webhook_subscription"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.url = ""
        self.event_types: list[str] = []
        self.description = ""
        self.enabled = False
        self.deleted = False

    def apply(self, event: DomainEvent) -> None:
        match event:
            case WebhookSubscriptionCreated():
                self.url = event.url
                self.event_types = list(event.event_types)
                self.description = event.description
                self.enabled = True
            case WebhookSubscriptionChanged():
                self.url = event.url if event.url is not None else self.url
                self.event_types = event.event_types if event.event_types is not None else self.event_types
                self.description = event.description if event.description is not None else self.description
            case WebhookSubscriptionEnabled():
                self.enabled = True
            case WebhookSubscriptionDisabled():
                self.enabled = False
            case WebhookSecretRotated():
                pass
            case WebhookSubscriptionDeleted():
                self.deleted = True
                self.enabled = False
            case _:
                raise TypeError(f"WebhookSubscription cannot apply {type(event).__name__}")

    def create(self, *, url: str, event_types: list[str], description: str = "") -> None:
        if self.exists:
            raise RuleViolation(f"subscription {self.id} exists already")
        self.record(
            WebhookSubscriptionCreated(
                subscription_id=self.id,
                url=check_url_shape(url),
                event_types=check_patterns(event_types),
                description=description,
            )
        )

    def change(
        self, *, url: str | None = None, event_types: list[str] | None = None, description: str | None = None
    ) -> None:
        self._require_live()
        new_url = check_url_shape(url) if url is not None and url != self.url else None
        new_types = check_patterns(event_types) if event_types is not None else None
        if new_types == self.event_types:
            new_types = None
        new_description = description if description is not None and description != self.description else None
        if new_url is None and new_types is None and new_description is None:
            return
        self.record(
            WebhookSubscriptionChanged(
                subscription_id=self.id, url=new_url, event_types=new_types, description=new_description
            )
        )

    def enable(self) -> None:
        self._require_live()
        if not self.enabled:
            self.record(WebhookSubscriptionEnabled(subscription_id=self.id))

    def disable(self, reason: DisableReason, *, failures: int = 0, detail: str = "") -> None:
        """Stop deliveries. Disabling a disabled subscription records nothing."""
        self._require_live()
        if self.enabled:
            self.record(
                WebhookSubscriptionDisabled(
                    subscription_id=self.id,
                    reason=reason,
                    failures=failures,
                    detail=detail[:500],
                )
            )

    def rotate_secret(self, previous_valid_until: dt.datetime) -> None:
        self._require_live()
        self.record(WebhookSecretRotated(subscription_id=self.id, previous_valid_until=previous_valid_until))

    def delete(self) -> None:
        self._require_live()
        self.record(WebhookSubscriptionDeleted(subscription_id=self.id))

    def _require_live(self) -> None:
        if not self.exists or self.deleted:
            raise NotFound(f"webhook subscription {self.id} not found")
