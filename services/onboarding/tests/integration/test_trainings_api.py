"""The training catalogue, enrolments and the training KPIs through the HTTP API: who may do
and read what, the lifecycle of an enrolment, and the refusals (each with its code, and
nothing stored)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from trellis.testing import eventually

from ..conftest import ADMIN, HR, OnboardingService, auth

NORA, MAX = auth("nora", "employee"), auth("max", "employee")
MIA, CEO, OLGA = (auth(who, "manager", "employee") for who in ("mia", "ceo", "olga"))
OTHER_ADMIN = auth("eve", "admin", tenant="globex")


async def org(onboarding: OnboardingService) -> tuple[str, str]:
    """ceo ← mia ← nora, max (team Platform); ceo ← olga (team Sales)."""
    platform = await onboarding.create_team("Platform")
    sales = await onboarding.create_team("Sales")
    await onboarding.hire("ceo")
    await onboarding.hire("mia", manager="ceo", team=platform)
    await onboarding.hire("nora", manager="mia", team=platform)
    await onboarding.hire("max", manager="mia", team=platform)
    await onboarding.hire("olga", manager="ceo", team=sales)
    return platform, sales


def days(n: int, onboarding: OnboardingService) -> str:
    return (onboarding.today() + dt.timedelta(days=n)).isoformat()


# ---- the catalogue ----------------------------------------------------------------------


async def test_admin_and_hr_keep_the_catalogue_and_everyone_in_the_tenant_reads_it(
    onboarding: OnboardingService,
) -> None:
    sql = await onboarding.create_training("SQL basics", skills=["SQL", " Data "], headers=ADMIN)
    workshop = await onboarding.create_training(
        "Public speaking", kind="workshop", skills=["talks"], url=None
    )
    link = await onboarding.create_training(
        "Data at scale", kind="external_link", skills=["data"], url="https://example.org/scale"
    )
    body = {"kind": "course", "title": "Mine", "skills": []}
    assert await onboarding.refused("POST", "/v1/trainings", body, NORA, 403) == "forbidden"

    read = await onboarding.call("GET", f"/v1/trainings/{sql}", headers=NORA)
    assert (read["title"], read["skills"], read["duration_minutes"], read["retired"], read["version"]) == (
        "SQL basics",
        ["sql", "data"],
        90,
        False,
        1,
    )

    async def titles(query: str = "") -> list[str]:
        found = await onboarding.call("GET", f"/v1/trainings{query}", headers=NORA)
        return [t["title"] for t in found["trainings"]]

    await eventually(lambda: _equals(titles(), ["Data at scale", "Public speaking", "SQL basics"]))
    assert await titles("?skill=DATA") == ["Data at scale", "SQL basics"]
    assert await titles("?kind=workshop") == ["Public speaking"]

    change = {"kind": "course", "title": "SQL, the basics", "url": "https://learn.example.com/sql2"}
    assert await onboarding.refused("PUT", f"/v1/trainings/{sql}", change, MIA, 403) == "forbidden"
    changed = await onboarding.call("PUT", f"/v1/trainings/{sql}", change, HR)
    assert (changed["events"], changed["version"]) == (["TrainingChanged"], 2)
    again = await onboarding.call("PUT", f"/v1/trainings/{sql}", change, HR)
    assert again["events"] == []  # the same again: nothing recorded
    assert (await onboarding.call("GET", f"/v1/trainings/{sql}"))["skills"] == []

    retired = await onboarding.call("POST", f"/v1/trainings/{workshop}/retire", headers=HR)
    assert retired["events"] == ["TrainingRetired"]
    await eventually(lambda: _equals(titles(), ["Data at scale", "SQL, the basics"]))
    listed = await onboarding.call("GET", "/v1/trainings?include_retired=true", headers=NORA)
    assert {t["title"]: t["retired"] for t in listed["trainings"]}["Public speaking"] is True
    changing_retired = {"kind": "workshop", "title": "Speaking again"}
    code = await onboarding.refused("PUT", f"/v1/trainings/{workshop}", changing_retired, HR, 409)
    assert code == "training_retired"

    history = await onboarding.call("GET", f"/v1/trainings/{sql}/history", headers=NORA)
    assert [e["type"] for e in history["events"]] == ["TrainingCreated", "TrainingChanged"]
    for url in (f"/v1/trainings/{link}", f"/v1/trainings/{link}/history"):
        assert await onboarding.refused("GET", url, headers=OTHER_ADMIN, expect=404) == "not_found"
    other = await onboarding.call("GET", "/v1/trainings", headers=OTHER_ADMIN)
    assert other["trainings"] == []
    code = await onboarding.refused("POST", f"/v1/trainings/{link}/retire", headers=OTHER_ADMIN, expect=404)
    assert code == "not_found"


async def test_bad_trainings_are_refused_with_a_code_and_nothing_stored(
    onboarding: OnboardingService,
) -> None:
    good = {
        "kind": "course",
        "title": "SQL basics",
        "url": "https://learn.example.com/sql",
        "skills": ["sql"],
    }
    cases = [
        ({"url": "ftp://files.example.com/sql"}, "invalid_url"),
        ({"url": "javascript:alert(1)"}, "invalid_url"),
        ({"url": "https:///no-host"}, "invalid_url"),
        ({"kind": "external_link", "url": None}, "invalid_url"),
        ({"title": "t" * 301}, "invalid_input"),
        ({"title": " "}, "invalid_input"),
        ({"description": "d" * 10_001}, "invalid_input"),
        ({"url": "https://example.com/" + "x" * 2_000}, "invalid_input"),
        ({"kind": "webinar"}, "invalid_input"),
        ({"skills": ["!!"]}, "invalid_input"),
        ({"skills": [f"s{i}" for i in range(21)]}, "invalid_input"),
        ({"duration_minutes": 0}, "invalid_input"),
        ({"price": 10}, "invalid_input"),
    ]
    for change, code in cases:
        assert await onboarding.refused("POST", "/v1/trainings", {**good, **change}, HR) == code, change
    sql = await onboarding.create_training()
    bad_change = {**good, "url": "mailto:someone@example.com"}
    assert await onboarding.refused("PUT", f"/v1/trainings/{sql}", bad_change, HR) == "invalid_url"
    assert await onboarding.refused("PUT", "/v1/trainings/nope", good, HR, 404) == "not_found"


# ---- enrolments -------------------------------------------------------------------------


async def test_an_enrolment_is_completed_with_evidence_and_the_person_can_be_enrolled_again(
    onboarding: OnboardingService,
) -> None:
    await org(onboarding)
    sql = await onboarding.create_training()
    body = {"employee_id": "nora", "training_id": sql, "target_date": days(20, onboarding)}
    enrolled = await onboarding.call("POST", "/v1/training-enrolments", body, MIA, 201)
    assert enrolled["events"] == ["TrainingEnrolled"]
    first = enrolled["id"]
    view = await onboarding.call("GET", f"/v1/training-enrolments/{first}", headers=NORA)
    assert (view["status"], view["enrolled_by"], view["target_date"], view["training_title"]) == (
        "open",
        "mia",
        days(20, onboarding),
        "SQL basics",
    )
    assert (view["overdue"], view["on_time"], view["plan_id"]) == (False, None, None)

    # One live enrolment per person and training: enrolling again is refused, naming it.
    again = await onboarding.call("POST", "/v1/training-enrolments", body, CEO, 409)
    assert again["error"]["code"] == "already_enrolled"
    assert again["error"]["details"]["enrolment_id"] == first
    assert await onboarding.count_events("TrainingEnrolled") == 1

    complete = f"/v1/training-enrolments/{first}/complete"
    assert await onboarding.refused("POST", complete, {}, NORA) == "evidence_required"
    assert await onboarding.refused("POST", complete, {"url": "ftp://x.example.com"}, NORA) == "invalid_url"
    assert await onboarding.refused("POST", complete, {"note": "n" * 2001}, NORA) == "invalid_input"
    evidence = {"note": "Certificate 42", "url": "https://certs.example.com/42"}
    done = await onboarding.call("POST", complete, evidence, NORA)
    assert (done["events"], done["plan_id"]) == (["TrainingEnrolmentCompleted"], None)
    assert (await onboarding.call("POST", complete, evidence, MIA))["events"] == []  # again: nothing
    withdraw_done = f"/v1/training-enrolments/{first}/withdraw"
    assert await onboarding.refused("POST", withdraw_done, {}, MIA, 409) == "enrolment_closed"
    view = await onboarding.call("GET", f"/v1/training-enrolments/{first}", headers=MIA)
    assert (view["status"], view["completed_by"], view["on_time"]) == ("completed", "nora", True)
    assert (view["evidence_note"], view["evidence_url"]) == ("Certificate 42", "https://certs.example.com/42")

    # Completed: the slot is free, a retake is a new enrolment; then withdrawn by the skip-level.
    second = await onboarding.enrol("nora", sql, headers=NORA)
    assert second != first
    withdrawn = await onboarding.call(
        "POST", f"/v1/training-enrolments/{second}/withdraw", {"reason": "budget"}, CEO
    )
    assert withdrawn["events"] == ["TrainingEnrolmentWithdrawn"]
    code = await onboarding.refused(
        "POST", f"/v1/training-enrolments/{second}/complete", {"note": "x"}, NORA, 409
    )
    assert code == "enrolment_closed"
    view = await onboarding.call("GET", f"/v1/training-enrolments/{second}", headers=NORA)
    assert (view["status"], view["withdrawn_by"], view["withdrawal_reason"]) == ("withdrawn", "ceo", "budget")
    await onboarding.enrol("nora", sql)  # and again after a withdrawal

    history = await onboarding.call("GET", f"/v1/training-enrolments/{first}/history", headers=NORA)
    assert [e["type"] for e in history["events"]] == ["TrainingEnrolled", "TrainingEnrolmentCompleted"]


async def test_enrolments_racing_for_one_person_and_training_enrol_exactly_once(
    onboarding: OnboardingService,
) -> None:
    await org(onboarding)
    sql = await onboarding.create_training()
    body = {"employee_id": "nora", "training_id": sql, "target_date": days(30, onboarding)}

    async def enrol(headers: dict[str, str]) -> int:
        resp = await onboarding.client.post("/v1/training-enrolments", json=body, headers=headers)
        assert resp.status_code in (201, 409), resp.text
        if resp.status_code == 409:
            assert resp.json()["error"]["code"] == "already_enrolled"
        return resp.status_code

    statuses = await asyncio.gather(*(enrol(h) for h in (NORA, MIA, CEO, HR, ADMIN) * 2))
    assert statuses.count(201) == 1, statuses
    assert await onboarding.count_events("TrainingEnrolled") == 1


async def test_enrolling_is_refused_with_a_code_and_nothing_stored(onboarding: OnboardingService) -> None:
    await org(onboarding)
    sql = await onboarding.create_training()
    old = await onboarding.create_training("Old course")
    await onboarding.call("POST", f"/v1/trainings/{old}/retire", headers=HR)

    def body(**changes: Any) -> dict[str, Any]:
        return {"employee_id": "nora", "training_id": sql, "target_date": days(10, onboarding), **changes}

    url = "/v1/training-enrolments"
    assert await onboarding.refused("POST", url, body(target_date=days(-1, onboarding)), MIA) == (
        "target_date_in_past"
    )
    assert await onboarding.refused("POST", url, body(training_id="nope"), MIA, 404) == "not_found"
    assert await onboarding.refused("POST", url, body(training_id=old), MIA, 409) == "training_retired"
    assert await onboarding.refused("POST", url, body(employee_id="ghost"), HR, 404) == "not_found"
    assert await onboarding.refused("POST", url, body(target_date="next week"), MIA) == "invalid_input"
    assert await onboarding.refused("POST", url, body(), MAX, 403) == "forbidden"  # a peer
    assert await onboarding.refused("POST", url, body(), OLGA, 403) == "forbidden"  # another manager
    assert await onboarding.refused("POST", url, body(), OTHER_ADMIN, 404) == "not_found"  # another tenant
    await onboarding.call("POST", "/v1/employees/olga/offboard", {"last_day": days(0, onboarding)})
    assert await onboarding.refused("POST", url, body(employee_id="olga"), HR, 409) == "employee_offboarded"
    # the person themself, today as the target
    assert (await onboarding.call("POST", url, body(target_date=days(0, onboarding)), NORA, 201))["id"]


async def test_an_enrolment_is_read_by_the_person_their_managers_hr_and_admin_and_nobody_else(
    onboarding: OnboardingService,
) -> None:
    await org(onboarding)
    sql = await onboarding.create_training()
    noras = await onboarding.enrol("nora", sql)
    maxs = await onboarding.enrol("max", sql, headers=MAX)
    olgas = await onboarding.enrol("olga", sql, headers=CEO)

    for headers in (NORA, MIA, CEO, HR, ADMIN):
        assert (await onboarding.call("GET", f"/v1/training-enrolments/{noras}", headers=headers))["status"]
        await onboarding.call("GET", f"/v1/training-enrolments/{noras}/history", headers=headers)
    for headers in (MAX, OLGA, OTHER_ADMIN):
        for url in (f"/v1/training-enrolments/{noras}", f"/v1/training-enrolments/{noras}/history"):
            assert await onboarding.refused("GET", url, headers=headers, expect=404) == "not_found"
        for action, body in (("complete", {"note": "done"}), ("withdraw", {})):
            url = f"/v1/training-enrolments/{noras}/{action}"
            assert await onboarding.refused("POST", url, body, headers, 404) == "not_found"
    # An enrolment's id does not open it through another aggregate's route.
    for url in (
        f"/v1/onboarding-plans/{noras}",
        f"/v1/onboarding-plans/{noras}/history",
        f"/v1/trainings/{noras}/history",
        f"/v1/employees/{noras}/history",
    ):
        assert await onboarding.refused("GET", url, headers=MAX, expect=404) == "not_found"

    async def listed(headers: dict[str, str], query: str = "") -> set[str]:
        page = await onboarding.call("GET", f"/v1/training-enrolments{query}", headers=headers)
        return {item["enrolment_id"] for item in page["items"]}

    await onboarding.until_managed("mia", "max")
    await eventually(lambda: _equals(listed(HR), {noras, maxs, olgas}))
    assert await listed(ADMIN) == {noras, maxs, olgas}
    assert await listed(NORA) == {noras}
    assert await listed(MAX) == {maxs}
    assert await listed(MIA) == {noras, maxs}
    assert await listed(CEO) == {noras, maxs, olgas}
    assert await listed(OLGA) == {olgas}
    assert await listed(OTHER_ADMIN) == set()
    assert await listed(MAX, "?employee_id=nora") == set()
    assert await listed(CEO, "?employee_id=nora") == {noras}
    assert await listed(HR, f"?training_id={sql}&status=open") == {noras, maxs, olgas}
    assert await listed(HR, "?status=completed") == set()

    first = await onboarding.call("GET", "/v1/training-enrolments?limit=2", headers=HR)
    rest = await onboarding.call("GET", f"/v1/training-enrolments?limit=2&before={first['next']}", headers=HR)
    assert [i["enrolment_id"] for i in first["items"] + rest["items"]] == [olgas, maxs, noras]  # newest first
    assert rest["next"] is None
    code = await onboarding.refused("GET", "/v1/training-enrolments?before=made-up", headers=HR)
    assert code == "invalid_cursor"


# ---- KPIs -------------------------------------------------------------------------------


async def test_training_kpis_count_enrolments_and_completions_on_time_per_team_and_training(
    onboarding: OnboardingService,
) -> None:
    platform, sales = await org(onboarding)
    sql = await onboarding.create_training("SQL basics")
    git = await onboarding.create_training("Git", skills=["git"])
    in_10 = onboarding.today() + dt.timedelta(days=10)
    nora_sql = await onboarding.enrol("nora", sql, target=in_10)
    nora_git = await onboarding.enrol("nora", git, target=in_10)
    await onboarding.enrol("max", sql, target=in_10)
    await onboarding.enrol("olga", sql, target=in_10)
    olga_git = await onboarding.enrol("olga", git, target=in_10 + dt.timedelta(days=20))
    await onboarding.call("POST", f"/v1/training-enrolments/{nora_sql}/complete", {"note": "ok"}, NORA)
    await onboarding.call("POST", f"/v1/training-enrolments/{olga_git}/withdraw", {}, HR)
    onboarding.clock.advance(dt.timedelta(days=12))
    await onboarding.call("POST", f"/v1/training-enrolments/{nora_git}/complete", {"note": "late"}, NORA)

    async def kpis(headers: dict[str, str] = HR, query: str = "") -> dict[str, Any]:
        found: dict[str, Any] = await onboarding.call("GET", f"/v1/kpis/training{query}", headers=headers)
        return found

    async def settled() -> bool:
        overall = (await kpis())["overall"]
        return (overall["completed"], overall["withdrawn"]) == (2, 1)

    await eventually(settled)
    await onboarding.until_managed("mia", "max")
    found = await kpis()
    assert found["overall"] == {
        "enrolments": 5,
        "open": 2,
        "completed": 2,
        "completed_on_time": 1,
        "completed_late": 1,
        "withdrawn": 1,
        "overdue": 2,
        "completion_rate": 0.5,
        "on_time_rate": 0.25,
    }
    teams = {t["team_name"]: t for t in found["per_team"]}
    assert (teams["Platform"]["team_id"], teams["Sales"]["team_id"]) == (platform, sales)
    assert [teams["Platform"][k] for k in ("enrolments", "completed", "completed_on_time", "overdue")] == [
        3,
        2,
        1,
        1,
    ]
    assert (teams["Platform"]["completion_rate"], teams["Platform"]["on_time_rate"]) == (0.6667, 0.3333)
    assert (teams["Sales"]["enrolments"], teams["Sales"]["withdrawn"], teams["Sales"]["on_time_rate"]) == (
        2,
        1,
        0.0,
    )
    trainings = {t["title"]: t for t in found["per_training"]}
    assert (trainings["SQL basics"]["enrolments"], trainings["SQL basics"]["completed_on_time"]) == (3, 1)
    assert (trainings["Git"]["completion_rate"], trainings["Git"]["on_time_rate"]) == (1.0, 0.0)

    # Over the people one oversees: a manager their reports (and themself), an employee themself.
    assert (await kpis(MIA))["overall"]["enrolments"] == 3
    assert (await kpis(CEO))["overall"]["enrolments"] == 5
    assert (await kpis(NORA))["overall"]["enrolments"] == 2
    assert (await kpis(MAX))["per_team"][0]["overdue"] == 1
    assert (await kpis(OTHER_ADMIN))["overall"]["enrolments"] == 0
    assert (await kpis(query=f"?training_id={sql}"))["overall"]["enrolments"] == 3
    tomorrow = (onboarding.today() + dt.timedelta(days=1)).isoformat()
    later = await kpis(query=f"?from={tomorrow}")
    assert (later["overall"]["enrolments"], later["overall"]["completion_rate"], later["per_team"]) == (
        0,
        None,
        [],
    )
    assert (
        await onboarding.refused("GET", f"/v1/kpis/training?from={tomorrow}&to={tomorrow}") == "invalid_input"
    )


async def _equals(found: Any, expected: Any) -> bool:
    return bool(await found == expected)
