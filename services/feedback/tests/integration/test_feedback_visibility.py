"""Feedback visibility, from every viewer role, on every read path.

The org: ceo ← mia ← emil (the recipient); olga, pete, paul, quinn and rita are peers
under the ceo; hana is hr, adam an admin. olga gives emil one feedback of each visibility;
paul, quinn and rita each give emil one anonymous feedback of each visibility. Another
tenant's user has the very same employee id as the recipient.
"""

from __future__ import annotations

from typing import Any

import pytest

from trellis.testing import eventually

from ..conftest import FeedbackService, auth

ORG = [
    ("ceo", None, "exec"),
    ("mia", "ceo", "eng"),
    ("emil", "mia", "eng"),
    ("olga", "ceo", "sales"),
    ("pete", "ceo", "sales"),
    ("paul", "ceo", "sales"),
    ("quinn", "ceo", "sales"),
    ("rita", "ceo", "sales"),
    ("hana", "ceo", "people"),
    ("adam", None, None),
]
VIEWERS = {
    "recipient": auth("emil"),
    "giver": auth("olga"),
    "manager": auth("mia", "manager", "employee"),
    "managers manager": auth("ceo", "manager", "employee"),
    "unrelated peer": auth("pete"),
    "anonymous giver": auth("paul"),
    "hr": auth("hana", "hr", "employee"),
    "admin": auth("adam", "admin"),
    "other tenant": auth("emil", "employee", "manager", "hr", "admin", tenant="globex"),
}
FEEDBACK = {  # name: (giver, visibility, anonymous)
    "private": ("olga", "private", False),
    "manager": ("olga", "manager", False),
    "public": ("olga", "public", False),
    "anonymous private": ("paul", "private", True),
    "anonymous manager": ("quinn", "manager", True),
    "anonymous public": ("rita", "public", True),
}
PUBLIC = {"public", "anonymous public"}
READS = {
    "recipient": set(FEEDBACK),
    "giver": {"private", "manager", *PUBLIC},
    "manager": {"manager", "anonymous manager", *PUBLIC},
    "managers manager": {"manager", "anonymous manager", *PUBLIC},
    "unrelated peer": PUBLIC,
    "anonymous giver": PUBLIC,  # the service cannot tell them from anyone else
    "hr": PUBLIC,  # roles add no reading rights
    "admin": PUBLIC,
    "other tenant": set(),
}


async def give(service: FeedbackService) -> dict[str, str]:
    ids = {}
    for name, (giver, visibility, anonymous) in FEEDBACK.items():
        resp = await service.client.post(
            "/v1/feedback",
            json={
                "recipient_id": "emil",
                "body": f"feedback '{name}'",
                "visibility": visibility,
                "anonymous": anonymous,
                "goal_id": "g-1",
            },
            headers=auth(giver),
        )
        assert resp.status_code == 201, resp.text
        ids[name] = resp.json()["id"]
    return ids


async def listed(service: FeedbackService, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    resp = await service.client.get(path, headers=headers)
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    return items


@pytest.fixture
async def given_feedback(feedback: FeedbackService) -> tuple[FeedbackService, dict[str, str]]:
    await feedback.build_org(ORG)
    ids = await give(feedback)

    async def indexed() -> bool:
        return len(await listed(feedback, "/v1/employees/emil/feedback/received", VIEWERS["recipient"])) == 6

    await eventually(indexed)
    return feedback, ids


async def test_each_visibility_is_read_by_exactly_the_right_viewers_on_every_path(
    given_feedback: tuple[FeedbackService, dict[str, str]],
) -> None:
    service, ids = given_feedback
    names = {v: k for k, v in ids.items()}
    for viewer, headers in VIEWERS.items():
        expected = READS[viewer]
        one_by_one = set()
        for name, feedback_id in ids.items():
            resp = await service.client.get(f"/v1/feedback/{feedback_id}", headers=headers)
            assert resp.status_code in (200, 404), resp.text
            if resp.status_code == 200:
                one_by_one.add(name)
                assert resp.json()["body"] == f"feedback '{name}'"
        assert one_by_one == expected, viewer

        received = await listed(service, "/v1/employees/emil/feedback/received", headers)
        assert {names[i["id"]] for i in received} == expected, viewer
        about_goal = await listed(service, "/v1/goals/g-1/feedback", headers)
        assert {names[i["id"]] for i in about_goal} == expected, viewer
        given = await listed(service, "/v1/employees/olga/feedback/given", headers)
        assert {names[i["id"]] for i in given} == expected & {"private", "manager", "public"}, viewer
        for anonymous_giver in ("paul", "quinn", "rita"):  # anonymous feedback has no giver to list it under
            assert await listed(service, f"/v1/employees/{anonymous_giver}/feedback/given", headers) == []
        for item in received:
            assert item["body"] == f"feedback '{names[item['id']]}'"
            if item["anonymous"]:
                assert item["giver_id"] is None and item["kind"] == "peer"
            else:
                assert item["giver_id"] == "olga"


async def test_the_manager_line_is_the_one_at_read_time(
    given_feedback: tuple[FeedbackService, dict[str, str]],
) -> None:
    service, ids = given_feedback
    await service.change_manager("emil", "pete", previous="mia")
    await service.until_org("emil", "pete")
    for feedback_name in ("manager", "anonymous manager"):
        feedback_id = ids[feedback_name]
        pete = await service.client.get(f"/v1/feedback/{feedback_id}", headers=VIEWERS["unrelated peer"])
        mia = await service.client.get(f"/v1/feedback/{feedback_id}", headers=VIEWERS["manager"])
        assert (pete.status_code, mia.status_code) == (200, 404)
        assert pete.json()["giver_id"] == (None if "anonymous" in feedback_name else "olga")


async def test_feedback_counts_cover_whom_the_viewer_oversees_and_never_an_anonymous_giver(
    given_feedback: tuple[FeedbackService, dict[str, str]],
) -> None:
    service, _ids = given_feedback

    async def kpis(viewer: str) -> dict[str, Any]:
        resp = await service.client.get("/v1/kpis/feedback", headers=VIEWERS[viewer])
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    everyone = await kpis("hr")
    assert everyone["per_person"] == [
        {"employee_id": "emil", "received": 6, "given": 0},
        {"employee_id": "olga", "received": 0, "given": 3},
    ]
    assert everyone["per_team"] == [
        {"team_id": "eng", "received": 6, "given": 0},
        {
            "team_id": "sales",
            "received": 0,
            "given": 3,
        },  # paul, quinn and rita gave nothing they are known for
    ]
    assert (await kpis("admin")) == everyone
    assert (await kpis("managers manager")) == everyone  # everyone reports to the ceo
    assert (await kpis("manager"))["per_person"] == [{"employee_id": "emil", "received": 6, "given": 0}]
    assert (await kpis("recipient"))["per_person"] == [{"employee_id": "emil", "received": 6, "given": 0}]
    assert (await kpis("anonymous giver"))["per_person"] == []
    assert (await kpis("other tenant")) == {"per_person": [], "per_team": []}


async def test_requested_feedback_is_answered_once_by_the_one_asked_and_never_anonymously(
    feedback: FeedbackService,
) -> None:
    await feedback.build_org(ORG)
    mia, olga, pete = VIEWERS["manager"], VIEWERS["giver"], VIEWERS["unrelated peer"]
    resp = await feedback.client.post(
        "/v1/feedback-requests",
        json={"giver_id": "olga", "about_id": "emil", "message": "how was the launch?"},
        headers=mia,
    )
    assert resp.status_code == 201, resp.text
    request_id = resp.json()["id"]
    answer = {"recipient_id": "emil", "body": "solid", "visibility": "manager", "request_id": request_id}
    for headers, body, status in [
        (olga, {**answer, "anonymous": True}, 409),  # a request names its giver
        (olga, {**answer, "recipient_id": "pete"}, 422),  # the request is about emil
        (pete, {**answer, "recipient_id": "emil"}, 404),  # pete was not asked: he cannot see the request
    ]:
        resp = await feedback.client.post("/v1/feedback", json=body, headers=headers)
        assert resp.status_code == status, (body, resp.text)
    resp = await feedback.client.post("/v1/feedback", json=answer, headers=olga)
    assert resp.status_code == 201, resp.text
    feedback_id = resp.json()["id"]
    resp = await feedback.client.post("/v1/feedback", json=answer, headers=olga)
    assert resp.status_code == 409  # answered already
    resp = await feedback.client.post(f"/v1/feedback-requests/{request_id}/decline", json={}, headers=olga)
    assert resp.status_code == 409

    resp = await feedback.client.get(f"/v1/feedback-requests/{request_id}", headers=mia)
    assert resp.json()["status"] == "answered" and resp.json()["feedback_id"] == feedback_id
    assert (await feedback.client.get(f"/v1/feedback-requests/{request_id}", headers=pete)).status_code == 404
    resp = await feedback.client.get(
        f"/v1/feedback/{feedback_id}", headers=mia
    )  # shared with emil's manager line
    assert resp.status_code == 200 and resp.json()["request_id"] == request_id

    async def incoming() -> list[dict[str, Any]]:
        resp = await feedback.client.get("/v1/feedback-requests", params={"role": "incoming"}, headers=olga)
        return [r for r in resp.json()["requests"] if r["status"] == "answered"]

    assert (await eventually(incoming))[0]["id"] == request_id

    resp = await feedback.client.post(
        "/v1/feedback-requests", json={"giver_id": "pete", "message": "about me?"}, headers=mia
    )
    other = resp.json()["id"]
    resp = await feedback.client.post(
        f"/v1/feedback-requests/{other}/decline", json={"reason": "busy"}, headers=mia
    )
    assert resp.status_code == 403  # only the one asked declines
    resp = await feedback.client.post(
        f"/v1/feedback-requests/{other}/decline", json={"reason": "busy"}, headers=pete
    )
    assert resp.status_code == 200
    resp = await feedback.client.post(
        "/v1/feedback",
        json={"recipient_id": "mia", "body": "x", "visibility": "private", "request_id": other},
        headers=pete,
    )
    assert resp.status_code == 409  # declined


async def test_bad_feedback_is_refused_with_a_reason(feedback: FeedbackService) -> None:
    await feedback.build_org(ORG)
    base = {"recipient_id": "emil", "body": "hi", "visibility": "private"}
    cases = [
        (auth("olga"), {**base, "recipient_id": "nobody"}, 404),
        (auth("olga"), {**base, "visibility": "team"}, 422),
        (auth("olga"), {**base, "body": ""}, 422),
        (auth("olga"), {**base, "extra": 1}, 422),
        (auth("emil"), base, 422),  # to oneself
        (auth("mia"), {**base, "anonymous": True}, 409),  # a manager's feedback is not peer feedback
        (auth("emil"), {**base, "recipient_id": "mia", "anonymous": True}, 409),  # nor is upward feedback
        (auth("emil", tenant="globex"), {**base, "recipient_id": "mia"}, 404),
    ]
    for headers, body, status in cases:
        resp = await feedback.client.post("/v1/feedback", json=body, headers=headers)
        assert resp.status_code == status, (body, resp.text)
        assert set(resp.json()["error"]) == {"code", "message", "details"}
