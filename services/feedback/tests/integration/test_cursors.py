"""Every paged list of the feedback service takes the one cursor: pages follow each other,
and a cursor the service never gave out is refused (it was compared as an id: ``?before=zzz``
answered every item)."""

from __future__ import annotations

from typing import Any

import pytest

from trellis.core.runtime import cursors
from trellis.testing import eventually

from ..conftest import FeedbackService, auth

ORG = [("ceo", None, None), ("mia", "ceo", "eng"), ("emil", "mia", "eng")]
LISTS = [
    "/v1/employees/emil/feedback/received",
    "/v1/employees/mia/feedback/given",
    "/v1/goals/g-1/feedback",
    "/v1/recognition",
]


async def page(service: FeedbackService, path: str, **params: Any) -> dict[str, Any]:
    resp = await service.client.get(path, params=params, headers=auth("emil"))
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


@pytest.fixture
async def three_of_each(feedback: FeedbackService) -> FeedbackService:
    await feedback.build_org(ORG)
    for n in range(3):
        for path, body in (
            (
                "/v1/feedback",
                {"recipient_id": "emil", "body": f"#{n}", "visibility": "public", "goal_id": "g-1"},
            ),
            ("/v1/recognition", {"recipient_ids": ["emil"], "message": f"#{n}"}),
        ):
            resp = await feedback.client.post(path, json=body, headers=auth("mia"))
            assert resp.status_code == 201, resp.text

    async def indexed() -> bool:
        return [len((await page(feedback, path))["items"]) for path in LISTS] == [3] * len(LISTS)

    await eventually(indexed)
    return feedback


async def test_each_list_pages_through_every_item_once(three_of_each: FeedbackService) -> None:
    for path in LISTS:
        everything = [i["id"] for i in (await page(three_of_each, path))["items"]]
        first = await page(three_of_each, path, limit=2)
        rest = await page(three_of_each, path, limit=2, before=first["next"])
        assert [i["id"] for i in first["items"] + rest["items"]] == everything, path
        assert rest["next"] is None


async def test_a_cursor_never_given_out_is_refused_on_each_list(three_of_each: FeedbackService) -> None:
    issued = (await page(three_of_each, LISTS[0], limit=1))["next"]
    for path in LISTS:
        for cursor in ("zzz", issued + "x", cursors.encode(7), cursors.encode("a", "b")):
            resp = await three_of_each.client.get(path, params={"before": cursor}, headers=auth("emil"))
            assert resp.status_code == 422, (path, cursor, resp.text)
            assert resp.json()["error"]["code"] == "invalid_cursor"
