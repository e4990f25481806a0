"""Trainings, enrolments and mentorships as the API answers them; the lists over
``DevelopmentRecords``, each limited to what the viewer may read.

A single training, enrolment or mentorship is shown from its aggregate (read from its
events); the lists page newest first, with the one cursor codec of the kit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select, true

from trellis.core.runtime import cursors
from trellis.core.runtime.auth import Actor
from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.onboarding.domain.enrolment import Enrolment
from trellis.onboarding.domain.mentorship import Mentorship, status_of
from trellis.onboarding.domain.training import Training
from trellis.onboarding.views.development_tables import (
    mentorships,
    training_enrolments,
    training_skills,
    trainings,
)
from trellis.orgchart.tables import org_reporting_lines

# ---- the catalogue ----------------------------------------------------------------------


def training_view(training: Training) -> dict[str, Any]:
    d = training.details
    return {
        "training_id": training.id,
        "kind": d.kind,
        "title": d.title,
        "description": d.description,
        "url": d.url,
        "skills": list(d.skills),
        "duration_minutes": d.duration_minutes,
        "retired": training.retired,
        "version": training.version,
    }


async def catalogue(
    session: Transaction,
    tenant_id: str,
    *,
    kind: str | None = None,
    skill: str | None = None,
    include_retired: bool = False,
) -> list[dict[str, Any]]:
    """The tenant's trainings by title; ``skill`` compared as the tags are kept (lower case)."""
    c = trainings.c
    query = scoped(tenant_id, select(trainings))
    if not include_retired:
        query = query.where(c.retired.is_(False))
    if kind is not None:
        query = query.where(c.kind == kind)
    if skill is not None:
        s = training_skills.c
        tagged = scoped(tenant_id, select(s.training_id).where(s.skill == " ".join(skill.split()).lower()))
        query = query.where(c.training_id.in_(tagged))
    rows = await session.execute(query.order_by(c.title, c.training_id))
    return [
        {
            "training_id": r["training_id"],
            "kind": r["kind"],
            "title": r["title"],
            "description": r["description"],
            "url": r["url"],
            "skills": list(r["skills"] or []),
            "duration_minutes": r["duration_minutes"],
            "retired": r["retired"],
        }
        for r in rows.mappings()
    ]


# ---- who may read what ------------------------------------------------------------------


def _managed_by(viewer: Actor) -> Select[Any]:
    """Everyone below ``viewer`` in the reporting lines (any depth), as a scoped subquery."""
    r = org_reporting_lines.c
    return scoped(viewer.tenant_id, select(r.employee_id).where(r.manager_id == viewer.employee_id))


def _readable_enrolments(viewer: Actor) -> ColumnElement[bool]:
    e = training_enrolments.c
    if viewer.is_admin_or_hr:
        return true()
    return or_(e.employee_id == viewer.employee_id, e.employee_id.in_(_managed_by(viewer)))


def _readable_mentorships(viewer: Actor) -> ColumnElement[bool]:
    m = mentorships.c
    if viewer.is_admin_or_hr:
        return true()
    return or_(
        m.mentor_id == viewer.employee_id,
        m.mentee_id == viewer.employee_id,
        m.mentee_id.in_(_managed_by(viewer)),
    )


# ---- enrolments -------------------------------------------------------------------------


def enrolment_view(enrolment: Enrolment, *, today: dt.date) -> dict[str, Any]:
    return {
        "enrolment_id": enrolment.id,
        "training_id": enrolment.training_id,
        "training_title": enrolment.training_title,
        "employee_id": enrolment.employee_id,
        "enrolled_by": enrolment.enrolled_by,
        "enrolled_on": _iso(enrolment.enrolled_on),
        "target_date": enrolment.target_date.isoformat(),
        "status": enrolment.status,
        "overdue": enrolment.status == "open" and today > enrolment.target_date,
        "completed_on": _iso(enrolment.completed_on),
        "completed_by": enrolment.completed_by,
        "on_time": enrolment.on_time,
        "evidence_note": enrolment.evidence_note,
        "evidence_url": enrolment.evidence_url,
        "withdrawn_on": _iso(enrolment.withdrawn_on),
        "withdrawn_by": enrolment.withdrawn_by,
        "withdrawal_reason": enrolment.withdrawal_reason,
        "plan_id": enrolment.plan_id,
        "milestone_id": enrolment.milestone_id,
        "due_soon_announced": enrolment.target_date in enrolment.due_soon_dates,
        "version": enrolment.version,
        "as_of": today.isoformat(),
    }


async def enrolments_page(
    session: Transaction,
    viewer: Actor,
    *,
    today: dt.date,
    employee_id: str | None = None,
    training_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """The enrolments ``viewer`` may read (their own, their reports', all for admin and hr),
    newest first."""
    e = training_enrolments.c
    query = scoped(viewer.tenant_id, select(training_enrolments).where(_readable_enrolments(viewer)))
    if employee_id is not None:
        query = query.where(e.employee_id == employee_id)
    if training_id is not None:
        query = query.where(e.training_id == training_id)
    if status == "overdue":
        query = query.where(e.status == "open", e.target_date < today)
    elif status is not None:
        query = query.where(e.status == status)
    rows, next_cursor = await _page(session, query, e.enrolled_at, e.enrolment_id, limit, cursor)
    return {
        "items": [
            {
                "enrolment_id": r["enrolment_id"],
                "training_id": r["training_id"],
                "training_title": r["training_title"],
                "employee_id": r["employee_id"],
                "enrolled_on": r["enrolled_on"].isoformat(),
                "target_date": r["target_date"].isoformat(),
                "status": r["status"],
                "overdue": r["status"] == "open" and today > r["target_date"],
                "completed_on": _iso(r["completed_on"]),
                "on_time": r["on_time"],
                "plan_id": r["plan_id"],
            }
            for r in rows
        ],
        "next": next_cursor,
        "as_of": today.isoformat(),
    }


# ---- mentorships ------------------------------------------------------------------------


def mentorship_view(mentorship: Mentorship, *, today: dt.date) -> dict[str, Any]:
    return {
        "mentorship_id": mentorship.id,
        "mentor_id": mentorship.mentor_id,
        "mentee_id": mentorship.mentee_id,
        "starts_on": mentorship.starts_on.isoformat(),
        "ends_on": mentorship.ends_on.isoformat(),
        "objectives": list(mentorship.objectives),
        "goal_ids": list(mentorship.goal_ids),
        "status": mentorship.status(today),
        "ended_on": _iso(mentorship.ended_on),
        "ended_by": mentorship.ended_by,
        "end_reason": mentorship.end_reason,
        "version": mentorship.version,
        "as_of": today.isoformat(),
    }


async def mentorships_page(
    session: Transaction,
    viewer: Actor,
    *,
    today: dt.date,
    employee_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """The mentorships ``viewer`` may read (``employee_id``: those they mentor or are
    mentored in), newest first."""
    m = mentorships.c
    query = scoped(viewer.tenant_id, select(mentorships).where(_readable_mentorships(viewer)))
    if employee_id is not None:
        query = query.where(or_(m.mentor_id == employee_id, m.mentee_id == employee_id))
    rows, next_cursor = await _page(session, query, m.arranged_at, m.mentorship_id, limit, cursor)
    items = [
        {
            "mentorship_id": r["mentorship_id"],
            "mentor_id": r["mentor_id"],
            "mentee_id": r["mentee_id"],
            "starts_on": r["starts_on"].isoformat(),
            "ends_on": r["ends_on"].isoformat(),
            "objectives": list(r["objectives"] or []),
            "goal_ids": list(r["goal_ids"] or []),
            "status": status_of(r["starts_on"], r["ends_on"], r["ended_on"], today),
            "ended_on": _iso(r["ended_on"]),
        }
        for r in rows
    ]
    return {"items": items, "next": next_cursor, "as_of": today.isoformat()}


# ---- paging -----------------------------------------------------------------------------


async def _page(
    session: Transaction, query: Select[Any], at: Any, key: Any, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """Newest first by (``at``, ``key``); the cursor continues after the page's last row."""
    if cursor:
        before_at, before_key = cursors.decode(cursor, dt.datetime, str)
        query = query.where(or_(at < before_at, and_(at == before_at, key < before_key)))
    rows = list((await session.execute(query.order_by(at.desc(), key.desc()).limit(limit + 1))).mappings())
    more = len(rows) > limit
    rows = rows[:limit]
    if not more:
        return rows, None
    last = rows[-1]
    return rows, cursors.encode(_aware(last[at.name]), last[key.name])


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None
