"""Events of private time tracking, a bounded context hosted by the goals service.

An employee logs where their own time goes (a day, minutes, on a goal, a key result of
it, or a free label, with a note). Every event here is **private** (``published=False``):
it is kept in the goals service's own event store and never put on its stream
(``TRELLIS_GOALS``), so no other service, no webhook, no KPI and no notification can
ever receive one. They are registered in the goals service's registry because that is
the store they live in; ``registry_of("goals")`` brings them in.

What an entry is *on* and its note are sealed in ``sealed``: a Fernet token (from
``cryptography``) under a key of that entry's own, kept beside the goals service's read
views and never in an event. Deleting an entry, or erasing the whole timesheet, deletes
the keys, so what was sealed can no longer be read anywhere, the event store included.
The day and the minutes stay in the clear: the timesheet needs them to hold a day to
1440 minutes.

Aggregate: ``timesheet``, one per person (its id is derived from the tenant and the
person); every event names ``person_id``.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from trellis.contracts.envelope import DomainEvent, event
from trellis.contracts.goals import registry

MINUTES_PER_DAY = 1440

__all__ = [
    "MINUTES_PER_DAY",
    "TimeEntryChanged",
    "TimeEntryDeleted",
    "TimeEntryLogged",
    "TimesheetErased",
    "registry",
]


@event("TimeEntryLogged", version=1, aggregate="timesheet", published=False, registry=registry)
class TimeEntryLogged(DomainEvent):
    """Private: the person logged ``minutes`` on ``day``; what on, and the note, are sealed."""

    person_id: str
    entry_id: str
    day: dt.date
    minutes: int = Field(ge=1, le=MINUTES_PER_DAY)
    sealed: str = Field(description="what the time was on and the note, under the entry's own key")


@event("TimeEntryChanged", version=1, aggregate="timesheet", published=False, registry=registry)
class TimeEntryChanged(DomainEvent):
    """Private: an entry as it is now (every field restated; the subject and note sealed again)."""

    person_id: str
    entry_id: str
    day: dt.date
    minutes: int = Field(ge=1, le=MINUTES_PER_DAY)
    sealed: str


@event("TimeEntryDeleted", version=1, aggregate="timesheet", published=False, registry=registry)
class TimeEntryDeleted(DomainEvent):
    """Private: the person deleted one entry (its key is deleted with it)."""

    person_id: str
    entry_id: str


@event("TimesheetErased", version=1, aggregate="timesheet", published=False, registry=registry)
class TimesheetErased(DomainEvent):
    """Private: the person erased every entry of theirs at once (every key deleted with them)."""

    person_id: str
    entries: int = Field(ge=0, description="how many entries were erased")
