"""When a due date has passed, and which quarter a date is in.

Due dates are calendar dates without a time zone. Trellis reads them in UTC: a milestone
due on D is on time if completed on D (UTC) or before, and it is *missed* at the end of
D, i.e. at 00:00 UTC on the day after. Tenants do not have their own time zone (yet); a
tenant far from UTC sees the boundary shifted by its offset.
"""

from __future__ import annotations

import datetime as dt


def today(now: dt.datetime) -> dt.date:
    """The calendar date of ``now`` in UTC."""
    return now.astimezone(dt.UTC).date()


def missed_at(due_date: dt.date) -> dt.datetime:
    """The moment a milestone due on ``due_date`` is missed if not completed."""
    return dt.datetime.combine(due_date + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)


def quarter_of(day: dt.date) -> str:
    """The goal period of ``day``'s quarter, e.g. ``2026-Q1``."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
