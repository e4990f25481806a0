"""Who reads a 1:1 agenda, from every viewer role, and bad input that writes nothing.

The org: ceo ← mia ← emil (the pair); olga a peer of mia; hana hr; adam an admin. Another
tenant's users have the very same employee ids as the pair.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from trellis.core.store.tables import events, outbox
from trellis.testing import eventually

from ..conftest import START, FeedbackService, auth

ORG = [
    ("ceo", None, None),
    ("mia", "ceo", None),
    ("emil", "mia", None),
    ("olga", "ceo", None),
    ("hana", "ceo", None),
    ("adam", None, None),
]
MIA = auth("mia", "manager", "employee")
EMIL = auth("emil")
VIEWERS = {
    "report": EMIL,
    "manager": MIA,
    "admin": auth("adam", "admin"),
    "hr": auth("hana", "hr", "employee"),
    "managers manager": auth("ceo", "manager", "employee"),
    "peer": auth("olga", "manager", "employee"),
    "other tenant": auth("emil", "employee", "manager", "hr", "admin", tenant="globex"),
    "other tenant's manager": auth("mia", "manager", "admin", tenant="globex"),
}
POINTS = {  # text: (author, private)
    "shared by emil": ("emil", False),
    "emil's secret": ("emil", True),
    "shared by mia": ("mia", False),
    "mia's secret": ("mia", True),
}
READS: dict[str, set[str] | None] = {  # the texts each viewer reads; None: not found
    "report": {"shared by emil", "emil's secret", "shared by mia"},
    "manager": {"shared by emil", "shared by mia", "mia's secret"},
    "admin": {"shared by emil", "shared by mia"},  # and the two secrets listed, their text withheld
    "hr": None,
    "managers manager": None,
    "peer": None,
    "other tenant": None,
    "other tenant's manager": None,
}


@pytest.fixture
async def prepared(feedback: FeedbackService) -> tuple[FeedbackService, str, dict[str, str], str]:
    """A schedule with the four points, an action item, and a held first check-in."""
    await feedback.build_org(ORG)
    resp = await feedback.client.post("/v1/checkin-schedules", json={"report_id": "emil"}, headers=MIA)
    assert resp.status_code == 201, resp.text
    schedule_id = resp.json()["id"]
    ids = {}
    for text, (author, private) in POINTS.items():
        resp = await feedback.client.post(
            f"/v1/checkin-schedules/{schedule_id}/agenda/points",
            json={"text": text, "private": private, "goal_id": "g-secret" if private else "g-1"},
            headers=auth(author),
        )
        assert resp.status_code == 201, resp.text
        ids[text] = resp.json()["related"]["talking_point"]
    resp = await feedback.client.post(
        f"/v1/checkin-schedules/{schedule_id}/agenda/action-items",
        json={"owner_id": "emil", "text": "book the course", "due_on": "2026-01-30"},
        headers=MIA,
    )
    assert resp.status_code == 201, resp.text
    feedback.clock.set(START.replace(hour=9))
    await feedback.deadlines_fired()
    checkin_id = f"{schedule_id}-20260105T0900Z"
    resp = await feedback.client.post(
        f"/v1/checkins/{checkin_id}/complete",
        json={"confidence": 3, "discussed_point_ids": [ids["shared by emil"]]},
        headers=MIA,
    )
    assert resp.status_code == 200, resp.text
    return feedback, schedule_id, ids, checkin_id


async def test_the_pair_reads_the_agenda_an_admin_audits_it_without_private_text_others_get_404(
    prepared: tuple[FeedbackService, str, dict[str, str], str],
) -> None:
    service, schedule_id, ids, checkin_id = prepared
    names = {v: k for k, v in ids.items()}
    for viewer, headers in VIEWERS.items():
        expected = READS[viewer]
        agenda = await service.client.get(f"/v1/checkin-schedules/{schedule_id}/agenda", headers=headers)
        held = await service.client.get(f"/v1/checkins/{checkin_id}/agenda", headers=headers)
        if expected is None:
            assert (agenda.status_code, held.status_code) == (404, 404), viewer
            assert agenda.json()["error"]["code"] == "not_found"
            for secret in ("secret", "shared by", "book the course"):
                assert secret not in agenda.text and secret not in held.text
            continue
        assert (agenda.status_code, held.status_code) == (200, 200), viewer
        body, past = agenda.json(), held.json()
        read = {p["text"] for p in body["points"]} | {p["text"] for p in past["discussed"]}
        if viewer == "admin":
            assert body["audit"] is True
            withheld = [p for p in body["points"] if p["text"] is None]
            assert {names[p["id"]] for p in withheld} == {"emil's secret", "mia's secret"}
            assert all(p["private"] and p["goal_id"] is None for p in withheld)
            read.discard(None)
        else:
            assert body["audit"] is False
        assert read == expected, viewer
        hidden = {"emil's secret", "mia's secret"} - expected
        for text in hidden:
            assert text not in agenda.text and text not in held.text, viewer
            if viewer != "admin":  # the other one does not learn it exists
                assert ids[text] not in agenda.text and ids[text] not in held.text
        assert "g-secret" not in agenda.text if viewer == "admin" else True
        assert [i["text"] for i in body["action_items"]] == ["book the course"]


async def test_only_the_pair_changes_an_agenda_an_admin_is_refused_and_others_find_nothing(
    prepared: tuple[FeedbackService, str, dict[str, str], str],
) -> None:
    service, schedule_id, ids, _ = prepared
    path = f"/v1/checkin-schedules/{schedule_id}/agenda"
    expected = {
        "admin": 403,
        "hr": 404,
        "managers manager": 404,
        "peer": 404,
        "other tenant": 404,
        "other tenant's manager": 404,
    }
    before = await stored(service)
    for viewer, status in expected.items():
        headers = VIEWERS[viewer]
        for method, url, body in [
            ("POST", f"{path}/points", {"text": "x"}),
            ("PATCH", f"{path}/points/{ids['shared by mia']}", {"text": "x"}),
            ("DELETE", f"{path}/points/{ids['shared by mia']}", None),
            ("PUT", f"{path}/order", {"point_ids": []}),
            ("POST", f"{path}/action-items", {"owner_id": "emil", "text": "x"}),
        ]:
            resp = await service.client.request(method, url, json=body, headers=headers)
            assert resp.status_code == status, (viewer, method, url, resp.text)
    assert await stored(service) == before


Body = dict[str, Any] | list[Any] | bytes | None
BAD: list[tuple[str, str, Body, int, str]] = [
    # (method, path under the agenda, body, status, code)
    ("POST", "/points", {"text": ""}, 422, "empty_text"),
    ("POST", "/points", {"text": " \n\t "}, 422, "empty_text"),
    ("POST", "/points", {"text": "x" * 2_001}, 422, "invalid_input"),
    ("POST", "/points", {"text": "x", "key_result_id": "kr-1"}, 422, "key_result_needs_goal"),
    ("POST", "/points", {"text": "x", "goal_id": "../../etc"}, 422, "invalid_input"),
    ("POST", "/points", {"text": "x", "private": "yes"}, 422, "invalid_input"),
    ("POST", "/points", {"text": "x", "surprise": 1}, 422, "invalid_input"),
    ("POST", "/points", {"text": "a\u0000b"}, 422, "invalid_input"),
    ("POST", "/points", b'{"text": 1e400}', 422, "invalid_input"),
    ("POST", "/points", b'{"text": "x", "private": NaN}', 400, "invalid_json"),
    ("POST", "/points", [], 422, "invalid_input"),
    ("PATCH", "/points/nope", {"text": "x"}, 404, "talking_point_not_found"),
    ("PATCH", "/points/{mia's secret}", {"text": "x"}, 404, "talking_point_not_found"),
    ("PATCH", "/points/{shared by mia}", {"text": "x"}, 403, "forbidden"),
    ("PATCH", "/points/{shared by emil}", {"private": True}, 422, "invalid_input"),
    ("PATCH", "/points/{emil's secret}", {"text": "   "}, 422, "empty_text"),
    ("PATCH", "/points/{other pair}", {"text": "x"}, 404, "talking_point_not_found"),
    ("DELETE", "/points/{shared by mia}", None, 403, "forbidden"),
    ("DELETE", "/points/{other pair}", None, 404, "talking_point_not_found"),
    ("PUT", "/order", {"point_ids": ["{shared by mia}"]}, 422, "agenda_order_mismatch"),
    (
        "PUT",
        "/order",
        {"point_ids": ["{shared by mia}", "{emil's secret}", "{mia's secret}"]},
        422,
        "agenda_order_mismatch",
    ),
    (
        "PUT",
        "/order",
        {"point_ids": ["{shared by mia}", "{emil's secret}", "{emil's secret}"]},
        422,
        "agenda_order_mismatch",
    ),
    (
        "PUT",
        "/order",
        {"point_ids": ["{shared by mia}", "{emil's secret}", "{other pair}"]},
        422,
        "agenda_order_mismatch",
    ),
    ("PUT", "/order", {"point_ids": "all"}, 422, "invalid_input"),
    ("POST", "/action-items", {"owner_id": "olga", "text": "x"}, 422, "not_in_pair"),
    ("POST", "/action-items", {"owner_id": "mia", "text": ""}, 422, "empty_text"),
    ("POST", "/action-items", {"owner_id": "mia", "text": "x", "due_on": "someday"}, 422, "invalid_input"),
    ("POST", "/action-items", {"owner_id": "mia", "text": "x", "due_on": 1e308}, 422, "invalid_input"),
    ("POST", "/action-items", {"owner_id": "mia", "text": "x", "due_on": "9999-12-31"}, 422, "invalid_input"),
    ("POST", "/action-items", {"owner_id": "mia", "text": "x", "checkin_id": "nope"}, 422, "unknown_checkin"),
    (
        "POST",
        "/action-items",
        {"owner_id": "mia", "text": "x", "checkin_id": "{other checkin}"},
        422,
        "unknown_checkin",
    ),
    ("PATCH", "/action-items/nope", {"text": "x"}, 404, "action_item_not_found"),
    ("POST", "/action-items/nope/done", None, 404, "action_item_not_found"),
    ("POST", "/action-items/{other item}/done", None, 404, "action_item_not_found"),
]
COMPLETE_BAD: list[tuple[Body, int, str]] = [
    ({"confidence": 3, "discussed_point_ids": ["nope"]}, 422, "unknown_talking_points"),
    ({"confidence": 3, "discussed_point_ids": ["{mia's secret}"]}, 422, "unknown_talking_points"),
    ({"confidence": 3, "discussed_point_ids": ["{other pair}"]}, 422, "unknown_talking_points"),
    ({"confidence": 3, "discussed_point_ids": ["{emil's secret}", "{emil's secret}"]}, 422, "invalid_input"),
    ({"confidence": 3, "discussed_point_ids": "all"}, 422, "invalid_input"),
    ({"confidence": 3, "discussed_point_ids": [1e308]}, 422, "invalid_input"),
    (b'{"confidence": 3, "discussed_point_ids": [Infinity]}', 400, "invalid_json"),
    (b'{"confidence": 1e400}', 422, "invalid_input"),
]


async def test_bad_input_gets_a_4xx_with_a_code_and_writes_nothing(feedback: FeedbackService) -> None:
    await feedback.build_org([*ORG, ("nils", "olga", None)])
    ids: dict[str, str] = {}
    schedules = {}
    for manager, report in (("mia", "emil"), ("olga", "nils")):
        resp = await feedback.client.post(
            "/v1/checkin-schedules", json={"report_id": report}, headers=auth(manager, "manager")
        )
        assert resp.status_code == 201, resp.text
        schedules[report] = resp.json()["id"]
    for text, (author, private) in POINTS.items():
        resp = await feedback.client.post(
            f"/v1/checkin-schedules/{schedules['emil']}/agenda/points",
            json={"text": text, "private": private},
            headers=auth(author),
        )
        ids[text] = resp.json()["related"]["talking_point"]
    other = f"/v1/checkin-schedules/{schedules['nils']}/agenda"
    resp = await feedback.client.post(f"{other}/points", json={"text": "theirs"}, headers=auth("nils"))
    ids["other pair"] = resp.json()["related"]["talking_point"]
    resp = await feedback.client.post(
        f"{other}/action-items", json={"owner_id": "nils", "text": "theirs"}, headers=auth("olga")
    )
    ids["other item"] = resp.json()["related"]["action_item"]
    feedback.clock.set(START.replace(hour=9))
    await feedback.deadlines_fired()
    ids["other checkin"] = f"{schedules['nils']}-20260105T0900Z"

    def filled(value: Any) -> Any:
        if isinstance(value, str):
            for name, id_ in ids.items():
                value = value.replace("{" + name + "}", id_)
            return value
        if isinstance(value, list):
            return [filled(v) for v in value]
        if isinstance(value, dict):
            return {k: filled(v) for k, v in value.items()}
        return value

    before = await stored(feedback)
    path = f"/v1/checkin-schedules/{schedules['emil']}/agenda"
    for method, suffix, body, status, code in BAD:
        resp = await feedback.client.request(method, path + filled(suffix), **sent(filled(body), EMIL))
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code), (
            method,
            suffix,
            body,
            resp.text,
        )
    checkin_id = f"{schedules['emil']}-20260105T0900Z"
    for body, status, code in COMPLETE_BAD:
        resp = await feedback.client.post(f"/v1/checkins/{checkin_id}/complete", **sent(filled(body), EMIL))
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code), (body, resp.text)
    assert await stored(feedback) == before  # nothing written: not the check-in, not the agenda

    # and the same requests, well formed, are taken
    resp = await feedback.client.post(
        f"/v1/checkins/{checkin_id}/complete",
        json={"confidence": 3, "discussed_point_ids": [ids["emil's secret"]]},
        headers=EMIL,
    )
    assert resp.status_code == 200, resp.text


async def test_an_agenda_takes_no_new_points_once_its_schedule_ended(feedback: FeedbackService) -> None:
    await feedback.build_org(ORG)
    resp = await feedback.client.post("/v1/checkin-schedules", json={"report_id": "emil"}, headers=MIA)
    schedule_id = resp.json()["id"]
    path = f"/v1/checkin-schedules/{schedule_id}/agenda"
    resp = await feedback.client.post(
        f"{path}/action-items", json={"owner_id": "emil", "text": "t"}, headers=MIA
    )
    item = resp.json()["related"]["action_item"]
    resp = await feedback.client.post(f"/v1/checkin-schedules/{schedule_id}/end", json={}, headers=MIA)
    assert resp.status_code == 200, resp.text
    resp = await feedback.client.post(f"{path}/points", json={"text": "x"}, headers=EMIL)
    assert (resp.status_code, resp.json()["error"]["code"]) == (409, "rule_violation")
    resp = await feedback.client.post(f"{path}/action-items/{item}/done", headers=EMIL)
    assert resp.status_code == 200, resp.text  # what was agreed may still be done

    async def listed() -> bool:
        resp = await feedback.client.get("/v1/action-items", params={"status": "done"}, headers=EMIL)
        return [i["id"] for i in resp.json()["action_items"]] == [item]

    await eventually(listed)


def sent(body: Body, headers: dict[str, str]) -> dict[str, Any]:
    """The request's body and headers: JSON, or bytes as they are (numbers JSON cannot hold)."""
    if isinstance(body, bytes):
        return {"content": body, "headers": {**headers, "Content-Type": "application/json"}}
    return {"json": body, "headers": headers}


async def stored(service: FeedbackService) -> tuple[int, int]:
    async with service.runtime.sessions() as session:
        count_events = (await session.execute(select(func.count()).select_from(events))).scalar_one()
        count_outbox = (await session.execute(select(func.count()).select_from(outbox))).scalar_one()
    return int(count_events), int(count_outbox)
