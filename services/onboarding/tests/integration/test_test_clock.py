"""``POST /v1/test-clock`` moves time by a bounded, finite amount: anything else is a 422 (or a
400 for a body that is not strict JSON, such as the ``Infinity`` and ``NaN`` literals)."""

from __future__ import annotations

import datetime as dt

import pytest

from ..conftest import ADMIN, HR, OnboardingService

MOVES_REFUSED = [
    '{"days": 1e10}',
    '{"days": Infinity}',
    '{"hours": Infinity}',
    '{"days": NaN}',
    '{"hours": 1e300}',
    '{"days": 3660, "hours": 24}',
    '{"days": 3661}',
    '{"days": -1}',
    '{"to": "9999-12-31T00:00:00Z"}',
    '{"to": "2000-01-01T00:00:00Z"}',
    '{"to": "2030-01-01T00:00:00"}',
]


@pytest.mark.parametrize("body", MOVES_REFUSED)
async def test_an_unbounded_or_backward_move_is_refused_with_a_422(
    onboarding: OnboardingService, body: str
) -> None:
    before = onboarding.clock.now()
    resp = await onboarding.client.post(
        "/v1/test-clock", content=body, headers={**ADMIN, "content-type": "application/json"}
    )
    assert resp.status_code == (400 if "Infinity" in body or "NaN" in body else 422), resp.text
    assert set(resp.json()["error"]) == {"code", "message", "details"}
    assert onboarding.clock.now() == before


async def test_moves_of_up_to_ten_years_go_through_and_only_an_admin_makes_them(
    onboarding: OnboardingService,
) -> None:
    before = onboarding.clock.now()
    resp = await onboarding.client.post("/v1/test-clock", json={"days": 3660}, headers=ADMIN)
    assert resp.status_code == 200, resp.text
    assert onboarding.clock.now() - before == dt.timedelta(days=3660)
    target = onboarding.clock.now() + dt.timedelta(days=30)
    resp = await onboarding.client.post("/v1/test-clock", json={"to": target.isoformat()}, headers=ADMIN)
    assert resp.status_code == 200 and onboarding.clock.now() == target
    assert (await onboarding.client.post("/v1/test-clock", json={"days": 1}, headers=HR)).status_code == 403
