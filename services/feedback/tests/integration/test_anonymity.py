"""Anonymous feedback never exposes its giver: not in an API response, an event on the stream,
a stored event (private ones included), a read view, or a log line.

A named giver's feedback goes through the same paths as a control: each search finds
*their* id, so a search that finds nothing for the anonymous giver means something.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import nats
import pytest
import structlog
from sqlalchemy import inspect, select, table, text

from trellis.testing import eventually

from ..conftest import FeedbackService, auth

GIVER = "gwen-7x3k"  # gives anonymous feedback, and does nothing else
CONTROL = "vera-9q2m"  # gives named feedback
CLIENT_CORRELATION = "corr-5d1e8b"  # a correlation id the giver's client sends (it could reuse it)
ORG = [
    ("ceo", None, "exec"),
    ("mia", "ceo", "eng"),
    ("emil", "mia", "eng"),
    (GIVER, "ceo", "sales"),
    (CONTROL, "ceo", "sales"),
    ("hana", "ceo", "people"),
]


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every structlog line, context variables included (actor, correlation id), as JSON."""
    buffer = io.StringIO()
    saved = structlog.get_config()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(file=buffer),
        cache_logger_on_first_use=False,
    )
    try:
        yield buffer
    finally:
        structlog.configure(**saved)


async def stream_messages(service: FeedbackService, nats_url: str, expected: int) -> list[Any]:
    """Every message on the feedback stream, once ``expected`` are there."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        stream = service.runtime.stream.name

        async def arrived() -> bool:
            return (await js.stream_info(stream)).state.messages >= expected

        await eventually(arrived)
        sub = await js.pull_subscribe(f"{service.runtime.subjects.root}.feedback.>", stream=stream)
        msgs = await sub.fetch(expected + 10, timeout=2)
        assert len(msgs) == (await js.stream_info(stream)).state.messages
        return list(msgs)
    finally:
        await nc.close()


async def stored_rows(service: FeedbackService) -> str:
    """Every row of every table of the service's database except its org chart replica."""
    async with service.runtime.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        dump = []
        for name in names:
            if name.startswith("org_") or name == "alembic_version":
                continue
            rows = await conn.execute(select(text("*")).select_from(table(name)))
            dump.extend(f"{name}: {tuple(row)}" for row in rows)
    return "\n".join(dump)


async def test_an_anonymous_giver_is_named_nowhere(
    feedback: FeedbackService,
    nats_url: str,
    captured_logs: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    await feedback.build_org(ORG)
    anonymous = {
        "recipient_id": "emil",
        "body": "you interrupt people",
        "visibility": "manager",
        "anonymous": True,
    }
    headers = {**auth(GIVER), "X-Correlation-Id": CLIENT_CORRELATION}
    resp = await feedback.client.post("/v1/feedback", json={**anonymous, "goal_id": "g-7"}, headers=headers)
    assert resp.status_code == 201, resp.text
    feedback_id = resp.json()["id"]
    again = await feedback.client.post("/v1/feedback", json=anonymous, headers=headers)
    assert again.status_code == 409  # one anonymous feedback per giver and recipient per quarter
    assert again.json()["error"]["code"] == "rule_violation"
    resp = await feedback.client.post(
        "/v1/feedback",
        json={"recipient_id": "emil", "body": "great demo", "visibility": "public", "goal_id": "g-7"},
        headers=auth(CONTROL),
    )
    assert resp.status_code == 201, resp.text

    # everyone who may, reads it: the recipient, their manager line; hr counts it
    reader_paths: list[tuple[str, dict[str, str]]] = [
        (f"/v1/feedback/{feedback_id}", auth("emil")),
        (f"/v1/feedback/{feedback_id}", auth("mia", "manager")),
        (f"/v1/feedback/{feedback_id}", auth("ceo", "manager")),
        ("/v1/goals/g-7/feedback", auth("emil")),
        (f"/v1/employees/{CONTROL}/feedback/given", auth("hana", "hr")),
        ("/v1/kpis/feedback", auth("hana", "hr")),
        ("/v1/kpis/feedback", auth("ceo", "manager")),
    ]

    async def everything_indexed() -> bool:
        resp = await feedback.client.get("/v1/employees/emil/feedback/received", headers=auth("emil"))
        return len(resp.json()["items"]) == 2

    await eventually(everything_indexed)
    for path, reader in reader_paths:
        resp = await feedback.client.get(path, headers=reader)
        assert resp.status_code == 200, (path, resp.text)
    kpis = (await feedback.client.get("/v1/kpis/feedback", headers=auth("hana", "hr"))).json()
    assert {p["employee_id"]: (p["received"], p["given"]) for p in kpis["per_person"]} == {
        "emil": (2, 0),
        CONTROL: (0, 1),
    }
    single = (await feedback.client.get(f"/v1/feedback/{feedback_id}", headers=auth("emil"))).json()
    assert single["giver_id"] is None and single["anonymous"] is True and single["kind"] == "peer"

    # every response, with its headers
    responses = "\n".join(
        f"{r.request.method} {r.request.url} {r.status_code} {dict(r.headers)} {r.text}"
        for r in feedback.responses
    )
    assert CONTROL in responses
    assert GIVER not in responses

    # every message on the stream (what other services, webhooks and notifications see)
    messages = await stream_messages(feedback, nats_url, expected=2)  # the two FeedbackGiven
    on_stream = b"\n".join(
        m.subject.encode() + json.dumps(m.headers or {}).encode() + m.data for m in messages
    )
    assert CONTROL.encode() in on_stream
    assert GIVER.encode() not in on_stream
    assert CLIENT_CORRELATION.encode() not in on_stream
    assert b"you interrupt people" not in on_stream and b"great demo" not in on_stream  # bodies stay home
    envelopes = [json.loads(m.data) for m in messages]
    (given_anonymously,) = [e for e in envelopes if e["payload"]["anonymous"]]
    assert given_anonymously["actor_id"] == "anonymous" and given_anonymously["payload"]["giver_id"] is None
    assert given_anonymously["causation_id"] is None

    # every stored row: events (the private ones too), outbox, read views, deadlines
    stored = await stored_rows(feedback)
    assert CONTROL in stored and "you interrupt people" in stored  # the private body is stored...
    assert GIVER not in stored  # ...but nothing names who wrote it
    assert CLIENT_CORRELATION not in stored

    # every log line of the service, with the context bound for each request
    logged = captured_logs.getvalue() + caplog.text
    out, err = capfd.readouterr()
    lines = [json.loads(line) for line in captured_logs.getvalue().splitlines()]
    assert any(line["event"] == "feedback.given" and line.get("anonymous") for line in lines)
    assert any(line["event"] == "feedback.given" and line.get("actor") == CONTROL for line in lines)
    assert all(line.get("actor") == "anonymous" for line in lines if line.get("anonymous"))
    for text_ in (logged, out, err):
        assert GIVER not in text_
        assert CLIENT_CORRELATION not in text_
