"""Recognition and the recognition wall."""

from __future__ import annotations

from typing import Any

import pytest

from trellis.testing import eventually

from ..conftest import FeedbackService, auth

ORG = [("ceo", None, None), ("mia", "ceo", "eng"), ("emil", "mia", "eng"), ("ella", "mia", "eng")]


@pytest.fixture
def feedback_settings() -> dict[str, Any]:
    return {"company_values": ["ownership", "care"]}


async def wall(
    service: FeedbackService, headers: dict[str, str] | None = None, **params: Any
) -> list[dict[str, Any]]:
    resp = await service.client.get("/v1/recognition", params=params, headers=headers or auth("ceo"))
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    return items


async def test_recognition_is_on_the_tenant_wall_newest_first_and_filterable(
    feedback: FeedbackService,
) -> None:
    await feedback.build_org(ORG)
    resp = await feedback.client.post(
        "/v1/recognition",
        json={
            "recipient_ids": ["emil", "ella"],
            "message": "the launch!",
            "value": "ownership",
            "objective_id": "obj-1",
        },
        headers=auth("mia"),
    )
    assert resp.status_code == 201, resp.text
    first = resp.json()["id"]
    resp = await feedback.client.post(
        "/v1/recognition",
        json={"recipient_ids": ["mia"], "message": "thanks for the cover"},
        headers=auth("emil"),
    )
    second = resp.json()["id"]

    async def both() -> list[dict[str, Any]]:
        items = await wall(feedback, auth("ella"))
        return items if len(items) == 2 else []

    items = await eventually(both)
    assert [i["id"] for i in items] == [second, first]
    assert items[1] | {"given_at": None} == {
        "id": first,
        "giver_id": "mia",
        "recipient_ids": ["ella", "emil"],
        "message": "the launch!",
        "objective_id": "obj-1",
        "value": "ownership",
        "given_at": None,
    }
    assert [i["id"] for i in await wall(feedback, recipient_id="ella")] == [first]
    assert [i["id"] for i in await wall(feedback, value="ownership")] == [first]
    assert [i["id"] for i in await wall(feedback, objective_id="obj-1")] == [first]
    page = await feedback.client.get("/v1/recognition", params={"limit": 1}, headers=auth("ceo"))
    assert [i["id"] for i in page.json()["items"]] == [second] and page.json()["next"] is not None
    rest = await wall(feedback, before=page.json()["next"])
    assert [i["id"] for i in rest] == [first]
    assert await wall(feedback, auth("ceo", tenant="globex")) == []


async def test_recognition_goes_to_colleagues_for_a_company_value(feedback: FeedbackService) -> None:
    await feedback.build_org(ORG)
    for body, status in [
        ({"recipient_ids": ["nobody"], "message": "x"}, 404),
        ({"recipient_ids": ["mia"], "message": "me"}, 422),
        ({"recipient_ids": ["emil"], "message": "x", "value": "speed"}, 422),  # not a company value
        ({"recipient_ids": [], "message": "x"}, 422),
    ]:
        resp = await feedback.client.post("/v1/recognition", json=body, headers=auth("mia"))
        assert resp.status_code == status, (body, resp.text)
    resp = await feedback.client.post(
        "/v1/recognition",
        json={"recipient_ids": ["mia"], "message": "x"},
        headers=auth("zed", tenant="globex"),
    )
    assert resp.status_code == 404
