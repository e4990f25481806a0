"""KPIs: check-in completion, feedback counts, review-cycle completion.

Every KPI is computed over the people the viewer oversees (``scope``: None = the whole
tenant for hr/admin; otherwise the viewer and everyone below them). Teams are the
people's teams in the org chart replica as it is now; people without a team are grouped
under ``team_id: null``.

- **Check-in completion** over a window of due dates: ``due`` counts check-ins due in the
  window (cancelled ones excluded: nobody was expected to hold them), ``completed`` those
  held (late included), ``missed`` those whose grace period passed first (a missed one
  completed late counts in both), ``rate`` = completed / due. Per manager and per team
  (the report's team); a check-in counts when both its people are in scope.
- **Feedback counts** over a window of given dates: ``received`` per recipient (anonymous
  feedback included: it was received), ``given`` per giver (anonymous feedback has no
  giver and is counted for nobody, not even in a team's total, so no subtraction can
  reveal it). Counts only: never content.
- **Review completion**: expected and submitted reviews per cycle, per team of the
  reviewed person, and per kind.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select

from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.feedback.views.tables import checkins as checkins_table
from trellis.feedback.views.tables import feedback_items, review_assignments, review_cycles
from trellis.orgchart.tables import org_employees

Scope = set[str] | None


def _in(scope: Scope, *people: str | None) -> bool:
    return scope is None or all(p in scope for p in people)


def _rate(done: int, expected: int) -> float | None:
    return round(done / expected, 4) if expected else None


async def _teams(session: Transaction, tenant_id: str) -> dict[str, str | None]:
    e = org_employees.c
    rows = await session.execute(scoped(tenant_id, select(e.employee_id, e.team_id)))
    return {employee: team for employee, team in rows}


async def checkin_completion(
    session: Transaction, tenant_id: str, scope: Scope, start: dt.datetime, end: dt.datetime
) -> dict[str, Any]:
    c = checkins_table.c
    rows = await session.execute(
        scoped(
            tenant_id,
            select(c.manager_id, c.report_id, c.status, c.was_missed).where(
                c.due_at >= start.astimezone(dt.UTC),
                c.due_at < end.astimezone(dt.UTC),
                c.status != "cancelled",
            ),
        )
    )
    teams = await _teams(session, tenant_id)
    by_manager: dict[str, Counter[str]] = defaultdict(Counter)
    by_team: dict[str | None, Counter[str]] = defaultdict(Counter)
    total: Counter[str] = Counter()
    for manager, report, status, was_missed in rows:
        if not _in(scope, manager, report):
            continue
        outcome = Counter(due=1, completed=int(status == "completed"), missed=int(bool(was_missed)))
        for counter in (by_manager[manager], by_team[teams.get(report)], total):
            counter.update(outcome)

    def row(counts: Counter[str]) -> dict[str, Any]:
        due, completed = counts["due"], counts["completed"]
        return {"due": due, "completed": completed, "missed": counts["missed"], "rate": _rate(completed, due)}

    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "overall": row(total),
        "per_manager": [{"manager_id": m, **row(n)} for m, n in sorted(by_manager.items())],
        "per_team": [
            {"team_id": t, **row(n)} for t, n in sorted(by_team.items(), key=lambda kv: kv[0] or "")
        ],
    }


async def feedback_counts(
    session: Transaction, tenant_id: str, scope: Scope, start: dt.datetime | None, end: dt.datetime | None
) -> dict[str, Any]:
    f = feedback_items.c
    query = scoped(tenant_id, select(f.recipient_id, f.giver_id))
    if start is not None:
        query = query.where(f.given_at >= start.astimezone(dt.UTC))
    if end is not None:
        query = query.where(f.given_at < end.astimezone(dt.UTC))
    received: Counter[str] = Counter()
    given: Counter[str] = Counter()
    for recipient, giver in await session.execute(query):
        if _in(scope, recipient):
            received[recipient] += 1
        if giver is not None and _in(scope, giver):  # anonymous feedback has no giver to count
            given[giver] += 1
    teams = await _teams(session, tenant_id)
    per_team: dict[str | None, Counter[str]] = defaultdict(Counter)
    people = sorted(set(received) | set(given))
    for person in people:
        per_team[teams.get(person)].update(received=received[person], given=given[person])
    return {
        "per_person": [{"employee_id": p, "received": received[p], "given": given[p]} for p in people],
        "per_team": [
            {"team_id": t, "received": n["received"], "given": n["given"]}
            for t, n in sorted(per_team.items(), key=lambda kv: kv[0] or "")
        ],
    }


async def review_completion(
    session: Transaction, tenant_id: str, scope: Scope, cycle_id: str | None = None
) -> list[dict[str, Any]]:
    """Per cycle (one, or every cycle of the tenant), newest first."""
    rc, ra = review_cycles.c, review_assignments.c
    cycles_query = scoped(tenant_id, select(review_cycles))
    if cycle_id is not None:
        cycles_query = cycles_query.where(rc.cycle_id == cycle_id)
    cycles = [dict(r) for r in (await session.execute(cycles_query.order_by(rc.cycle_id.desc()))).mappings()]
    if not cycles:
        return []
    rows = await session.execute(
        scoped(
            tenant_id,
            select(ra.cycle_id, ra.kind, ra.subject_id, ra.submitted_at).where(
                ra.cycle_id.in_([c["cycle_id"] for c in cycles])
            ),
        )
    )
    teams = await _teams(session, tenant_id)
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    by_team: dict[str, dict[str | None, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    by_kind: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for cid, kind, subject, submitted_at in rows:
        if not _in(scope, subject):
            continue
        outcome = Counter(expected=1, submitted=int(submitted_at is not None))
        for counter in (totals[cid], by_team[cid][teams.get(subject)], by_kind[cid][kind]):
            counter.update(outcome)

    def row(counts: Counter[str]) -> dict[str, Any]:
        return {
            "expected": counts["expected"],
            "submitted": counts["submitted"],
            "rate": _rate(counts["submitted"], counts["expected"]),
        }

    return [
        {
            "cycle_id": c["cycle_id"],
            "name": c["name"],
            "period": c["period"],
            "status": c["status"],
            **row(totals[c["cycle_id"]]),
            "per_team": [
                {"team_id": t, **row(n)}
                for t, n in sorted(by_team[c["cycle_id"]].items(), key=lambda kv: kv[0] or "")
            ],
            "per_kind": [{"kind": k, **row(n)} for k, n in sorted(by_kind[c["cycle_id"]].items())],
        }
        for c in cycles
    ]
