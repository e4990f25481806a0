"""Each service's OpenAPI document carries the error model, and the edge answers behave as
documented: every operation lists its error statuses with the one ``ErrorBody``; ``If-Match``
and other optional parameters are never ``null``; a 405 names every method of the path; a
query parameter the operation does not take is refused; text holding NUL is refused with
422 (PostgreSQL cannot store it: it was a 500)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from trellis.core.runtime.openapi import ERROR_REF, error_answers
from trellis.core.runtime.service import ServiceDefinition, create_app
from trellis.feedback.bootstrap import SERVICE as FEEDBACK
from trellis.goals.bootstrap import SERVICE as GOALS
from trellis.notifications.bootstrap import SERVICE as NOTIFICATIONS
from trellis.onboarding.bootstrap import SERVICE as ONBOARDING

DEFINITIONS = [GOALS, ONBOARDING, FEEDBACK, NOTIFICATIONS]


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()]


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.name)
def test_every_operation_documents_its_error_answers_with_the_one_error_body(
    definition: ServiceDefinition,
) -> None:
    doc = create_app(definition).openapi()
    assert doc["components"]["schemas"]["ErrorBody"]["required"] == ["error"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, method, op in operations(doc):
        expected = error_answers(method, op)
        assert {"413", "429", "503"} <= set(expected)
        if op.get("security"):
            assert {"401", "403", "404", "422"} <= set(expected), (method, path)
        for status in expected:
            answer = op["responses"][status]
            if (path, status) == ("/ready", "503"):
                continue  # its own body: the checks
            assert answer["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (
                method,
                path,
                status,
            )
        for status in ("429", "503") if path != "/ready" else ("429",):
            assert "Retry-After" in op["responses"][status]["headers"]
        for parameter in op.get("parameters", []):
            assert "null" not in str(parameter["schema"]), (method, path, parameter)


def test_if_match_is_the_integer_version_never_null() -> None:
    doc = create_app(GOALS).openapi()
    (if_match,) = [
        p for p in doc["paths"]["/v1/goals/{goal_id}"]["patch"]["parameters"] if p["name"] == "If-Match"
    ]
    assert if_match["in"] == "header" and not if_match["required"]
    assert {k: if_match["schema"][k] for k in ("type", "minimum", "maximum")} == {
        "type": "integer",
        "minimum": 0,
        "maximum": 2**31 - 1,
    }


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


async def test_a_405_names_every_method_of_the_path() -> None:
    async with client(create_app(GOALS)) as http:
        resp = await http.put("/v1/goals/g-1")  # GET and PATCH live on two routes
    assert resp.status_code == 405
    assert resp.headers["allow"] == "GET, PATCH"
    assert resp.json()["error"]["code"] == "method_not_allowed"


async def test_a_query_parameter_the_operation_does_not_take_is_refused() -> None:
    async with client(create_app(FEEDBACK)) as http:
        resp = await http.get("/v1/recognition", params={"limit": 5, "recipient": "emil"})  # recipient_id
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == {
        "code": "invalid_input",
        "message": "unknown query parameters: recipient",
        "details": {},
    }


async def test_text_holding_nul_is_refused_with_422_before_any_query() -> None:
    async with client(create_app(FEEDBACK)) as http:
        for resp in (
            await http.get("/v1/recognition", params={"value": "a\x00b"}),
            await http.get("/v1/feedback/a%00b"),
            await http.post(
                "/v1/recognition",
                content=b'{"recipient_ids": ["emil"], "message": "a\\u0000b"}',
                headers={"content-type": "application/json"},
            ),
        ):
            assert resp.status_code == 422, resp.text
            assert resp.json()["error"]["code"] == "invalid_input"
