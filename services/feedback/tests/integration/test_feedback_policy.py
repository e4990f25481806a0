"""What the organisation allows: the visibilities on offer, and whether anonymity is."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import FeedbackService, auth


@pytest.fixture
def feedback_settings() -> dict[str, Any]:
    return {"visibilities": ["private", "manager"], "anonymous_allowed": False}


async def test_an_organisation_may_allow_fewer_visibilities_and_no_anonymity(
    feedback: FeedbackService,
) -> None:
    await feedback.build_org([("mia", None, None), ("emil", None, None)])
    body = {"recipient_id": "emil", "body": "nice", "visibility": "manager"}
    for changes, status in [({"visibility": "public"}, 422), ({"anonymous": True}, 409), ({}, 201)]:
        resp = await feedback.client.post("/v1/feedback", json={**body, **changes}, headers=auth("mia"))
        assert resp.status_code == status, (changes, resp.text)
