"""The org through the HTTP API: hiring, reporting lines, teams, and every rule refused with a clear 4xx."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from trellis.testing import eventually

from ..conftest import ADMIN, HR, TENANT, OnboardingService, auth

OTHER_ADMIN = auth("eve", "admin", tenant="globex")


async def org_of(onboarding: OnboardingService) -> None:
    """ceo → mia → (emil, ada); teams Company ⊃ Platform ⊃ API."""
    company = await onboarding.create_team("Company")
    platform = await onboarding.create_team("Platform", parent=company)
    api = await onboarding.create_team("API", parent=platform)
    await onboarding.hire("ceo", team=company)
    await onboarding.hire("mia", manager="ceo", team=platform)
    await onboarding.hire("emil", manager="mia", team=api)
    await onboarding.hire("ada", manager="mia", team=api)
    await onboarding.until_managed("mia", "ada")
    onboarding.teams = {"company": company, "platform": platform, "api": api}  # type: ignore[attr-defined]


async def test_reports_manager_chain_and_org_chart_follow_the_org(onboarding: OnboardingService) -> None:
    await org_of(onboarding)
    teams: dict[str, str] = onboarding.teams  # type: ignore[attr-defined]
    reader = auth("emil", "employee")  # everyone in the tenant reads the org
    reports = await onboarding.call("GET", "/v1/employees/ceo/reports", headers=reader)
    assert [p["id"] for p in reports["direct"]] == ["mia"]
    assert sorted(p["id"] for p in reports["indirect"]) == ["ada", "emil"]
    chain = await onboarding.call("GET", "/v1/employees/emil/manager-chain", headers=reader)
    assert [(p["id"], p["depth"]) for p in chain["chain"]] == [("mia", 1), ("ceo", 2)]

    chart = await onboarding.call("GET", "/v1/org-chart", headers=reader)
    [company] = chart["teams"]
    assert company["name"] == "Company" and [m["id"] for m in company["members"]] == ["ceo"]
    [platform] = company["teams"]
    [api] = platform["teams"]
    assert sorted(m["id"] for m in api["members"]) == ["ada", "emil"]
    [ceo] = chart["reporting_lines"]
    assert ceo["id"] == "ceo" and [r["id"] for r in ceo["reports"]] == ["mia"]
    assert sorted(r["id"] for r in ceo["reports"][0]["reports"]) == ["ada", "emil"]

    # emil moves to ceo directly; API moves to the top
    await onboarding.call("PUT", "/v1/employees/emil/manager", {"manager_id": "ceo"}, HR)
    await onboarding.call("PUT", f"/v1/teams/{teams['api']}/parent", {"parent_team_id": None})
    await onboarding.until_managed("ceo", "emil")
    chain = await onboarding.call("GET", "/v1/employees/emil/manager-chain", headers=reader)
    assert [p["id"] for p in chain["chain"]] == ["ceo"]

    async def api_on_top() -> bool:
        tops = (await onboarding.call("GET", "/v1/org-chart", headers=reader))["teams"]
        return sorted(t["name"] for t in tops) == ["API", "Company"]

    await eventually(api_on_top)
    team = await onboarding.call("GET", f"/v1/teams/{teams['platform']}", headers=reader)
    assert team["subteam_ids"] == [] and [m["id"] for m in team["members"]] == ["mia"]
    employee = await onboarding.call("GET", "/v1/employees/emil", headers=reader)
    assert employee["manager_id"] == "ceo" and employee["version"] == 2
    history = await onboarding.call("GET", "/v1/employees/emil/history", headers=reader)
    assert [e["type"] for e in history["events"]] == ["EmployeeHired", "EmployeeManagerChanged"]
    assert history["events"][1]["actor_id"] == "hana"


async def test_a_manager_cycle_is_refused_at_any_depth(onboarding: OnboardingService) -> None:
    await org_of(onboarding)
    for employee, manager in (("ceo", "emil"), ("ceo", "mia"), ("mia", "mia")):
        resp = await onboarding.client.put(
            f"/v1/employees/{employee}/manager", json={"manager_id": manager}, headers=ADMIN
        )
        assert resp.status_code == 409, resp.text
        assert resp.json()["error"]["code"] == "manager_cycle"
    teams: dict[str, str] = onboarding.teams  # type: ignore[attr-defined]
    resp = await onboarding.client.put(
        f"/v1/teams/{teams['company']}/parent", json={"parent_team_id": teams["api"]}, headers=ADMIN
    )
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "team_cycle"


async def test_opposite_manager_changes_at_the_same_time_never_make_a_cycle(
    onboarding: OnboardingService,
) -> None:
    for round_ in range(5):
        a, b = f"a{round_}", f"b{round_}"
        await onboarding.hire(a)
        await onboarding.hire(b)

        async def report(employee: str, manager: str) -> int:
            resp = await onboarding.client.put(
                f"/v1/employees/{employee}/manager", json={"manager_id": manager}, headers=ADMIN
            )
            assert resp.status_code in (200, 409), resp.text
            return resp.status_code

        statuses = await asyncio.gather(report(a, b), report(b, a))
        assert sorted(statuses) == [200, 409], statuses


async def test_managers_and_teams_of_another_tenant_are_not_found(onboarding: OnboardingService) -> None:
    theirs = await onboarding.call("POST", "/v1/teams", {"name": "Their team"}, OTHER_ADMIN, 201)
    await onboarding.call(
        "POST",
        "/v1/employees",
        {"employee_id": "boss", "name": "Boss", "email": "boss@globex.test", "start_date": "2026-01-05"},
        OTHER_ADMIN,
        201,
    )
    await onboarding.hire("emil")
    cases: list[tuple[str, str, dict[str, Any]]] = [
        (
            "POST",
            "/v1/employees",
            {
                "employee_id": "x",
                "name": "X",
                "email": "x@acme.test",
                "start_date": "2026-01-05",
                "manager_id": "boss",
            },
        ),
        (
            "POST",
            "/v1/employees",
            {
                "employee_id": "x",
                "name": "X",
                "email": "x@acme.test",
                "start_date": "2026-01-05",
                "team_id": theirs["id"],
            },
        ),
        ("PUT", "/v1/employees/emil/manager", {"manager_id": "boss"}),
        ("PUT", "/v1/employees/emil/team", {"team_id": theirs["id"]}),
        ("POST", "/v1/teams", {"name": "Sub", "parent_team_id": theirs["id"]}),
        ("PUT", f"/v1/teams/{theirs['id']}/name", {"name": "Mine now"}),
    ]
    for method, url, body in cases:
        resp = await onboarding.client.request(method, url, json=body, headers=ADMIN)
        assert resp.status_code == 404, (url, resp.text)
        assert resp.json()["error"]["code"] == "not_found"
    # and the other tenant sees nothing of ours, whatever it tries
    for method, url, body in (
        ("GET", "/v1/employees/emil", None),
        ("GET", "/v1/employees/emil/history", None),
        ("PUT", "/v1/employees/emil/title", {"title": "Mine"}),
        ("POST", "/v1/employees/emil/offboard", {"last_day": "2026-12-31"}),
    ):
        resp = await onboarding.client.request(method, url, json=body, headers=OTHER_ADMIN)
        assert resp.status_code == 404, (url, resp.text)


async def test_the_same_employee_id_lives_in_two_tenants_without_meeting(
    onboarding: OnboardingService,
) -> None:
    await onboarding.hire("e-1", email="e1@acme.test")
    body = {"employee_id": "e-1", "name": "Other", "email": "e1@acme.test", "start_date": "2026-01-05"}
    await onboarding.call("POST", "/v1/employees", body, OTHER_ADMIN, 201)
    ours = await onboarding.call("GET", "/v1/employees/e-1")
    theirs = await onboarding.call("GET", "/v1/employees/e-1", headers=OTHER_ADMIN)
    assert (ours["name"], theirs["name"]) == ("E-1", "Other")


async def test_changes_to_an_offboarded_employee_are_refused(onboarding: OnboardingService) -> None:
    await org_of(onboarding)
    resp = await onboarding.client.post(
        "/v1/employees/mia/offboard", json={"last_day": "2026-12-31"}, headers=HR
    )
    assert resp.status_code == 409
    assert resp.json()["error"]["details"]["reports"] == ["ada", "emil"]  # reassign them first
    await onboarding.call(
        "POST", "/v1/employees/ada/offboard", {"last_day": "2026-12-31", "reason": "moved on"}, HR
    )
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("PUT", "/v1/employees/ada/manager", {"manager_id": "ceo"}),
        ("PUT", "/v1/employees/ada/title", {"title": "CTO"}),
        ("PUT", "/v1/employees/ada/team", {"team_id": None}),
        ("POST", "/v1/employees/ada/offboard", {"last_day": "2027-01-01"}),
        ("PUT", "/v1/employees/emil/manager", {"manager_id": "ada"}),  # nobody reports to a leaver
    ]
    for method, url, body in cases:
        resp = await onboarding.client.request(method, url, json=body, headers=ADMIN)
        assert resp.status_code == 409, (url, resp.text)
        assert resp.json()["error"]["code"] == "employee_offboarded"
    assert (await onboarding.call("GET", "/v1/employees/ada"))["status"] == "offboarded"

    async def gone_from_the_list() -> bool:
        listed = (await onboarding.call("GET", "/v1/employees"))["employees"]
        return "ada" not in {e["id"] for e in listed}

    await eventually(gone_from_the_list)


async def test_a_duplicate_email_in_the_tenant_is_refused_and_offboarding_frees_it(
    onboarding: OnboardingService,
) -> None:
    await onboarding.hire("emil", email="emil@acme.test")
    resp = await onboarding.client.post(
        "/v1/employees",
        json={"employee_id": "emil2", "name": "E", "email": " EMIL@Acme.test ", "start_date": "2026-01-05"},
        headers=ADMIN,
    )
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "duplicate_email", resp.text
    # another tenant may have that address
    body = {"employee_id": "emil", "name": "E", "email": "emil@acme.test", "start_date": "2026-01-05"}
    await onboarding.call("POST", "/v1/employees", body, OTHER_ADMIN, 201)
    await onboarding.call("POST", "/v1/employees/emil/offboard", {"last_day": "2026-12-31"})
    await onboarding.hire("emil-again", email="emil@acme.test")


async def test_hires_racing_for_one_email_hire_exactly_one(onboarding: OnboardingService) -> None:
    async def hire(i: int) -> int:
        resp = await onboarding.client.post(
            "/v1/employees",
            json={
                "employee_id": f"twin-{i}",
                "name": "Twin",
                "email": "twin@acme.test",
                "start_date": "2026-01-05",
            },
            headers=ADMIN,
        )
        assert resp.status_code in (201, 409), resp.text
        if resp.status_code == 409:
            assert resp.json()["error"]["code"] == "duplicate_email"
        return resp.status_code

    statuses = await asyncio.gather(*(hire(i) for i in range(10)))
    assert statuses.count(201) == 1, statuses
    assert await onboarding.count_events("EmployeeHired") == 1


async def test_only_admin_and_hr_change_the_org(onboarding: OnboardingService) -> None:
    await org_of(onboarding)
    manager, employee = auth("mia", "manager", "employee"), auth("emil", "employee")
    for headers in (manager, employee):
        for method, url, body in (
            ("POST", "/v1/employees", {"name": "X", "email": "x@acme.test", "start_date": "2026-01-05"}),
            ("PUT", "/v1/employees/emil/manager", {"manager_id": "ceo"}),
            ("PUT", "/v1/employees/emil/title", {"title": "Boss"}),
            ("POST", "/v1/employees/emil/offboard", {"last_day": "2026-12-31"}),
            ("POST", "/v1/teams", {"name": "Mine"}),
        ):
            resp = await onboarding.client.request(method, url, json=body, headers=headers)
            assert resp.status_code == 403, (url, resp.text)
            assert resp.json()["error"]["code"] == "forbidden"
    # hr may; a generated id comes back when none is given
    hired = await onboarding.call(
        "POST",
        "/v1/employees",
        {"name": "New", "email": "new@acme.test", "start_date": "2026-01-05"},
        HR,
        201,
    )
    assert len(hired["id"]) == 36 and hired["events"] == ["EmployeeHired"]


async def test_bad_input_gets_a_clear_4xx_and_never_a_500(onboarding: OnboardingService) -> None:
    await onboarding.hire("emil")
    cases: list[tuple[str, str, Any, dict[str, str], int, str]] = [
        ("POST", "/v1/employees", {"name": "X"}, ADMIN, 422, "invalid_input"),
        (
            "POST",
            "/v1/employees",
            {"employee_id": "has space", "name": "X", "email": "x@acme.test", "start_date": "2026-01-05"},
            ADMIN,
            422,
            "invalid_input",
        ),
        (
            "POST",
            "/v1/employees",
            {"employee_id": "x.y", "name": "X", "email": "x@acme.test", "start_date": "2026-01-05"},
            ADMIN,
            422,
            "invalid_input",
        ),
        (
            "POST",
            "/v1/employees",
            {"name": "X", "email": "not-an-email", "start_date": "2026-01-05"},
            ADMIN,
            422,
            "invalid_input",
        ),
        (
            "POST",
            "/v1/employees",
            {"name": "X", "email": "x@acme.test", "start_date": "yesterday"},
            ADMIN,
            422,
            "invalid_input",
        ),
        (
            "POST",
            "/v1/employees",
            {"employee_id": "emil", "name": "X", "email": "x2@acme.test", "start_date": "2026-01-05"},
            ADMIN,
            409,
            "rule_violation",
        ),
        ("PUT", "/v1/employees/nobody/manager", {"manager_id": None}, ADMIN, 404, "not_found"),
        ("PUT", "/v1/employees/emil/manager", {"manager_id": "nobody"}, ADMIN, 404, "not_found"),
        ("PUT", "/v1/employees/emil/team", {"team_id": "no-such-team"}, ADMIN, 404, "not_found"),
        (
            "PUT",
            "/v1/employees/emil/title",
            {"title": "x"},
            {**ADMIN, "If-Match": "7"},
            409,
            "concurrency_conflict",
        ),
        ("POST", "/v1/employees/emil/offboard", {"last_day": "2020-01-01"}, ADMIN, 422, "invalid_input"),
        ("POST", "/v1/teams", {"name": ""}, ADMIN, 422, "invalid_input"),
        ("GET", "/v1/employees/nobody/reports", None, ADMIN, 404, "not_found"),
        ("GET", "/v1/org-chart", None, {}, 401, "unauthenticated"),
        ("GET", "/v1/org-chart", None, {"Authorization": "Bearer nope"}, 401, "unauthenticated"),
    ]
    for method, url, body, headers, expected, code in cases:
        resp = await onboarding.client.request(method, url, json=body, headers=headers)
        assert resp.status_code == expected, (method, url, body, resp.status_code, resp.text)
        assert resp.json()["error"]["code"] == code, (url, resp.json())


async def test_the_org_events_are_on_the_stream_and_documented(onboarding: OnboardingService) -> None:
    doc = (await onboarding.client.get("/v1/asyncapi.json")).json()
    root = onboarding.runtime.subjects.root
    assert doc["channels"]["EmployeeHired"]["address"] == (
        f"{root}.onboarding.employee.EmployeeHired.{{tenant_id}}.{{aggregate_id}}"
    )
    paths = (await onboarding.client.get("/openapi.json")).json()["paths"]
    assert {"/v1/employees", "/v1/org-chart", "/v1/onboarding-kpis"} <= set(paths)
    await onboarding.hire("emil", start_date=dt.date(2026, 1, 5))
    js = onboarding.runtime.jetstream()

    async def published() -> bool:
        info = await js.stream_info(onboarding.runtime.stream.name)
        return bool(info.state.messages >= 1)

    await eventually(published)
    sub = await js.pull_subscribe(
        f"{root}.onboarding.employee.EmployeeHired.{TENANT}.*", stream=onboarding.runtime.stream.name
    )
    [msg] = await sub.fetch(1, timeout=2)
    assert b'"employee_id":"emil"' in msg.data
    await sub.unsubscribe()
