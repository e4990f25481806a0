"""Dates at the edge of the calendar are refused at the API (a hire starting 9999-12-31 with
a ten-year milestone overflowed the date type: a 500), and the far ends of what is taken work."""

from __future__ import annotations

from ..conftest import ADMIN, OnboardingService

TEN_YEARS = [{"title": "ten years in", "due_offset_days": 3650}]


def hire(employee_id: str, start_date: str) -> dict[str, object]:
    return {
        "employee_id": employee_id,
        "name": "Far",
        "email": f"{employee_id}@acme.test",
        "start_date": start_date,
        "plan": {"milestones": TEN_YEARS},
    }


async def test_a_start_date_past_the_calendar_the_api_takes_is_refused(onboarding: OnboardingService) -> None:
    for start in ("9999-12-31", "2201-01-01", "0001-01-01", "1899-12-31"):
        resp = await onboarding.client.post("/v1/employees", json=hire("far", start), headers=ADMIN)
        assert resp.status_code == 422, (start, resp.text)
        assert resp.json()["error"]["code"] == "invalid_input"
    for employee, start in (("last", "2200-12-31"), ("first", "1900-01-01")):
        resp = await onboarding.client.post("/v1/employees", json=hire(employee, start), headers=ADMIN)
        assert resp.status_code == 201, (start, resp.text)
