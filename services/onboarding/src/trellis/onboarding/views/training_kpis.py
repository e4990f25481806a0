"""Training KPIs: enrolments, completions and completions on time, overall, per team and per
training, over the people the viewer oversees (``scope``: None = the whole tenant, for
admin and hr; otherwise the viewer and everyone below them, as the org chart says now).

Each enrolment counts for the team its person was in when enrolled (people without a
team under ``team_id: null``), and in the window when it was *enrolled* in it
(``from`` inclusive, ``to`` exclusive; either open-ended). Per group:

- ``enrolments``: every enrolment; ``open``, ``completed``, ``withdrawn`` split them;
- ``completed_on_time`` (on or before the target date) and ``completed_late``;
- ``overdue``: open, and the target date has passed;
- ``completion_rate`` = completed / (enrolments - withdrawn);
- ``on_time_rate`` = completed on time / (completed + overdue): the share on time among
  the enrolments whose timeliness is known (an overdue one is late already).

A rate is null while its denominator is 0.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select

from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.onboarding.views.development_tables import training_enrolments, trainings
from trellis.orgchart.tables import org_teams

Scope = set[str] | None


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _row(counts: Counter[str]) -> dict[str, Any]:
    enrolments, completed, withdrawn = counts["enrolments"], counts["completed"], counts["withdrawn"]
    return {
        "enrolments": enrolments,
        "open": counts["open"],
        "completed": completed,
        "completed_on_time": counts["completed_on_time"],
        "completed_late": counts["completed_late"],
        "withdrawn": withdrawn,
        "overdue": counts["overdue"],
        "completion_rate": _rate(completed, enrolments - withdrawn),
        "on_time_rate": _rate(counts["completed_on_time"], completed + counts["overdue"]),
    }


async def training_kpis(
    session: Transaction,
    tenant_id: str,
    scope: Scope,
    *,
    today: dt.date,
    start: dt.date | None = None,
    end: dt.date | None = None,
    training_id: str | None = None,
) -> dict[str, Any]:
    e = training_enrolments.c
    query = scoped(
        tenant_id,
        select(e.employee_id, e.team_id, e.training_id, e.status, e.on_time, e.target_date),
    )
    if start is not None:
        query = query.where(e.enrolled_on >= start)
    if end is not None:
        query = query.where(e.enrolled_on < end)
    if training_id is not None:
        query = query.where(e.training_id == training_id)
    total: Counter[str] = Counter()
    by_team: dict[str | None, Counter[str]] = defaultdict(Counter)
    by_training: dict[str, Counter[str]] = defaultdict(Counter)
    for employee, team, training, status, on_time, target_date in await session.execute(query):
        if scope is not None and employee not in scope:
            continue
        outcome = Counter(
            enrolments=1,
            open=int(status == "open"),
            completed=int(status == "completed"),
            completed_on_time=int(status == "completed" and bool(on_time)),
            completed_late=int(status == "completed" and not on_time),
            withdrawn=int(status == "withdrawn"),
            overdue=int(status == "open" and today > target_date),
        )
        for counter in (total, by_team[team], by_training[training]):
            counter.update(outcome)
    team_names = {
        team_id: name
        for team_id, name in await session.execute(
            scoped(tenant_id, select(org_teams.c.team_id, org_teams.c.name))
        )
    }
    titles = {
        tid: title
        for tid, title in await session.execute(
            scoped(tenant_id, select(trainings.c.training_id, trainings.c.title))
        )
    }
    return {
        "as_of": today.isoformat(),
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "overall": _row(total),
        "per_team": [
            {"team_id": t, "team_name": team_names.get(t) if t else None, **_row(n)}
            for t, n in sorted(by_team.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
        ],
        "per_training": [
            {"training_id": t, "title": titles.get(t, ""), **_row(n)}
            for t, n in sorted(by_training.items(), key=lambda kv: (titles.get(kv[0], ""), kv[0]))
        ],
    }
