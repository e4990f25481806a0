"""Pace over HTTP, the test clock moved through a quarter: a goal of 2027-Q1 with a tenth
done is on track while nothing is judged yet, at risk, then off track as the quarter
passes, and back on track when progress is recorded; its hand-set status stays beside;
each change of status by pace is one GoalPaceChanged, decided when time passes (a deadline
at the day it changes) or when progress is recorded."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from trellis.goals.bootstrap import SERVICE, GoalsSettings
from trellis.testing import Database, eventually, running_service

from ..conftest import ADMIN, auth


@pytest.fixture
async def client(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = GoalsSettings(
        database_url=database.url,
        database_schema=database.schema,
        nats_url=nats_url,
        subject_root=subject_root,
        data_dir=tmp_path,
        test_clock=True,
        pace_events=True,
    )
    async with running_service(SERVICE, settings) as (_runtime, http):
        yield http


async def _pace_on(client: httpx.AsyncClient, goal: str, day: str | None, status: str) -> dict[str, Any]:
    if day is not None:  # move the clock there (it only moves forward)
        resp = await client.post("/v1/test-clock", json={"to": f"{day}T12:00:00+00:00"}, headers=ADMIN)
        assert resp.status_code == 200, resp.text

    async def check() -> dict[str, Any] | None:
        body = (await client.get("/v1/employees/ceo/goals", headers=ADMIN)).json()["goals"]
        pace = next((g["pace"] for g in body if g["id"] == goal), None)  # the view may lag
        return pace if pace and pace["status"] == status else None

    found: dict[str, Any] = await eventually(check)
    return found


async def _decided(client: httpx.AsyncClient, goal: str, status: str) -> None:
    async def check() -> bool:
        history = (await client.get(f"/v1/goals/{goal}/pace-history", headers=ADMIN)).json()["events"]
        paces = [e["data"]["status"] for e in history if e["type"] == "GoalPaceChanged"]
        return bool(paces) and paces[-1] == status

    await eventually(check)


async def test_a_goal_falls_behind_as_the_quarter_passes_and_progress_brings_it_back(
    client: httpx.AsyncClient,
) -> None:
    resp = await client.post(
        "/v1/goals", json={"level": "company", "title": "Grow", "period": "2027-Q1"}, headers=ADMIN
    )
    goal = resp.json()["goal_id"]
    kr = (
        await client.post(
            f"/v1/goals/{goal}/key-results", json={"name": "Users", "start": 0, "target": 100}, headers=ADMIN
        )
    ).json()["key_result_id"]
    await client.post(f"/v1/goals/{goal}/key-results/{kr}/progress", json={"value": 10}, headers=ADMIN)

    early = await _pace_on(client, goal, "2027-01-05", "on_track")  # 5.6 % expected: not judged yet
    assert (early["start_date"], early["due_date"], early["expected_progress"]) == (
        "2027-01-01",
        "2027-03-31",
        round(5 / 90, 4),
    )
    version = (await client.get(f"/v1/goals/{goal}", headers=ADMIN)).json()["version"]
    behind = await _pace_on(client, goal, "2027-01-12", "at_risk")  # 10 % of 13.3 %: 0.75
    await _decided(client, goal, "at_risk")  # before time moves on: each day is decided
    assert "10% done, 13% expected by 2027-01-12" in behind["reason"]
    assert (behind["effective_status"], behind["effective_because"]) == ("at_risk", "by pace")
    # what the clock decides is the goal's pace's, not the goal's: a client holding the
    # goal from before is not refused because time passed
    assert (await client.get(f"/v1/goals/{goal}", headers=ADMIN)).json()["version"] == version
    resp = await client.patch(
        f"/v1/goals/{goal}", json={"description": "Users"}, headers={**ADMIN, "If-Match": str(version)}
    )
    assert resp.status_code == 200, resp.text
    await _pace_on(client, goal, "2027-02-01", "off_track")  # 10 % of 35.6 %: 0.28
    await _decided(client, goal, "off_track")
    resp = await client.put(f"/v1/goals/{goal}/status", json={"status": "on_track"}, headers=ADMIN)
    assert resp.status_code == 200, resp.text  # set by hand: it wins until the next progress update
    by_hand = (await client.get(f"/v1/goals/{goal}", headers=ADMIN)).json()
    assert (by_hand["status"], by_hand["pace"]["status"]) == ("on_track", "off_track")
    assert (by_hand["pace"]["effective_status"], by_hand["pace"]["effective_because"]) == (
        "on_track",
        "set by hand since the last progress update",
    )

    await client.post(f"/v1/goals/{goal}/key-results/{kr}/progress", json={"value": 20}, headers=ADMIN)
    gave_way = await _pace_on(client, goal, None, "at_risk")  # 20 % of 35.6 %: the pace wins again
    assert (gave_way["effective_status"], gave_way["effective_because"]) == ("at_risk", "by pace")
    await _decided(client, goal, "at_risk")
    await client.post(f"/v1/goals/{goal}/key-results/{kr}/progress", json={"value": 40}, headers=ADMIN)
    back = await _pace_on(client, goal, None, "on_track")  # 40 % of 35.6 %, the same day
    assert back["expected_progress"] == round(32 / 90, 4)
    own = (await client.get(f"/v1/goals/{goal}", headers=ADMIN)).json()
    assert (own["status"], own["pace"]["status"]) == ("on_track", "on_track")

    # each change of status by pace is an event, decided once: when time passed, and when
    # progress was recorded
    async def pace_events() -> list[tuple[str, str, str]] | None:
        history = (await client.get(f"/v1/goals/{goal}/pace-history", headers=ADMIN)).json()["events"]
        found = [
            (e["data"]["previous_status"], e["data"]["status"], e["data"]["as_of"])
            for e in history
            if e["type"] == "GoalPaceChanged"
        ]
        return found if len(found) == 4 else None

    assert await eventually(pace_events) == [
        ("on_track", "at_risk", "2027-01-12"),
        ("at_risk", "off_track", "2027-02-01"),
        ("off_track", "at_risk", "2027-02-01"),
        ("at_risk", "on_track", "2027-02-01"),
    ]
    done = await client.post(f"/v1/goals/{goal}/complete", json={}, headers=ADMIN)
    assert done.status_code == 200, done.text
    assert (await client.get(f"/v1/goals/{goal}", headers=ADMIN)).json()["pace"] is None


@pytest.mark.postgres
async def test_with_two_replicas_each_change_of_pace_is_decided_once(
    pg_database: Database, nats_url: str, subject_root: str, tmp_path: Path
) -> None:
    """Two instances of the goals service on one database, each with its deadline scheduler
    and its own test clock, both moved through the quarter: one event per change."""
    async with contextlib.AsyncExitStack() as stack:
        replicas = [
            await stack.enter_async_context(
                running_service(
                    SERVICE,
                    GoalsSettings(
                        database_url=pg_database.url,
                        database_schema=pg_database.schema,
                        nats_url=nats_url,
                        subject_root=subject_root,
                        data_dir=tmp_path / f"r{i}",
                        test_clock=True,
                        pace_events=True,
                    ),
                )
            )
            for i in range(2)
        ]
        await _through_the_quarter_on(replicas)


async def _through_the_quarter_on(replicas: list[tuple[Any, httpx.AsyncClient]]) -> None:
    first = replicas[0][1]
    resp = await first.post(
        "/v1/goals", json={"level": "company", "title": "Grow", "period": "2027-Q1"}, headers=ADMIN
    )
    goal = resp.json()["goal_id"]
    kr = (
        await first.post(
            f"/v1/goals/{goal}/key-results",
            json={"name": "Users", "start": 0, "target": 100},
            headers=ADMIN,
        )
    ).json()["key_result_id"]
    await first.post(f"/v1/goals/{goal}/key-results/{kr}/progress", json={"value": 10}, headers=ADMIN)
    for day, status in (("2027-01-12", "at_risk"), ("2027-02-01", "off_track")):
        for _, client in replicas:  # both clocks move: either scheduler may claim the deadline
            resp = await client.post("/v1/test-clock", json={"to": f"{day}T12:00:00+00:00"}, headers=ADMIN)
            assert resp.status_code == 200, resp.text
        await _decided(first, goal, status)
    await asyncio.sleep(1.0)  # time for a second decision, were there one
    history = (await first.get(f"/v1/goals/{goal}/pace-history", headers=ADMIN)).json()["events"]
    assert [e["data"]["status"] for e in history if e["type"] == "GoalPaceChanged"] == [
        "at_risk",
        "off_track",
    ]


async def test_a_goal_of_its_own_dates_is_measured_between_them(client: httpx.AsyncClient) -> None:
    """A start date of its own moves the span; due before start is refused, nothing written."""
    refused = await client.post(
        "/v1/goals",
        json={
            "level": "company",
            "title": "Late",
            "period": "2027",
            "start_date": "2027-06-01",
            "due_date": "2027-05-01",
        },
        headers=ADMIN,
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "invalid_input"
    refused = await client.post(
        "/v1/goals",
        json={"level": "company", "title": "Late", "period": "2027-Q1", "start_date": "2027-04-02"},
        headers=ADMIN,
    )
    assert refused.status_code == 422, refused.text  # after its period's last day
    assert (await client.get("/v1/objectives", headers=ADMIN)).json()["objectives"] == []

    resp = await client.post(
        "/v1/goals",
        json={"level": "company", "title": "Second half", "period": "2027", "start_date": "2027-07-01"},
        headers=ADMIN,
    )
    goal = resp.json()["goal_id"]
    pace = await _pace_on(client, goal, "2027-03-01", "on_track")  # before it starts: nothing expected
    assert (pace["start_date"], pace["due_date"], pace["expected_progress"]) == (
        "2027-07-01",
        "2027-12-31",
        0.0,
    )
    assert (await client.get(f"/v1/goals/{goal}", headers=ADMIN)).json()["start_date"] == "2027-07-01"
    moved = await client.patch(f"/v1/goals/{goal}", json={"due_date": "2027-06-30"}, headers=ADMIN)
    assert moved.status_code == 422, moved.text  # before its own start
    moved = await client.patch(f"/v1/goals/{goal}", json={"start_date": "2027-04-01"}, headers=ADMIN)
    assert moved.status_code == 200, moved.text
    own = (await client.get(f"/v1/goals/{goal}", headers=ADMIN)).json()  # reads its own writes
    assert (own["start_date"], own["pace"]["start_date"]) == ("2027-04-01", "2027-04-01")


async def test_a_goal_due_soon_and_still_behind_is_nudged_once_and_one_done_or_on_track_never(
    client: httpx.AsyncClient,
) -> None:
    """GoalDueSoon (its owner is told): seven days before the due date, once per due date."""

    async def goal_with_progress(title: str, value: float) -> str:
        resp = await client.post(
            "/v1/goals", json={"level": "company", "title": title, "period": "2027-Q1"}, headers=ADMIN
        )
        goal: str = resp.json()["goal_id"]
        kr = (
            await client.post(
                f"/v1/goals/{goal}/key-results", json={"name": "n", "start": 0, "target": 100}, headers=ADMIN
            )
        ).json()["key_result_id"]
        await client.post(f"/v1/goals/{goal}/key-results/{kr}/progress", json={"value": value}, headers=ADMIN)
        return goal

    behind, done, ahead = (
        await goal_with_progress("Behind", 10),
        await goal_with_progress("Done", 10),
        await goal_with_progress("Ahead", 95),
    )
    assert (await client.post(f"/v1/goals/{done}/complete", json={}, headers=ADMIN)).status_code == 200

    async def due_soon(goal: str) -> list[dict[str, Any]]:
        history = (await client.get(f"/v1/goals/{goal}/pace-history", headers=ADMIN)).json()["events"]
        return [e["data"] for e in history if e["type"] == "GoalDueSoon"]

    async def move_to(day: str) -> None:
        resp = await client.post("/v1/test-clock", json={"to": f"{day}T12:00:00+00:00"}, headers=ADMIN)
        assert resp.status_code == 200, resp.text

    await move_to("2027-03-23")  # eight days before: off track, but not due soon yet
    await _decided(client, behind, "off_track")
    assert await due_soon(behind) == []
    await move_to("2027-03-24")
    nudged = await eventually(lambda: _nonempty(due_soon(behind)))
    assert [(n["due_date"], n["status"], n["as_of"]) for n in nudged] == [
        ("2027-03-31", "off_track", "2027-03-24")
    ]
    await client.patch(f"/v1/goals/{behind}", json={"description": "still"}, headers=ADMIN)  # re-arms it
    await move_to("2027-03-27")
    await asyncio.sleep(1.0)  # time for a second nudge, were there one
    assert len(await due_soon(behind)) == 1
    assert await due_soon(done) == [] and await due_soon(ahead) == []


async def _nonempty(found: Any) -> Any:
    items = await found
    return items or None


async def test_a_tenant_sets_its_own_thresholds_and_its_goals_are_measured_by_them(
    client: httpx.AsyncClient,
) -> None:
    defaults = (await client.get("/v1/pace-thresholds", headers=ADMIN)).json()
    assert defaults == {
        "at_risk_below": 0.8,
        "off_track_below": 0.5,
        "grace": 0.1,
        "set_by_tenant": False,
        "version": 0,
    }
    resp = await client.post(
        "/v1/goals", json={"level": "company", "title": "Grow", "period": "2027-Q1"}, headers=ADMIN
    )
    goal = resp.json()["goal_id"]
    kr = (
        await client.post(
            f"/v1/goals/{goal}/key-results", json={"name": "n", "start": 0, "target": 100}, headers=ADMIN
        )
    ).json()["key_result_id"]
    await client.post(f"/v1/goals/{goal}/key-results/{kr}/progress", json={"value": 10}, headers=ADMIN)
    await _pace_on(client, goal, "2027-01-12", "at_risk")  # 10 % of 13.3 %: 0.75 by the defaults
    await _decided(client, goal, "at_risk")

    for bad in (
        {"at_risk_below": 0.5, "off_track_below": 0.6, "grace": 0.1},  # off track above at risk
        {"at_risk_below": 1.5, "off_track_below": 0.5, "grace": 0.1},
        {"at_risk_below": 0.8, "off_track_below": 0.5, "grace": 1},
        {"at_risk_below": 0.8, "off_track_below": 0.5},
    ):
        resp = await client.put("/v1/pace-thresholds", json=bad, headers=ADMIN)
        assert resp.status_code == 422, (bad, resp.text)
    resp = await client.put(
        "/v1/pace-thresholds",
        content=b'{"at_risk_below": NaN, "off_track_below": 0.5, "grace": 0.1}',
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_json", resp.text
    for who in (auth("mia", "manager", "employee"), auth("hana", "hr", "employee")):
        resp = await client.put(
            "/v1/pace-thresholds",
            json={"at_risk_below": 0.7, "off_track_below": 0.4, "grace": 0.1},
            headers=who,
        )
        assert resp.status_code == 403, resp.text  # an admin's decision

    lenient = {"at_risk_below": 0.7, "off_track_below": 0.4, "grace": 0.1}
    resp = await client.put("/v1/pace-thresholds", json=lenient, headers=ADMIN)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {**lenient, "set_by_tenant": True, "version": 1}
    # 0.75 is on track by the tenant's thresholds: the views at once, the watch at its next decision
    assert (await client.get(f"/v1/goals/{goal}", headers=ADMIN)).json()["pace"]["status"] == "on_track"
    await client.post(f"/v1/goals/{goal}/key-results/{kr}/progress", json={"value": 10.5}, headers=ADMIN)
    await _decided(client, goal, "on_track")
    other = await client.get("/v1/pace-thresholds", headers=auth("ceo", "admin", "employee", tenant="globex"))
    assert other.json()["set_by_tenant"] is False  # another tenant's are its own
