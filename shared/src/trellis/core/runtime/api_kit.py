"""What every service's HTTP API answers alike: a command's answer and an aggregate's
audit trail, with their response models, and the runtime and the service's application
as dependencies (``RuntimeDep``, ``application_of``).

A read route answers a model built on ``Answer`` (its keys, no others). A command
answers ``{"id", "version", "events", "related"}``: the aggregate changed,
its version after the command (the next ``If-Match``), the event types recorded, and
the ids of whatever else it created. A service may extend ``CommandAnswer`` with named
fields it documented before (the goals service's ``goal_id``).

The audit trail is every event of one aggregate, who and when, oldest first; private
events (``published=False``, such as why someone left) only for admin and hr. An
aggregate of another tenant is not found, as one that does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Self, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from trellis.core.errors import NotFound
from trellis.core.runtime.auth import Actor
from trellis.core.runtime.service import Application, Runtime
from trellis.core.store.accepted import Accepted


class CommandAnswer(BaseModel):
    """What a command did."""

    id: str = Field(description="the aggregate the command changed")
    version: int = Field(description="its version now: the `If-Match` of the next change")
    events: list[str] = Field(description="the event types recorded, in order")
    related: dict[str, str] = Field(
        default_factory=dict, description="ids of what else the command created, by role"
    )

    @classmethod
    def of(cls, accepted: Accepted, **fields: Any) -> Self:
        return cls(
            id=accepted.id,
            version=accepted.version,
            events=list(accepted.events),
            related=dict(accepted.related),
            **fields,
        )


class Answer(BaseModel):
    """A read route's answer: exactly the keys it names. A view that grows a key its answer
    does not name fails in the tests instead of the key being dropped in silence."""

    model_config = ConfigDict(extra="forbid")


class AuditEntry(BaseModel):
    """One event of an aggregate's history."""

    version: int
    type: str
    occurred_at: str = Field(description="ISO 8601, with its offset")
    actor_id: str
    event_id: str
    correlation_id: str | None
    causation_id: str | None
    data: dict[str, Any]


async def audit_trail(
    runtime: Runtime, aggregate_id: str, actor: Actor, what: str, *, aggregate_type: str
) -> list[AuditEntry]:
    """Every event of ``aggregate_id`` the actor may see, oldest first; ``what`` names it in
    the not-found error (``"goal g-1"``). An aggregate of another type than ``aggregate_type``
    is not found either: a route for goals never shows what else its service stores (a
    person's private timesheet, a restricted enrolment) by being handed its id."""
    async with runtime.sessions() as session:
        recorded = await runtime.store.load(session, aggregate_id)
    if not recorded or recorded[0].tenant_id != actor.tenant_id:
        raise NotFound(f"{what} not found")
    if recorded[0].envelope.aggregate_type != aggregate_type:
        raise NotFound(f"{what} not found")
    return [
        AuditEntry(
            version=r.envelope.aggregate_version,
            type=r.envelope.event_type,
            occurred_at=r.envelope.occurred_at.isoformat(),
            actor_id=r.envelope.actor_id,
            event_id=str(r.envelope.event_id),
            correlation_id=r.envelope.correlation_id,
            causation_id=r.envelope.causation_id,
            data=r.event.model_dump(mode="json"),
        )
        for r in recorded
        if r.event.published or actor.is_admin_or_hr
    ]


async def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(_runtime)]


A = TypeVar("A", bound=Application)


def application_in(runtime: Runtime, kind: type[A]) -> A:
    """``runtime``'s application, typed as ``kind`` (a ``TypeError`` if it is another's)."""
    built = runtime.application
    if not isinstance(built, kind):  # a router mounted on another service's app
        raise TypeError(f"this service's application is a {type(built).__name__}, not a {kind.__name__}")
    return built


def application_of(kind: type[A]) -> Callable[[Request], Awaitable[A]]:
    """A FastAPI dependency giving the running service's application, typed as ``kind``::

    Goals = Annotated[GoalsApplication, Depends(application_of(GoalsApplication))]
    """

    async def application(request: Request) -> A:
        return application_in(request.app.state.runtime, kind)

    application.__name__ = f"application_of_{kind.__name__}"
    return application
