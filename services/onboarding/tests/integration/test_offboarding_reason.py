"""Why someone left is confidential: admin and hr read it in the history, nobody else, and it
never travels on the stream (so never to another service, a webhook or the bus)."""

from __future__ import annotations

import datetime as dt

from trellis.contracts.envelope import EventEnvelope
from trellis.contracts.onboarding import EmployeeOffboarded, registry
from trellis.testing import eventually

from ..conftest import HR, TENANT, OnboardingService, auth

REASON = "terminated: performance improvement plan failed"


async def offboard_with_a_reason(onboarding: OnboardingService) -> None:
    await onboarding.hire("emil", start_date=dt.date(2026, 1, 5))
    await onboarding.call(
        "POST", "/v1/employees/emil/offboard", {"last_day": "2026-12-31", "reason": REASON}, HR
    )


async def test_an_employee_reading_the_history_sees_no_reason_and_hr_does(
    onboarding: OnboardingService,
) -> None:
    await offboard_with_a_reason(onboarding)
    for reader in (auth("nora", "employee"), auth("mia", "manager", "employee"), auth("emil", "employee")):
        resp = await onboarding.client.get("/v1/employees/emil/history", headers=reader)
        assert resp.status_code == 200, resp.text
        assert "performance" not in resp.text
        types = [e["type"] for e in resp.json()["events"]]
        assert types == ["EmployeeHired", "EmployeeOffboarded"]
    for reader in (HR, auth("root", "admin")):
        events = (await onboarding.call("GET", "/v1/employees/emil/history", headers=reader))["events"]
        assert events[-1]["type"] == "EmployeeOffboardingReasonRecorded"
        assert events[-1]["data"]["reason"] == REASON
        assert "reason" not in events[-2]["data"]


async def test_the_offboarding_on_the_stream_carries_no_reason(onboarding: OnboardingService) -> None:
    await offboard_with_a_reason(onboarding)
    runtime = onboarding.runtime
    js = runtime.jetstream()

    async def offboarded_published() -> bool:
        info = await js.stream_info(runtime.stream.name, subjects_filter=f"{runtime.subjects.root}.>")
        return bool(info.state.messages >= 2)

    await eventually(offboarded_published)
    sub = await js.pull_subscribe(f"{runtime.subjects.root}.onboarding.>", stream=runtime.stream.name)
    try:
        messages = await sub.fetch(10, timeout=2)
    finally:
        await sub.unsubscribe()
    published = [EventEnvelope.model_validate_json(m.data) for m in messages]
    assert [e.event_type for e in published] == ["EmployeeHired", "EmployeeOffboarded"]
    assert all(REASON.encode() not in m.data and b"reason" not in m.data for m in messages)
    assert published[1].schema_version == 2 and published[1].tenant_id == TENANT


def test_an_offboarding_stored_with_a_reason_is_read_without_it() -> None:
    old = registry.decode_payload(
        "EmployeeOffboarded", 1, {"employee_id": "emil", "last_day": "2026-12-31", "reason": REASON}
    )
    assert old == EmployeeOffboarded(employee_id="emil", last_day=dt.date(2026, 12, 31))
    assert "reason" not in old.model_dump()
