"""Another tenant's ids lead nowhere: every operation that takes an id, called by a
``globex`` admin (every role) with the ids of things that exist in ``acme``, answers 404
and shows none of ``acme``'s data. Lists filtered by an ``acme`` id come back empty."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import httpx

from trellis.feedback.domain.checkin import checkin_id_for
from trellis.testing import eventually

from .four_services import auth, client_of, four_services
from .test_strict_requests import HOLE, sample

HR = auth("hana", "admin", "hr", "employee")
MIA = auth("mia", "manager", "employee")
EMIL = auth("emil", "employee")
GLOBEX = auth("gus", "admin", "hr", "manager", "employee", tenant="globex")
SECRETS = ("Mia Acme", "Emil Acme", "acme-secret-title", "Quiet wins", "hooks-acme-test")


async def _ok(
    client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], body: Any = None
) -> Any:
    resp = await client.request(method, url, json=body, headers=headers)
    assert resp.status_code in (200, 201), (method, url, resp.status_code, resp.text)
    return resp.json()


async def _acme(clients: dict[str, httpx.AsyncClient]) -> dict[str, str]:
    """Make one of everything in acme; the ids by the path parameter names that take them."""
    onboarding, goals, feedback, notifications = (
        clients[n] for n in ("onboarding", "goals", "feedback", "notifications")
    )
    ids: dict[str, str] = {}
    ids["team_id"] = (await _ok(onboarding, "POST", "/v1/teams", HR, {"name": "acme-secret-title"}))["id"]
    template = {"name": "acme-secret-title", "milestones": [{"title": "Quiet wins", "due_offset_days": 30}]}
    ids["template_id"] = (await _ok(onboarding, "POST", "/v1/onboarding-templates", HR, template))["id"]
    start = dt.date.today().isoformat()
    hire = {"start_date": start, "team_id": ids["team_id"], "title": "acme-secret-title"}
    await _ok(onboarding, "POST", "/v1/employees", HR,
              {**hire, "employee_id": "mia", "name": "Mia Acme", "email": "mia@acme.test"})  # fmt: skip
    emil = await _ok(onboarding, "POST", "/v1/employees", HR, {
        **hire, "employee_id": "emil", "name": "Emil Acme", "email": "emil@acme.test", "manager_id": "mia",
        "plan": {"template_id": ids["template_id"], "mentor_id": "mia"},
    })  # fmt: skip
    ids |= {"employee_id": "emil", "manager_id": "mia", "mentor_id": "mia", "plan_id": emil["plan_id"]}
    plan = await _ok(onboarding, "GET", f"/v1/onboarding-plans/{ids['plan_id']}", HR)
    ids["milestone_id"] = plan["milestones"][0]["milestone_id"]
    training = {"kind": "course", "title": "acme-secret-title", "skills": ["quiet wins"]}
    ids["training_id"] = (await _ok(onboarding, "POST", "/v1/trainings", HR, training))["id"]
    week = (dt.date.today() + dt.timedelta(days=7)).isoformat()  # ahead, in any time zone
    enrolment = {"employee_id": "emil", "training_id": ids["training_id"], "target_date": week}
    ids["enrolment_id"] = (await _ok(onboarding, "POST", "/v1/training-enrolments", MIA, enrolment))["id"]
    pairing = {"mentor_id": "mia", "mentee_id": "emil", "starts_on": start, "ends_on": week,
               "objectives": ["Quiet wins"]}  # fmt: skip
    ids["mentorship_id"] = (await _ok(onboarding, "POST", "/v1/mentorships", MIA, pairing))["id"]

    subscription = {"url": "http://127.0.0.1:9/hooks-acme-test", "event_types": ["goals.*", "feedback.*"]}
    ids["subscription_id"] = (
        await _ok(notifications, "POST", "/v1/webhooks/subscriptions", HR, subscription)
    )["id"]
    goal = await _ok(goals, "POST", "/v1/goals", HR,
                     {"level": "company", "title": "acme-secret-title", "period": "2027-Q1"})  # fmt: skip
    ids["goal_id"] = goal["goal_id"]
    kr = {"name": "Quiet wins", "start": 0, "target": 10}
    ids["key_result_id"] = (await _ok(goals, "POST", f"/v1/goals/{ids['goal_id']}/key-results", HR, kr))[
        "key_result_id"
    ]
    entry = {"day": start, "minutes": 30, "label": "Quiet wins", "note": "acme-secret-title"}
    ids["entry_id"] = (await _ok(goals, "POST", "/v1/timesheet/entries", EMIL, entry))["entry_id"]

    async def schedule() -> Any:
        past = (dt.date.today() - dt.timedelta(days=7)).isoformat()
        body = {
            "report_id": "emil",
            "starts_on": past,
            "weekday": dt.date.today().weekday(),
            "time_of_day": "00:00",
        }
        resp = await feedback.post("/v1/checkin-schedules", json=body, headers=MIA)
        return resp.json() if resp.status_code == 201 else None

    ids["schedule_id"] = (await eventually(schedule))["id"]
    agenda = f"/v1/checkin-schedules/{ids['schedule_id']}/agenda"
    point = await _ok(feedback, "POST", f"{agenda}/points", MIA, {"text": "acme-secret-title"})
    ids["point_id"] = point["related"]["talking_point"]
    item = {"owner_id": "emil", "text": "acme-secret-title"}
    ids["item_id"] = (await _ok(feedback, "POST", f"{agenda}/action-items", MIA, item))["related"][
        "action_item"
    ]

    # the schedule's check-ins come into being when each is due: this one names the first
    ids["checkin_id"] = checkin_id_for(ids["schedule_id"], dt.datetime.now(dt.UTC))
    given = {"recipient_id": "emil", "body": "Quiet wins", "visibility": "public"}
    ids["feedback_id"] = (await _ok(feedback, "POST", "/v1/feedback", MIA, given))["id"]
    ids["request_id"] = (await _ok(feedback, "POST", "/v1/feedback-requests", EMIL, {"giver_id": "mia"}))[
        "id"
    ]
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(days=14)).isoformat()
    cycle = {"name": "acme-secret-title", "period": "2027-Q1", "deadline": deadline}
    ids["cycle_id"] = (await _ok(feedback, "POST", "/v1/review-cycles", HR, cycle))["id"]

    async def review() -> Any:
        found = await _ok(feedback, "GET", "/v1/employees/emil/reviews-to-write", EMIL)
        return found["reviews"][0]["review_id"] if found.get("reviews") else None

    ids["review_id"] = await eventually(review)

    async def notification() -> Any:
        found = await _ok(notifications, "GET", "/v1/inbox", EMIL)
        return found["items"][0]["id"] if found["items"] else None

    ids["notification_id"] = await eventually(notification)

    async def delivery() -> Any:
        url = f"/v1/webhooks/subscriptions/{ids['subscription_id']}/deliveries"
        found = (await _ok(notifications, "GET", url, HR))["items"]
        return found[0]["id"] if found else None

    ids["delivery_id"] = await eventually(delivery)
    return ids


# bodies whose rules are checked before the thing is looked up: given valid, with acme's ids
OVERRIDES: dict[str, Any] = {
    "/v1/employees/{employee_id}/onboarding-plan": lambda ids: {"template_id": ids["template_id"]},
}


def _fill(path: str, ids: dict[str, str]) -> str | None:
    names = re.findall(r"\{([^}]+)\}", path)
    if any(name not in ids for name in names):
        return None
    return re.sub(r"\{([^}]+)\}", lambda m: ids[m.group(1)], path)


def _body(op: dict[str, Any], spec: dict[str, Any]) -> Any:
    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return None
    text = json.dumps(sample(schema, spec, required_only=True))
    for n in range(text.count(f'"{HOLE}"')):  # distinct numbers: a key result's start is not its target
        text = text.replace(f'"{HOLE}"', str(n + 1), 1)
    return json.loads(text)


async def test_another_tenants_ids_answer_404_and_leak_nothing(
    nats_url: str, subject_root: str, tmp_path: Path
) -> None:
    async with four_services(nats_url, subject_root, tmp_path) as apps:
        clients = {name: client_of(app) for name, app in apps.items()}
        ids = await _acme(clients)
        probed, unfilled = [], []
        for name, app in apps.items():
            spec = app.openapi()
            for path, methods in spec["paths"].items():
                if "{" not in path:
                    continue
                url = _fill(path, ids)
                for method, op in methods.items():
                    if url is None:
                        unfilled.append(f"{name} {method.upper()} {path}")
                        continue
                    body = OVERRIDES[path](ids) if path in OVERRIDES else _body(op, spec)
                    resp = await clients[name].request(method.upper(), url, json=body, headers=GLOBEX)
                    where = (name, method.upper(), path, resp.status_code, resp.text[:300])
                    probed.append(where)
                    if resp.status_code == 200 and method == "get":
                        # a list scoped to a person or a team of acme: it must be empty in globex
                        assert not any(s in resp.text for s in SECRETS), where
                        found = resp.json()
                        assert all(
                            v in ([], {}, 0, None) for v in found.values() if not isinstance(v, str)
                        ), where
                    else:
                        assert resp.status_code == 404, where
                        assert resp.json()["error"]["code"] == "not_found", where
                        assert not any(s in resp.text for s in SECRETS), where
        for client in clients.values():
            await client.aclose()
    assert len(probed) >= 60, (len(probed), unfilled)
    assert unfilled == [], unfilled
