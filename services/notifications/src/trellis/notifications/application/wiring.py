"""The notifications service's parts, as its routers, workers and the operators' tool use them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from trellis.core.runtime.service import Application
from trellis.notifications.application.inbox import InboxCommands
from trellis.notifications.application.notifier import Notifier
from trellis.notifications.application.webhooks import WebhookAdmin
from trellis.notifications.webhooks.destinations import Destinations
from trellis.notifications.webhooks.worker import DeliveryWorker


@dataclass
class NotificationsApplication(Application):
    destinations: Destinations  # one decision for subscriptions and deliveries
    notifier: Notifier
    worker: DeliveryWorker
    inbox: InboxCommands
    webhooks: WebhookAdmin
    # what `trellis replay webhooks` calls (``trellis.ops.replay.ReplaysWebhooks``)
    webhook_replay: Callable[..., Awaitable[dict[str, Any]]]
