"""Time entries are read by their person alone: proven from every role, on every route of the
goals service, on its stream, in its AsyncAPI document and in its logs.

Emil logs time with texts found nowhere else. Then his manager, his manager's manager, hr,
an admin, another employee, and an admin of another tenant who is *also* called ``emil``
walk every read route of the service's OpenAPI document (each path parameter given Emil's
goal, his key result, his id, his timesheet's id and each of his entry ids in turn), and
try to change and delete his entries. Emil walks the same routes as the control: his own
walk finds his texts, so theirs finding nothing means something. Every message on the goals
stream is read: none is a time-tracking event or carries a word of one.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import nats
import pytest
import structlog
from sqlalchemy import func, select

from trellis.contracts import registry_of
from trellis.contracts.timekeeping import TimeEntryChanged, TimeEntryDeleted, TimeEntryLogged, TimesheetErased
from trellis.core.store.tables import events, outbox
from trellis.goals.timekeeping.domain.timesheet import timesheet_id
from trellis.testing import eventually

from ..conftest import TENANT, GoalsService, auth
from .test_timekeeping_api import MONDAY, TUESDAY, goal_with_key_result, log

TIMEKEEPING_TYPES = {
    cls.event_type for cls in (TimeEntryLogged, TimeEntryChanged, TimeEntryDeleted, TimesheetErased)
}
LABEL = "tk-label-interviewing-elsewhere"
NOTE = "tk-note-burnt-out-7q"
CHANGED_NOTE = "tk-note-changed-3w"
DELETED_LABEL = "tk-label-deleted-9z"
TEXTS = (LABEL, NOTE, CHANGED_NOTE, DELETED_LABEL)

OWNER = auth("emil", "employee")
READERS = {
    "manager": auth("mia", "manager", "employee"),
    "manager's manager": auth("ceo", "manager", "employee"),
    "hr": auth("hana", "hr", "employee"),
    "admin": auth("ada", "admin", "hr", "manager", "employee"),
    "another employee": auth("olga", "employee"),
    "another tenant's admin, also emil": auth("emil", "admin", "hr", "manager", "employee", tenant="globex"),
}


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every structlog line, context variables included, as JSON."""
    buffer = io.StringIO()
    saved = structlog.get_config()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(file=buffer),
        cache_logger_on_first_use=False,
    )
    try:
        yield buffer
    finally:
        structlog.configure(**saved)


async def walk(
    goals: GoalsService, headers: dict[str, str], probes: dict[str, list[str]]
) -> list[tuple[str, Any]]:
    """Every read route of the service's OpenAPI document (and ``/metrics``), each path
    parameter given each probe in turn: (url, response)."""
    seen = []
    spec = (await goals.client.get("/openapi.json")).json()
    for path, methods in spec["paths"].items():
        if "get" not in methods:
            continue
        names = re.findall(r"\{([^}]+)\}", path)
        urls = {path}
        if names:
            urls = {re.sub(r"\{[^}]+\}", probe, path) for values in probes.values() for probe in values}
        for url in sorted(urls):
            ranged = path.startswith("/v1/timesheet/") and not names  # the lists take a range
            params = {"from": MONDAY.isoformat(), "to": TUESDAY.isoformat()} if ranged else {}
            seen.append((url, await goals.client.get(url, params=params, headers=headers)))
    for url in ("/metrics", "/openapi.json", "/v1/alignment-coverage?manager_id=mia"):
        seen.append((url, await goals.client.get(url, headers=headers)))
    return seen


async def stream_messages(goals: GoalsService, nats_url: str) -> list[Any]:
    """Every message on the goals stream, once every published event is there."""
    async with goals.runtime.sessions() as session:
        published = int((await session.execute(select(func.count()).select_from(outbox))).scalar() or 0)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        stream = goals.runtime.stream.name

        async def arrived() -> bool:
            return (await js.stream_info(stream)).state.messages >= published

        await eventually(arrived)
        sub = await js.pull_subscribe(f"{goals.runtime.subjects.root}.goals.>", stream=stream)
        msgs = await sub.fetch(published + 10, timeout=2)
        assert len(msgs) == (await js.stream_info(stream)).state.messages == published
        return list(msgs)
    finally:
        await nc.close()


async def test_time_entries_are_read_by_their_person_alone(
    goals: GoalsService,
    nats_url: str,
    captured_logs: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    await goals.hire("ceo")
    await goals.change_manager("mia", "ceo", None)
    await goals.until_managed("ceo", "emil")  # the manager's manager, at depth 2

    goal, kr = await goal_with_key_result(goals)
    entries = [
        await log(goals, minutes=50, label=LABEL, note=NOTE),
        await log(goals, minutes=40, goal_id=goal, key_result_id=kr, note=NOTE),
        await log(goals, day=TUESDAY.isoformat(), minutes=30, goal_id=goal),
    ]
    deleted = await log(goals, minutes=20, label=DELETED_LABEL)
    assert (
        await goals.client.delete(f"/v1/timesheet/entries/{deleted['entry_id']}", headers=OWNER)
    ).status_code == 200
    changed = await goals.client.patch(
        f"/v1/timesheet/entries/{entries[2]['entry_id']}", json={"note": CHANGED_NOTE}, headers=OWNER
    )
    assert changed.status_code == 200, changed.text
    entry_ids = [e["entry_id"] for e in (*entries, deleted)]
    sheet = timesheet_id(TENANT, "emil")
    probes = {
        "goal": [goal],
        "key result": [kr],
        "person": ["emil"],
        "timesheet": [sheet],
        "entries": entry_ids,
    }
    secrets = (*TEXTS, sheet, *entry_ids)

    # the control: Emil's own walk finds his texts and entries
    mine = "\n".join(r.text for _, r in await walk(goals, OWNER, probes))
    for text in (LABEL, NOTE, CHANGED_NOTE, *entry_ids[:3]):
        assert text in mine
    assert DELETED_LABEL not in mine  # deleted is deleted, for him too

    for role, headers in READERS.items():
        walked = await walk(goals, headers, probes)
        statuses = {url: resp.status_code for url, resp in walked}
        assert len(walked) >= 40, len(walked)  # the walker itself: it reaches the routes that matter
        assert statuses[f"/v1/goals/{sheet}/history"] == statuses[f"/v1/goals/{sheet}"] == 404, role
        assert statuses[f"/v1/timesheet/entries/{entry_ids[0]}"] == 404, role
        for url, resp in walked:
            where = (role, url, resp.status_code, resp.text[:300])
            assert resp.status_code < 500, where
            seen = resp.text + json.dumps(dict(resp.headers))
            # an id the reader put in the URL may come back in a "not found"; nothing else may
            assert not any(s in seen for s in secrets if s not in url), where
            if any(i in url for i in (sheet, *entry_ids)):
                assert resp.status_code in (200, 404), where
                if resp.status_code == 200:  # a list filtered by that id: empty
                    assert all(
                        v in ([], {}, 0, None) for v in resp.json().values() if not isinstance(v, str)
                    ), where
        # their own timesheet is empty; his entries are not theirs to change or delete
        own = await goals.client.get(
            "/v1/timesheet/summary", params={"from": MONDAY.isoformat()}, headers=headers
        )
        assert own.json()["total_minutes"] == 0 and own.json()["entries"] == 0, role
        for entry_id in entry_ids:
            url = f"/v1/timesheet/entries/{entry_id}"
            for method, body in (("GET", None), ("PATCH", {"note": "taken over"}), ("DELETE", None)):
                resp = await goals.client.request(method, url, json=body, headers=headers)
                assert (resp.status_code, resp.json()["error"]["code"]) == (404, "not_found"), (role, method)
        resp = await goals.client.delete("/v1/timesheet", headers=headers)  # erases their own, never his
        assert resp.status_code == 200 and resp.json()["entries_erased"] == 0, role

    # after all of that, his entries are as he left them
    after = (
        await goals.client.get("/v1/timesheet/entries", params={"from": MONDAY.isoformat()}, headers=OWNER)
    ).json()
    assert [(e["id"], e["note"]) for e in after["entries"]] == [
        (entry_ids[0], NOTE),
        (entry_ids[1], NOTE),
        (entry_ids[2], CHANGED_NOTE),
    ]

    # the stream: what other services, webhooks, notifications and KPIs could ever see
    async with goals.runtime.sessions() as session:
        stored = (await session.execute(select(events.c.event_type))).scalars().all()
    assert TIMEKEEPING_TYPES & set(stored) == {"TimeEntryLogged", "TimeEntryChanged", "TimeEntryDeleted"}
    messages = await stream_messages(goals, nats_url)
    on_stream = b"\n".join(
        m.subject.encode() + json.dumps(m.headers or {}).encode() + m.data for m in messages
    )
    assert b"GoalCreated" in on_stream and goal.encode() in on_stream  # the control
    types = {json.loads(m.data)["event_type"] for m in messages}
    assert not types & TIMEKEEPING_TYPES, types
    assert b"timesheet" not in on_stream
    for secret in secrets:
        assert secret.encode() not in on_stream, secret

    # no time-tracking event is published, so none is in the AsyncAPI document's channels:
    # nothing can subscribe to one (webhook subscriptions match published types only)
    assert all(
        not cls.published for cls in registry_of("goals").types() if cls.event_type in TIMEKEEPING_TYPES
    )
    document = (await goals.client.get("/v1/asyncapi.json", headers=OWNER)).json()
    assert not TIMEKEEPING_TYPES & set(document["channels"])
    assert not any(t in json.dumps(document["channels"]) for t in TIMEKEEPING_TYPES)

    # no log line holds a word of what he wrote
    out, err = capfd.readouterr()
    for logged in (captured_logs.getvalue(), caplog.text, out, err):
        for text in TEXTS:
            assert text not in logged


async def test_erased_time_is_gone_for_its_person_too_and_the_rest_stay_blind(goals: GoalsService) -> None:
    """After erasing, the person's own walk finds nothing either."""
    goal, _ = await goal_with_key_result(goals)
    await log(goals, minutes=50, label=LABEL, note=NOTE)
    await log(goals, minutes=40, goal_id=goal, note=CHANGED_NOTE)
    assert (await goals.client.delete("/v1/timesheet", headers=OWNER)).json()["entries_erased"] == 2
    probes = {"goal": [goal], "person": ["emil"], "timesheet": [timesheet_id(TENANT, "emil")]}
    for headers in (OWNER, *READERS.values()):
        for url, resp in await walk(goals, headers, probes):
            assert not any(t in resp.text for t in TEXTS), (url, resp.text[:300])
