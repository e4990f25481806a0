"""Mentorships through the HTTP API: arranged by admin, hr or the mentee's managers, read and
ended early by the pair, the mentee's managers, admin and hr; nobody else sees them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from trellis.testing import eventually

from ..conftest import ADMIN, HR, OnboardingService, auth

NORA, MAX, PIA = (auth(who, "employee") for who in ("nora", "max", "pia"))
MIA, CEO, OLGA = (auth(who, "manager", "employee") for who in ("mia", "ceo", "olga"))
OTHER_ADMIN = auth("eve", "admin", tenant="globex")


async def org(onboarding: OnboardingService) -> None:
    """ceo ← mia ← nora; ceo ← olga ← max, pia."""
    await onboarding.hire("ceo")
    await onboarding.hire("mia", manager="ceo")
    await onboarding.hire("nora", manager="mia")
    await onboarding.hire("olga", manager="ceo")
    await onboarding.hire("max", manager="olga")
    await onboarding.hire("pia", manager="olga")


def pairing(onboarding: OnboardingService, **changes: Any) -> dict[str, Any]:
    today = onboarding.today()
    return {
        "mentor_id": "max",
        "mentee_id": "nora",
        "starts_on": today.isoformat(),
        "ends_on": (today + dt.timedelta(days=90)).isoformat(),
        "objectives": ["Lead a design review", "Own an on-call week"],
        "goal_ids": ["g-42"],
        **changes,
    }


async def test_a_mentorship_is_arranged_read_by_the_pair_and_the_mentees_managers_and_ended_early(
    onboarding: OnboardingService,
) -> None:
    await org(onboarding)
    arranged = await onboarding.call("POST", "/v1/mentorships", pairing(onboarding), MIA, 201)
    assert arranged["events"] == ["MentorshipArranged"]
    mentorship = arranged["id"]
    url = f"/v1/mentorships/{mentorship}"

    for headers in (NORA, MAX, MIA, CEO, HR, ADMIN):
        view = await onboarding.call("GET", url, headers=headers)
        assert (view["mentor_id"], view["mentee_id"], view["status"]) == ("max", "nora", "active")
    assert view["objectives"] == ["Lead a design review", "Own an on-call week"]
    assert view["goal_ids"] == ["g-42"]
    for headers in (OLGA, PIA, OTHER_ADMIN):  # the mentor's manager is not the mentee's
        for path in (url, f"{url}/history"):
            assert await onboarding.refused("GET", path, headers=headers, expect=404) == "not_found"
        assert await onboarding.refused("POST", f"{url}/end", {}, headers, 404) == "not_found"

    async def listed(headers: dict[str, str], query: str = "") -> list[str]:
        page = await onboarding.call("GET", f"/v1/mentorships{query}", headers=headers)
        return [item["mentorship_id"] for item in page["items"]]

    await eventually(lambda: _equals(listed(HR), [mentorship]))
    await onboarding.until_managed("mia", "nora")
    for headers in (NORA, MAX, MIA, CEO, ADMIN):
        assert await listed(headers) == [mentorship]
    for headers in (OLGA, PIA, OTHER_ADMIN):
        assert await listed(headers) == []
    assert await listed(HR, "?employee_id=max") == [mentorship]
    assert await listed(HR, "?employee_id=pia") == []

    onboarding.clock.advance(dt.timedelta(days=10))
    ended = await onboarding.call("POST", f"{url}/end", {"reason": "moved teams"}, MAX)
    assert ended["events"] == ["MentorshipEnded"]
    assert (await onboarding.call("POST", f"{url}/end", {}, NORA))["events"] == []  # again: nothing
    view = await onboarding.call("GET", url, headers=NORA)
    assert (view["status"], view["ended_by"], view["end_reason"]) == ("ended", "max", "moved teams")
    assert view["ended_on"] == onboarding.today().isoformat()
    history = await onboarding.call("GET", f"{url}/history", headers=CEO)
    assert [e["type"] for e in history["events"]] == ["MentorshipArranged", "MentorshipEnded"]


async def test_who_may_arrange_and_what_is_refused_with_a_code_and_nothing_stored(
    onboarding: OnboardingService,
) -> None:
    await org(onboarding)
    today = onboarding.today()
    url = "/v1/mentorships"
    for headers in (NORA, MAX, OLGA):  # the mentee, the mentor, another manager
        assert await onboarding.refused("POST", url, pairing(onboarding), headers, 403) == "forbidden"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"mentor_id": "nora"}, 422, "self_mentorship"),
        ({"ends_on": (today - dt.timedelta(days=1)).isoformat()}, 422, "end_before_start"),
        (
            {
                "starts_on": (today - dt.timedelta(days=60)).isoformat(),
                "ends_on": (today - dt.timedelta(days=1)).isoformat(),
            },
            422,
            "period_in_past",
        ),
        ({"objectives": [], "goal_ids": []}, 422, "invalid_input"),
        ({"objectives": ["o" * 501]}, 422, "invalid_input"),
        ({"objectives": ["o"] * 21}, 422, "invalid_input"),
        ({"goal_ids": ["not an id"]}, 422, "invalid_input"),
        ({"mentor_id": "ghost"}, 404, "not_found"),
        ({"mentee_id": "ghost"}, 404, "not_found"),
    ]
    for change, status, code in cases:
        assert await onboarding.refused("POST", url, pairing(onboarding, **change), HR, status) == code, (
            change
        )
    assert await onboarding.refused("POST", url, pairing(onboarding), OTHER_ADMIN, 404) == "not_found"
    await onboarding.call("POST", "/v1/employees/pia/offboard", {"last_day": today.isoformat()})
    assert await onboarding.refused("POST", url, pairing(onboarding, mentor_id="pia"), HR, 409) == (
        "employee_offboarded"
    )

    # Arranged by the skip-level manager, starting later; ended after its period: refused.
    later = pairing(
        onboarding,
        starts_on=(today + dt.timedelta(days=7)).isoformat(),
        ends_on=(today + dt.timedelta(days=30)).isoformat(),
        objectives=[],
    )
    mentorship = (await onboarding.call("POST", url, later, CEO, 201))["id"]
    assert (await onboarding.call("GET", f"{url}/{mentorship}", headers=NORA))["status"] == "upcoming"
    onboarding.clock.advance(dt.timedelta(days=31))
    assert (await onboarding.call("GET", f"{url}/{mentorship}", headers=NORA))["status"] == "finished"
    code = await onboarding.refused("POST", f"{url}/{mentorship}/end", {}, MIA, 409)
    assert code == "mentorship_finished"


async def _equals(found: Any, expected: Any) -> bool:
    return bool(await found == expected)
