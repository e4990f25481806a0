"""Every service's AsyncAPI document, as its HTTP API serves it, validates against the
AsyncAPI 3.0 JSON Schema, and describes what the service publishes and consumes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from trellis.contracts import registry_of
from trellis.core.runtime.service import ServiceDefinition, create_app
from trellis.feedback.bootstrap import SERVICE as FEEDBACK
from trellis.goals.bootstrap import SERVICE as GOALS
from trellis.notifications.bootstrap import SERVICE as NOTIFICATIONS
from trellis.onboarding.bootstrap import SERVICE as ONBOARDING

SCHEMA = json.loads((Path(__file__).parent / "fixtures/asyncapi-3.0.0.schema.json").read_text())
SERVICES = [GOALS, ONBOARDING, FEEDBACK, NOTIFICATIONS]


async def _document(definition: ServiceDefinition, tmp_path: Path) -> dict[str, Any]:
    settings = definition.settings(
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        nats_url="nats://reader:s3cret@nats.internal:4222",
    )
    app = create_app(definition, settings)  # not started: the document needs no connection
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        resp = await client.get("/v1/asyncapi.json")
    assert resp.status_code == 200, resp.text
    document: dict[str, Any] = resp.json()
    return document


@pytest.mark.parametrize("definition", SERVICES, ids=lambda d: d.name)
async def test_the_document_validates_against_the_asyncapi_3_schema(
    definition: ServiceDefinition, tmp_path: Path
) -> None:
    document = await _document(definition, tmp_path)
    errors = sorted(jsonschema.Draft7Validator(SCHEMA).iter_errors(document), key=lambda e: list(e.path))
    assert [f"{list(e.path)}: {e.message[:200]}" for e in errors] == []
    assert document["asyncapi"] == "3.0.0"


@pytest.mark.parametrize("definition", SERVICES, ids=lambda d: d.name)
async def test_every_published_event_has_its_channel_and_message(
    definition: ServiceDefinition, tmp_path: Path
) -> None:
    document = await _document(definition, tmp_path)
    published = {cls.event_type for cls in registry_of(definition.name).types() if cls.published}
    sent = {name for name, op in document["operations"].items() if op["action"] == "send"}
    assert sent == published
    for event_type in published:
        channel = document["channels"][event_type]
        assert set(channel["parameters"]) == {"tenant_id", "aggregate_id"}
        schema = document["components"]["schemas"][f"{event_type}.envelope"]
        assert schema["properties"]["event_type"]["const"] == event_type
        assert schema["properties"]["payload"] == {"$ref": f"#/components/schemas/{event_type}"}
    private = {cls.event_type for cls in registry_of(definition.name).types() if not cls.published}
    assert not private & set(document["channels"])  # private events never leave the service


async def test_what_a_service_consumes_is_a_receive_operation(tmp_path: Path) -> None:
    document = await _document(GOALS, tmp_path)
    received = {name for name, op in document["operations"].items() if op["action"] == "receive"}
    assert "onboarding.EmployeeManagerChanged" in received
    assert all(name.split(".")[0] in {"onboarding", "feedback"} for name in received)


async def test_the_public_document_names_the_server_without_its_credentials(tmp_path: Path) -> None:
    document = await _document(GOALS, tmp_path)
    assert "s3cret" not in json.dumps(document) and "reader" not in json.dumps(document)
    [server] = document["servers"].values()
    assert server["host"] == "nats.internal:4222"


async def test_the_schema_check_refuses_a_broken_document(tmp_path: Path) -> None:
    """A guard on the check itself: an AsyncAPI 2 verb is not a 3.0 operation."""
    document = await _document(GOALS, tmp_path)
    next(iter(document["operations"].values()))["action"] = "publish"
    assert not jsonschema.Draft7Validator(SCHEMA).is_valid(document)
