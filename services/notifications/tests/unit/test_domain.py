"""Notifications, preferences and webhook subscriptions, given-when-then; signatures, destinations,
retry decisions."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

import pytest

from trellis.contracts.notifications import (
    NotificationCreated,
    NotificationPreferencesChanged,
    NotificationRead,
    WebhookSubscriptionCreated,
    WebhookSubscriptionDisabled,
    WebhookSubscriptionEnabled,
)
from trellis.core.errors import InvalidInput, NotFound
from trellis.core.runtime.auth import Actor
from trellis.notifications.domain.notification import Notification, inboxes_of, notification_id
from trellis.notifications.domain.preferences import Preferences
from trellis.notifications.domain.subscription import WebhookSubscription, check_patterns, matches
from trellis.notifications.webhooks.destinations import DestinationRefused, check_destination
from trellis.notifications.webhooks.outcomes import classify, retry_after_seconds
from trellis.notifications.webhooks.signing import new_secret, signed_headers

TENANT = "acme"
EMIL = Actor("emil", TENANT, frozenset({"employee"}))
HR = Actor("hana", TENANT, frozenset({"hr", "employee"}))


def created(recipient: str = "emil") -> NotificationCreated:
    return NotificationCreated(
        notification_id="n",
        recipient_id=recipient,
        type="goal.completed",
        text="done",
        cause_event_id="e",
        cause_event_type="GoalCompleted",
        cause_service="goals",
    )


def test_a_notification_id_is_the_same_for_the_same_cause_and_recipient_only() -> None:
    assert notification_id(TENANT, "e1", "emil") == notification_id(TENANT, "e1", "emil")
    assert notification_id(TENANT, "e1", "emil") != notification_id(TENANT, "e1", "mia")
    assert notification_id(TENANT, "e1", "emil") != notification_id(TENANT, "e2", "emil")
    assert notification_id(TENANT, "e1", "emil") != notification_id("other", "e1", "emil")


def test_creating_a_notification_that_exists_records_nothing() -> None:
    note = Notification.rehydrate("n", TENANT, [created()])
    note.create(
        recipient_id="emil",
        type="goal.completed",
        text="again",
        subject=None,
        cause_event_id="e",
        cause_event_type="GoalCompleted",
        cause_service="goals",
    )
    assert note.pending == []


def test_marking_read_twice_records_once_and_only_the_recipient_may() -> None:
    note = Notification.rehydrate("n", TENANT, [created()])
    assert note.readable_by(EMIL) and not note.readable_by(HR)
    note.mark_read(EMIL)
    assert note.pending == [NotificationRead(notification_id="n", recipient_id="emil", read_by="emil")]
    again = Notification.rehydrate("n", TENANT, [created(), *note.pending])
    again.mark_read(EMIL)
    assert again.pending == []


def test_a_role_inbox_is_read_by_everyone_holding_the_role() -> None:
    note = Notification.rehydrate("n", TENANT, [created("role:hr")])
    assert note.readable_by(HR) and not note.readable_by(EMIL)
    assert inboxes_of(HR) == ["hana", "role:hr"]


def test_preferences_refuse_unknown_types_and_record_only_changes() -> None:
    prefs = Preferences("p", TENANT)
    with pytest.raises(InvalidInput):
        prefs.change("emil", muted_types=["no.such"], daily_digest=False)
    with pytest.raises(InvalidInput):
        prefs.change("emil", muted_types=["digest.daily"], daily_digest=True)
    prefs.change("emil", muted_types=["recognition.received"], daily_digest=True)
    assert prefs.pending == [
        NotificationPreferencesChanged(
            employee_id="emil", muted_types=["recognition.received"], daily_digest=True
        )
    ]
    same = Preferences.rehydrate("p", TENANT, prefs.pending)
    same.change("emil", muted_types=["recognition.received"], daily_digest=True)
    assert same.pending == [] and same.mutes("recognition.received")


def subscription(*events: object) -> WebhookSubscription:
    base = WebhookSubscriptionCreated(subscription_id="s", url="https://h.example/x", event_types=["goals.*"])
    return WebhookSubscription.rehydrate("s", TENANT, [base, *events])  # type: ignore[list-item]


def test_a_subscription_checks_its_patterns_and_url_shape() -> None:
    sub = WebhookSubscription("s", TENANT)
    with pytest.raises(InvalidInput):
        sub.create(url="ftp://h.example/x", event_types=["goals.*"])
    with pytest.raises(InvalidInput):
        sub.create(url="https://user:pw@h.example/x", event_types=["goals.*"])
    with pytest.raises(InvalidInput):
        sub.create(url="https://h.example/x", event_types=["payroll.*"])
    with pytest.raises(InvalidInput):
        sub.create(url="https://h.example/x", event_types=[])
    sub.create(url="https://h.example/x", event_types=["goals.*", "goals.*", "*.CheckInMissed"])
    assert sub.pending[0].event_types == ["goals.*", "*.CheckInMissed"]  # type: ignore[attr-defined]


def test_patterns_match_service_and_event_type_with_wildcards() -> None:
    assert matches(["goals.*"], "goals.GoalRetired")
    assert matches(["*.GoalRetired"], "goals.GoalRetired")
    assert matches(["feedback.CheckIn*"], "feedback.CheckInMissed")
    assert not matches(["feedback.CheckIn*"], "feedback.FeedbackGiven")
    assert matches(["*"], "onboarding.MilestoneMissed")
    assert check_patterns(["*"]) == ["*"]


def test_disabling_twice_records_once_and_a_deleted_subscription_is_gone() -> None:
    sub = subscription()
    sub.disable("failing", failures=5)
    assert sub.pending == [
        WebhookSubscriptionDisabled(subscription_id="s", reason="failing", failures=5, detail="")
    ]
    disabled = subscription(*sub.pending)
    disabled.disable("admin")
    assert disabled.pending == []
    disabled.enable()
    assert disabled.pending == [WebhookSubscriptionEnabled(subscription_id="s")]
    sub = subscription()
    sub.delete()
    with pytest.raises(NotFound):
        sub.enable()


def test_signatures_follow_standard_webhooks_and_every_live_secret_signs() -> None:
    old, new = new_secret(), new_secret()
    assert old.startswith("whsec_") and len(base64.b64decode(old[6:])) == 32
    body = b'{"type":"goals.GoalRetired"}'
    headers = signed_headers([new, old], "msg_1", 1_700_000_000, body)
    assert headers["webhook-id"] == "msg_1" and headers["webhook-timestamp"] == "1700000000"
    signatures = headers["webhook-signature"].split(" ")
    for secret, sig in zip([new, old], signatures, strict=True):
        key = base64.b64decode(secret.removeprefix("whsec_"))
        expected = hmac.new(key, b"msg_1.1700000000." + body, hashlib.sha256).digest()
        assert sig == "v1," + base64.b64encode(expected).decode()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://10.1.2.3/x",
        "http://192.168.0.1/x",
        "http://172.16.5.4/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://0.0.0.0/x",
    ],
)
async def test_private_loopback_and_link_local_destinations_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(DestinationRefused):
        await check_destination(url, allow_private=False)
    await check_destination(url, allow_private=True)


async def test_a_public_address_is_accepted_and_other_schemes_never() -> None:
    await check_destination("https://93.184.215.14/hook", allow_private=False)
    with pytest.raises(InvalidInput):
        await check_destination("file:///etc/passwd", allow_private=True)


def test_which_statuses_are_retried() -> None:
    assert classify(200) == classify(204) == "delivered"
    assert classify(500) == classify(503) == classify(429) == classify(408) == "retry"
    assert classify(400) == classify(401) == classify(404) == classify(410) == "failed"


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds("Thu, 01 Jan 2026 12:01:00 GMT", now) == 60
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None
