"""Traces (OpenTelemetry): one command followed from its HTTP request to every consumer.

Spans: each HTTP request (FastAPI's own telemetry: method and route template, continuing
the caller's ``traceparent``), each append (``append <aggregate type>``),
each relay pass that publishes (``publish <stream>``), each consumer batch (``consume
<consumer>``) and each event a consumer handles (``handle <event type>``), each webhook
attempt (``webhook <event type>``).

The trace context travels with the work, W3C ``traceparent`` all the way: an append stores
the current one with its outbox rows, the relay sends it as a NATS header, a consumer
handles the event in a span continuing it (so what a reaction appends continues it too),
the webhook fan-out stores it with each delivery and the delivery worker sends it to the
subscriber. Exporting is off unless configured by the standard variables:
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) exports over
OTLP/HTTP, ``OTEL_TRACES_EXPORTER=console`` prints spans; ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES`` name the service (by default ``trellis-<service>``). Without
them the API's no-op tracer runs: a few microseconds per span.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link

tracer = trace.get_tracer("trellis")
_configured = False


def traceparent() -> str | None:
    """The current span's W3C ``traceparent``, or None outside any recorded span."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def context_of(value: str | None) -> Context | None:
    """The context a stored or received ``traceparent`` continues (None: a new trace)."""
    return propagate.extract({"traceparent": value}) if value else None


def context_from(headers: Mapping[str, str] | None) -> Context | None:
    return context_of((headers or {}).get("traceparent"))


def links(traceparents: list[str | None], limit: int = 32) -> list[Link]:
    """Links from a span doing batch work to the traces of the items in the batch."""
    found = []
    for value in traceparents:
        context = context_of(value)
        if context is not None:
            found.append(Link(trace.get_current_span(context).get_span_context()))
            if len(found) == limit:
                break
    return found


def configure(service: str) -> None:
    """Export spans if the ``OTEL_*`` variables ask for it (once per process)."""
    global _configured
    if _configured:
        return
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "").lower()
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if exporter_name == "none" or (exporter_name == "" and not endpoint):
        return  # off: the default
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    name = os.environ.get("OTEL_SERVICE_NAME") or f"trellis-{service}"
    resource = Resource.create({"service.name": name})  # with OTEL_RESOURCE_ATTRIBUTES
    provider = TracerProvider(resource=resource)
    exporter: SpanExporter
    if exporter_name == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _configured = True
