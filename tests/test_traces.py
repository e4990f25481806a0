"""One command, one trace: the goals API request, its append and publish, the
notifications service's webhook fan-out handling the event, and the webhook attempt,
all under the trace id the client sent, which the subscriber receives too."""

from __future__ import annotations

from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from trellis.notifications.testing import Receiver
from trellis.testing import eventually

from .four_services import ADMIN, auth, client_of, four_services

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def _exporter() -> InMemorySpanExporter:
    """An in-memory exporter on the process's tracer provider (set once per process)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


async def test_one_trace_spans_goals_notifications_and_the_webhook(
    nats_url: str, subject_root: str, tmp_path: Path
) -> None:
    exporter = _exporter()
    receiver = Receiver()
    await receiver.start()
    try:
        async with four_services(nats_url, subject_root, tmp_path) as apps:
            async with client_of(apps["notifications"]) as notifications, client_of(apps["goals"]) as goals:
                resp = await notifications.post(
                    "/v1/webhooks/subscriptions",
                    json={"url": receiver.url, "event_types": ["goals.GoalCreated"]},
                    headers=ADMIN,
                )
                assert resp.status_code == 201, resp.text
                created = await goals.post(
                    "/v1/goals",
                    json={"level": "individual", "title": "Traced", "period": "2027-Q1"},
                    headers={**auth("mia", "manager"), "traceparent": CALLER},
                )
                assert created.status_code == 201, created.text
                [delivered] = await eventually(lambda: _delivered(receiver), timeout=20)

        # the subscriber can continue the same trace
        assert delivered.headers["traceparent"].split("-")[1] == TRACE_ID
        spans = [s for s in exporter.get_finished_spans() if format(s.context.trace_id, "032x") == TRACE_ID]
        names = {s.name for s in spans}
        assert {
            "POST /v1/goals",
            "append goal",
            "handle GoalCreated",
            "webhook goals.GoalCreated",
        } <= names, names
        published = [s for s in exporter.get_finished_spans() if s.name.startswith("publish ")]
        assert any(  # the relay's batch span links to the traces of what it published
            format(link.context.trace_id, "032x") == TRACE_ID for s in published for link in s.links
        )
        consumers = {s.attributes.get("trellis.consumer") for s in spans if s.name == "handle GoalCreated"}
        assert "notifications-webhooks-goals" in consumers, consumers
        webhook = next(s for s in spans if s.name == "webhook goals.GoalCreated")
        assert webhook.attributes["trellis.outcome"] == "delivered"
    finally:
        await receiver.stop()


async def _delivered(receiver: Receiver) -> list[object] | None:
    got = receiver.delivered()
    return got if got else None
