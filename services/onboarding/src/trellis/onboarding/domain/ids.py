"""Identifiers of the onboarding service's aggregates.

An employee's id is chosen by the caller (the ``sub`` of that employee's tokens, from
the HRIS or identity provider) and is unique only within a tenant: two organisations
may both have an ``e-1``. The event store's aggregate ids are global, so an employee's
event stream is named by a UUIDv5 of (tenant, employee id). The events themselves carry
the employee id as given; consumers read it from the payload.

A new hire has at most one onboarding plan, so a plan's id is derived the same way, and
the goal a milestone asks for (and the enrolment a training milestone creates) is derived
from its plan: starting the same plan twice, or creating its goals twice, can only ever
name the same things.
"""

from __future__ import annotations

import uuid

from trellis.contracts.ids import uuid7
from trellis.contracts.subjects import check_token
from trellis.core.errors import InvalidInput

_NAMESPACE = uuid.UUID("5b0c3f4e-7a9d-4c1e-9f3a-2d8e6b1a0c57")
MAX_ID_LENGTH = 64


def employee_stream_id(tenant_id: str, employee_id: str) -> str:
    """The event store's aggregate id of an employee."""
    return str(uuid.uuid5(_NAMESPACE, f"employee:{tenant_id}:{employee_id}"))


def plan_id_of(tenant_id: str, employee_id: str) -> str:
    """The id of an employee's onboarding plan (one per new hire)."""
    return str(uuid.uuid5(_NAMESPACE, f"onboarding-plan:{tenant_id}:{employee_id}"))


def planned_goal_id(plan_id: str, milestone_id: str) -> str:
    """The id of the goal a plan's milestone creates for the new hire."""
    return str(uuid.uuid5(_NAMESPACE, f"planned-goal:{plan_id}:{milestone_id}"))


def plan_enrolment_id(plan_id: str, training_id: str) -> str:
    """The id of the enrolment a plan's training milestone creates for the new hire: the
    same every time, so the plan can only ever create it once."""
    return str(uuid.uuid5(_NAMESPACE, f"plan-enrolment:{plan_id}:{training_id}"))


def new_id() -> str:
    return str(uuid7())


def checked_id(value: str, what: str) -> str:
    """A caller-given id: letters, digits, ``-`` and ``_``, at most 64 characters."""
    if not value or len(value) > MAX_ID_LENGTH:
        raise InvalidInput(f"{what} must have 1 to {MAX_ID_LENGTH} characters", details={"value": value})
    try:
        return check_token(value, what)
    except ValueError as exc:
        raise InvalidInput(str(exc), details={"value": value}) from exc
