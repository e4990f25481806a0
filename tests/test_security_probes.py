"""Probes from outside that must keep failing: forged tokens on every operation of every
service, and identifiers with a trailing newline (a distinct principal, a subject token)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
from jwt.warnings import InsecureKeyLengthWarning

from trellis.core.runtime.settings import DEV_JWT_SECRET

from .four_services import ADMIN, client_of, four_services

NOW = dt.datetime.now(dt.UTC)
GOOD = {"sub": "ceo", "tenant": "acme", "roles": ["admin"], "exp": NOW + dt.timedelta(hours=1)}


def _signed(claims: dict[str, Any], key: str = DEV_JWT_SECRET, **kw: Any) -> str:
    return jwt.encode(claims, key, algorithm=kw.pop("algorithm", "HS256"), **kw)


def _unsigned(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data, default=str).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({**claims, 'exp': 9999999999})}."


def _tampered() -> str:
    header, _, signature = _signed(GOOD).split(".")
    claims = {**GOOD, "roles": ["admin", "hr"], "exp": 9999999999}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


def forged_credentials() -> Iterator[tuple[str, dict[str, str]]]:
    """Every way a caller has tried to get in without a valid token."""
    bearer = lambda token: {"Authorization": f"Bearer {token}"}  # noqa: E731
    yield "no header", {}
    yield "empty bearer", {"Authorization": "Bearer "}
    yield "basic scheme", {"Authorization": "Basic Y2VvOmNlbw=="}
    yield "not a jwt", bearer("not-a-token")
    yield "alg none", bearer(_unsigned(GOOD))
    yield "wrong secret", bearer(_signed(GOOD, "not-the-secret-but-long-enough-for-hs256"))
    yield "expired", bearer(_signed({**GOOD, "exp": NOW - dt.timedelta(minutes=1)}))
    yield "not yet valid", bearer(_signed({**GOOD, "nbf": NOW + dt.timedelta(hours=1)}))
    yield "no exp", bearer(_signed({k: v for k, v in GOOD.items() if k != "exp"}))
    yield "no sub", bearer(_signed({k: v for k, v in GOOD.items() if k != "sub"}))
    yield "no tenant", bearer(_signed({k: v for k, v in GOOD.items() if k != "tenant"}))
    yield "roles not a list", bearer(_signed({**GOOD, "roles": "admin"}))
    yield "unknown role", bearer(_signed({**GOOD, "roles": ["superuser"]}))
    yield "sub with a newline", bearer(_signed({**GOOD, "sub": "admin-1\n"}))
    yield "tenant with a newline", bearer(_signed({**GOOD, "tenant": "acme\n"}))
    yield "tenant with a dot", bearer(_signed({**GOOD, "tenant": "acme.>"}))
    yield "sub too long", bearer(_signed({**GOOD, "sub": "e" * 65}))
    yield "tampered claims", bearer(_tampered())
    with warnings.catch_warnings():  # the service's own key under another algorithm, on purpose
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        hs384 = _signed(GOOD, algorithm="HS384")
    yield "HS384 instead of HS256", bearer(hs384)


def authenticated_operations(spec: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            if op.get("security"):
                yield method.upper(), re.sub(r"\{[^}]+\}", "x1", path)


async def test_forged_tokens_answer_401_on_every_operation_of_every_service(
    nats_url: str, subject_root: str, tmp_path: Path
) -> None:
    probes = list(forged_credentials())
    async with four_services(nats_url, subject_root, tmp_path) as apps:
        for name, app in apps.items():
            operations = list(authenticated_operations(app.openapi()))
            assert len(operations) >= 5, name
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t"
            ) as client:
                for method, url in operations:
                    for probe, headers in probes:
                        resp = await client.request(method, url, headers=headers, json={})
                        assert resp.status_code == 401, (name, method, url, probe, resp.text)
                        assert resp.json()["error"]["code"] == "unauthenticated"
                        assert resp.headers["www-authenticate"] == "Bearer"


async def test_an_identifier_with_a_trailing_newline_is_refused(
    nats_url: str, subject_root: str, tmp_path: Path
) -> None:
    async with four_services(nats_url, subject_root, tmp_path) as apps:
        async with client_of(apps["onboarding"]) as client:
            hire = {"name": "Nell", "email": "nell@acme.test", "start_date": "2026-01-05"}
            for employee_id in ("nl-1\n", "nl-1\r\n", "nl 1", "nl.1", "n" * 65):
                resp = await client.post(
                    "/v1/employees", json={**hire, "employee_id": employee_id}, headers=ADMIN
                )
                assert resp.status_code == 422, (employee_id, resp.text)
            ok = await client.post("/v1/employees", json={**hire, "employee_id": "nl-1"}, headers=ADMIN)
            assert ok.status_code == 201, ok.text
