"""No request in any service can store a non-finite number.

The four services run on one nats-server, each on its own SQLite file. For every
operation that takes a JSON body, a valid body is made from its OpenAPI schema; then
each number in it is replaced, in the raw JSON text, by ``NaN``, ``Infinity``,
``-Infinity`` (not JSON: 400 ``invalid_json``) and by ``1e400`` (JSON, but an infinity to
Python: 422 naming the field). No answer is a 2xx or a 5xx, and no service's event store
grows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from trellis.core.runtime.service import Runtime
from trellis.core.store.tables import events

from .four_services import ADMIN, client_of, four_services

HOLE = "__number__"


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def sample(schema: dict[str, Any], spec: dict[str, Any], *, required_only: bool = False) -> Any:
    """A value valid for ``schema``; numbers are left as holes to fill in the JSON text.

    Every property is given (so every number is reached), or only the required ones.
    """
    schema = _resolve(schema, spec)
    again = lambda sub: sample(sub, spec, required_only=required_only)  # noqa: E731
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if _resolve(s, spec).get("type") != "null"]
        return again(options[0])
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        if not props and isinstance(schema.get("additionalProperties"), dict):
            return {"k": again(schema["additionalProperties"])}
        required = set(schema.get("required", ())) if required_only else set(props)
        return {name: again(sub) for name, sub in props.items() if name in required}
    if kind == "array":
        return [again(schema.get("items", {}))]
    if kind == "number":
        return HOLE
    if kind == "integer":
        return max(schema.get("minimum", 1), 1)
    if kind == "boolean":
        return False
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return "2026-01-05T09:00:00Z"
        if fmt == "date":
            return "2026-01-05"
        if fmt in ("uri", "url"):
            return "https://hooks.example.com/x"
        if "pattern" in schema and ":" in schema["pattern"]:
            return "09:30"
        return "x" * max(schema.get("minLength", 1), 1) if schema.get("minLength", 1) < 50 else "x" * 50
    return "x"


def number_holes(body: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if body == HOLE:
        yield path
    elif isinstance(body, dict):
        for key, value in body.items():
            yield from number_holes(value, (*path, key))
    elif isinstance(body, list):
        for i, value in enumerate(body):
            yield from number_holes(value, (*path, i))


def text_with(body: Any, target: tuple[Any, ...], literal: str) -> str:
    """The body as JSON text: ``literal`` at ``target``, 1.5 in every other number."""

    def fill(value: Any, path: tuple[Any, ...]) -> Any:
        if value == HOLE:
            return "__target__" if path == target else 1.5
        if isinstance(value, dict):
            return {k: fill(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v, (*path, i)) for i, v in enumerate(value)]
        return value

    return json.dumps(fill(body, ())).replace('"__target__"', literal)


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            if content:
                yield method.upper(), re.sub(r"\{[^}]+\}", "x1", path), content["schema"]


async def stored(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(events))).scalar() or 0)


async def test_no_route_of_any_service_accepts_a_non_finite_number(
    nats_url: str, subject_root: str, tmp_path: Path
) -> None:
    tried: list[str] = []
    async with four_services(nats_url, subject_root, tmp_path) as apps:
        for name, app in apps.items():
            runtime = app.state.runtime
            spec = app.openapi()
            before = await stored(runtime)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t"
            ) as client:
                for method, url, schema in operations(spec):
                    body = sample(schema, spec)
                    for hole in number_holes(body):
                        for literal in ("NaN", "Infinity", "-Infinity", "1e400"):
                            resp = await client.request(
                                method,
                                url,
                                content=text_with(body, hole, literal),
                                headers={**ADMIN, "Content-Type": "application/json"},
                            )
                            where = f"{name} {method} {url} {hole}={literal}"
                            tried.append(where)
                            error = resp.json()["error"]
                            if literal == "1e400":
                                assert resp.status_code == 422, (where, resp.text)
                                locations = [p["location"] for p in error["details"]["problems"]]
                                assert ["body", *hole] in locations, (where, locations)
                            else:
                                assert resp.status_code == 400, (where, resp.text)
                                assert error["code"] == "invalid_json"
                                assert literal.lstrip("-") in error["message"]
            assert await stored(runtime) == before, name
    services = {t.split()[0] for t in tried}
    # the goals service's numbers (weights, key-result values) and the check-in's updates at least
    assert {"goals", "feedback"} <= services, tried
    assert any("/key-results" in t and "('start',)" in t for t in tried), tried


async def test_a_body_that_is_not_strict_json_is_a_400_with_a_clear_message(
    nats_url: str, subject_root: str, tmp_path: Path
) -> None:
    async with four_services(nats_url, subject_root, tmp_path) as apps:
        async with client_of(apps["goals"]) as client:
            resp = await client.post(
                "/v1/goals",
                content='{"level": "company", "title": "t", "period": "2027-Q1", "weight": NaN}',
                headers={**ADMIN, "Content-Type": "application/json"},
            )
            assert resp.status_code == 400
            assert resp.json()["error"]["code"] == "invalid_json"
            assert "NaN is not a JSON number" in resp.json()["error"]["message"]
            # a key result measured from a value to the same value has no progress scale
            goal = await client.post(
                "/v1/goals", json={"level": "company", "title": "t", "period": "2027-Q1"}, headers=ADMIN
            )
            assert goal.status_code == 201, goal.text
            same = await client.post(
                f"/v1/goals/{goal.json()['goal_id']}/key-results",
                json={"name": "kr", "start": 5, "target": 5},
                headers=ADMIN,
            )
            assert same.status_code == 422
            assert "start and target must differ" in same.text
            heavy = await client.post(
                "/v1/goals",
                json={"level": "company", "title": "t", "period": "2027-Q1", "weight": 1e300},
                headers=ADMIN,
            )
            assert heavy.status_code == 422
            assert heavy.json()["error"]["details"]["problems"][0]["location"] == ["body", "weight"]


async def test_a_correlation_id_that_is_not_ascii_is_replaced_not_a_500(
    nats_url: str, subject_root: str, tmp_path: Path
) -> None:
    async with four_services(nats_url, subject_root, tmp_path) as apps:
        for name, app in apps.items():
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t"
            ) as client:
                for raw in (b"\xff\xfe", b"caf\xc3\xa9", b"a\x01b", b"  "):
                    resp = await client.get("/health", headers=[(b"X-Correlation-Id", raw)])
                    assert resp.status_code == 200, (name, raw)
                    assert re.fullmatch(r"[0-9a-f-]{36}", resp.headers["x-correlation-id"]), raw
                resp = await client.get("/health", headers={"X-Correlation-Id": "req-42"})
                assert resp.headers["x-correlation-id"] == "req-42"
