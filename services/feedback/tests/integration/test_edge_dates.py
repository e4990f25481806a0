"""Moments at the edge of the calendar are refused at the API (``?to=0001-01-01T00:00:00Z``
was a 500: 30 days before it is no date)."""

from __future__ import annotations

from ..conftest import FeedbackService, auth

HR = auth("hana", "hr", "employee")


async def test_kpi_windows_and_check_in_filters_refuse_years_outside_the_calendar(
    feedback: FeedbackService,
) -> None:
    for path, params in (
        ("/v1/kpis/checkin-completion", {"to": "0001-01-01T00:00:00Z"}),
        ("/v1/kpis/checkin-completion", {"from": "9999-12-31T23:59:59Z"}),
        ("/v1/checkins", {"due_from": "0001-01-01T00:00:00Z"}),
        ("/v1/checkins", {"due_before": "9999-12-31T23:59:59+00:00"}),
    ):
        resp = await feedback.client.get(path, params=params, headers=HR)
        assert resp.status_code == 422, (path, params, resp.text)
        assert resp.json()["error"]["code"] == "invalid_input"
    resp = await feedback.client.get(
        "/v1/kpis/checkin-completion", params={"to": "1900-02-01T00:00:00Z"}, headers=HR
    )
    assert resp.status_code == 200, resp.text
