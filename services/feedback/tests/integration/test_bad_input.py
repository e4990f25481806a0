"""Bad input anywhere gets a 4xx with a machine-readable body, never a 500."""

from __future__ import annotations

from typing import Any

from ..conftest import FeedbackService, auth

HR = auth("hana", "hr", "employee")
REQUESTS: list[tuple[str, str, dict[str, Any] | None, dict[str, str] | None]] = [
    ("POST", "/v1/checkin-schedules", {"report_id": "emil", "starts_on": "9999-12-31"}, None),
    ("POST", "/v1/checkin-schedules", {"report_id": "emil", "starts_on": "not a date"}, None),
    ("POST", "/v1/checkin-schedules", {"report_id": "emil", "grace_hours": -1}, None),
    ("POST", "/v1/checkin-schedules", {"report_id": "emil", "timezone": "../../etc/passwd"}, None),
    ("POST", "/v1/checkin-schedules", [], None),  # type: ignore[list-item]
    ("PATCH", "/v1/checkin-schedules/nope", {"weekday": 1}, None),
    ("POST", "/v1/checkin-schedules/nope/end", {}, None),
    ("GET", "/v1/checkins", None, {"due_from": "yesterday"}),
    ("GET", "/v1/checkins", None, {"due_from": "9999-12-31T23:00:00-14:00"}),
    ("GET", "/v1/checkins", None, {"status": "lost"}),
    ("GET", "/v1/checkins/nope", None, None),
    ("POST", "/v1/checkins/nope/complete", {"confidence": 3}, None),
    ("POST", "/v1/checkins/nope/complete", {"confidence": 3, "key_result_updates": [{"goal_id": "g"}]}, None),
    ("GET", "/v1/feedback/nope", None, None),
    ("GET", "/v1/employees/emil/feedback/received", None, {"limit": 0}),
    ("POST", "/v1/feedback-requests", {"giver_id": "nobody"}, None),
    ("POST", "/v1/feedback-requests/nope/decline", {}, None),
    ("POST", "/v1/recognition", {"recipient_ids": ["x" * 100], "message": "hi"}, None),
    (
        "POST",
        "/v1/review-cycles",
        {"name": "x", "period": "p", "deadline": "9999-12-31T23:00:00-14:00"},
        None,
    ),
    ("POST", "/v1/review-cycles/nope/reviews/self:emil/submit", {"answers": {"q": "a"}}, None),
    ("POST", "/v1/review-cycles/nope/close", None, None),
    ("GET", "/v1/kpis/checkin-completion", None, {"from": "0001-01-01T00:00:00+14:00"}),
    ("GET", "/v1/kpis/feedback", None, {"to": "tomorrow"}),
    ("POST", "/v1/test-clock", {"days": -1}, None),
]


async def test_bad_requests_get_a_4xx_with_a_reason(feedback: FeedbackService) -> None:
    await feedback.build_org([("mia", None, None), ("emil", "mia", None), ("hana", None, None)])
    for method, path, body, params in REQUESTS:
        resp = await feedback.client.request(method, path, json=body, params=params, headers=HR)
        assert 400 <= resp.status_code < 500, (method, path, body, params, resp.status_code, resp.text)
        assert set(resp.json()["error"]) == {"code", "message", "details"}, resp.text
