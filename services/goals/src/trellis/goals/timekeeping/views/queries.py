"""Plain queries over the time log: always one tenant *and one person*, the caller.

No function here takes anyone but the person whose entries it reads, and the API passes
the caller: there is no way to ask for another person's time.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.goals.timekeeping.views.tables import time_entries
from trellis.goals.views.tables import goal_key_results, goal_nodes


def iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _entries(tenant_id: str, person_id: str, since: dt.date | None, until: dt.date | None) -> Select[Any]:
    c = time_entries.c
    query = select(time_entries).where(c.person_id == person_id)
    if since is not None:
        query = query.where(c.day >= since)
    if until is not None:
        query = query.where(c.day <= until)
    return scoped(tenant_id, query.order_by(c.day, c.logged_at, c.entry_id))


def _view(row: Any) -> dict[str, Any]:
    changed = row["changed_at"]
    return {
        "id": row["entry_id"],
        "day": row["day"].isoformat(),
        "iso_week": iso_week(row["day"]),
        "minutes": row["minutes"],
        "goal_id": row["goal_id"],
        "key_result_id": row["key_result_id"],
        "label": row["label"],
        "note": row["note"],
        "logged_at": _utc(row["logged_at"]).isoformat(),
        "changed_at": _utc(changed).isoformat() if changed else None,
    }


async def entry(session: Transaction, tenant_id: str, person_id: str, entry_id: str) -> dict[str, Any] | None:
    """One of the person's entries; None for anyone else's, as for one that does not exist."""
    c = time_entries.c
    query = select(time_entries).where(c.entry_id == entry_id, c.person_id == person_id)
    row = (await session.execute(scoped(tenant_id, query))).mappings().first()
    return _view(row) if row else None


async def entries(
    session: Transaction, tenant_id: str, person_id: str, since: dt.date, until: dt.date
) -> list[dict[str, Any]]:
    rows = await session.execute(_entries(tenant_id, person_id, since, until))
    return [_view(row) for row in rows.mappings()]


async def summary(
    session: Transaction, tenant_id: str, person_id: str, since: dt.date, until: dt.date
) -> dict[str, Any]:
    """Minutes in all, per ISO week, per goal (and its key results) and per label."""
    rows = (await session.execute(_entries(tenant_id, person_id, since, until))).mappings().all()
    weeks: dict[str, int] = defaultdict(int)
    week_starts: dict[str, dt.date] = {}
    goals: dict[str, int] = defaultdict(int)
    key_results: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    labels: dict[str, int] = defaultdict(int)
    for row in rows:
        day, minutes = row["day"], row["minutes"]
        week = iso_week(day)
        weeks[week] += minutes
        week_starts[week] = day - dt.timedelta(days=day.weekday())
        if row["goal_id"]:
            goals[row["goal_id"]] += minutes
            if row["key_result_id"]:
                key_results[row["goal_id"]][row["key_result_id"]] += minutes
        elif row["label"]:
            labels[row["label"]] += minutes
    titles = await _goal_titles(session, tenant_id, list(goals))
    names = await _key_result_names(session, tenant_id, [kr for krs in key_results.values() for kr in krs])
    return {
        "from_date": since.isoformat(),
        "to_date": until.isoformat(),
        "total_minutes": sum(weeks.values()),
        "entries": len(rows),
        "per_week": [
            {"week": week, "starts_on": week_starts[week].isoformat(), "minutes": weeks[week]}
            for week in sorted(weeks)
        ],
        "per_goal": [
            {
                "goal_id": goal_id,
                "title": titles.get(goal_id),
                "minutes": minutes,
                "per_key_result": [
                    {"key_result_id": kr, "name": names.get(kr), "minutes": kr_minutes}
                    for kr, kr_minutes in sorted(key_results[goal_id].items(), key=_most_first)
                ],
            }
            for goal_id, minutes in sorted(goals.items(), key=_most_first)
        ],
        "per_label": [
            {"label": label, "minutes": minutes} for label, minutes in sorted(labels.items(), key=_most_first)
        ],
    }


async def export_rows(
    session: AsyncSession, tenant_id: str, person_id: str, since: dt.date | None, until: dt.date | None
) -> AsyncIterator[dict[str, Any]]:
    """The person's entries in day order, with their goals' titles and key results' names,
    read in batches (an export of years does not sit in memory at once)."""
    c = time_entries.c
    linked = _entries(tenant_id, person_id, since, until).with_only_columns(c.goal_id, c.key_result_id)
    pairs = (await session.execute(linked.distinct().order_by(None))).all()
    titles = await _goal_titles(session, tenant_id, sorted({g for g, _ in pairs if g}))
    names = await _key_result_names(session, tenant_id, sorted({kr for _, kr in pairs if kr}))
    result = await session.stream(
        _entries(tenant_id, person_id, since, until).execution_options(yield_per=500)
    )
    async for batch in result.mappings().partitions():
        for row in batch:
            yield {
                **_view(row),
                "goal_title": titles.get(row["goal_id"]) if row["goal_id"] else None,
                "key_result_name": names.get(row["key_result_id"]) if row["key_result_id"] else None,
            }


async def _goal_titles(session: Transaction, tenant_id: str, goal_ids: list[str]) -> dict[str, str | None]:
    if not goal_ids:
        return {}
    c = goal_nodes.c
    rows = await session.execute(scoped(tenant_id, select(c.goal_id, c.title).where(c.goal_id.in_(goal_ids))))
    return {goal_id: title for goal_id, title in rows.all()}


async def _key_result_names(
    session: Transaction, tenant_id: str, key_result_ids: list[str]
) -> dict[str, str | None]:
    if not key_result_ids:
        return {}
    c = goal_key_results.c
    query = select(c.key_result_id, c.name).where(c.key_result_id.in_(key_result_ids))
    rows = await session.execute(scoped(tenant_id, query))
    return {kr: name for kr, name in rows.all()}


def _most_first(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
