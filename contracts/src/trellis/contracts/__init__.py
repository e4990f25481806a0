"""The published events of every Trellis service: the contracts between services.

Each module is one service's events as they travel on its stream: the producing
service's domain records them, and any other service decodes them from here when it
consumes that stream. Nothing else is shared between services. Changing an event means
a new schema version and an upcaster in the same module, never an edit in place.

An event declared ``published=False`` is private: it stays in its service's store. Its
``aggregate_version`` still counts, so the versions a consumer sees of one aggregate skip
numbers wherever a private event sits (a check-in's 1 ``CheckInScheduled``, then 3
``CheckInCompleted``). That is by design, not a lost event; each service's AsyncAPI
document names the private event types per aggregate type (``x-private-events``).
Whether a type is published is part of its contract and never changes.
"""

from __future__ import annotations

from importlib import import_module

from trellis.contracts.envelope import EventRegistry

SERVICES = ("goals", "onboarding", "feedback", "notifications")
# Bounded contexts hosted by a service's process, whose (private) events live in its store:
# their module registers them in that service's registry, and is imported with it.
HOSTED = {"goals": ("timekeeping",)}


def registry_of(service: str) -> EventRegistry:
    """The event registry of ``service``'s stream."""
    if service not in SERVICES:
        raise KeyError(f"no published events for service {service!r}")
    module = import_module(f"trellis.contracts.{service}")
    for hosted in HOSTED.get(service, ()):
        import_module(f"trellis.contracts.{hosted}")
    registry: EventRegistry = module.registry
    return registry
