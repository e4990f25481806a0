"""Time tracking's parts, as its routers use them, built on the goals service's runtime."""

from __future__ import annotations

from dataclasses import dataclass

from trellis.contracts.timekeeping import registry
from trellis.core.consuming.clock import Clock
from trellis.core.runtime.service import Runtime
from trellis.core.store.repository import Repository
from trellis.goals.application.commands import GoalCommands
from trellis.goals.domain.goal import Goal
from trellis.goals.timekeeping.application.commands import TimesheetCommands
from trellis.goals.timekeeping.application.entry_keys import EntryKeys
from trellis.goals.timekeeping.domain.timesheet import Timesheet
from trellis.goals.timekeeping.views.time_log import TimeLog
from trellis.orgchart import OrgDirectory


@dataclass
class Timekeeping:
    commands: TimesheetCommands
    time_log: TimeLog
    clock: Clock

    @classmethod
    def on(cls, runtime: Runtime, goals: Repository[Goal]) -> Timekeeping:
        """Time tracking on ``runtime`` (the goals service's), its time log hooked to the store's
        appends. Nothing else in the service uses it, and it uses nothing but the goals it
        checks entries against: the service runs the same without anyone tracking time."""
        keys = EntryKeys()
        time_log = TimeLog(registry, keys)
        runtime.store.after_append(time_log.after_append)
        timesheets = Repository(runtime.store, Timesheet)
        visible = GoalCommands(runtime.sessions, goals, OrgDirectory()).visible  # the goals' own rule
        return cls(
            TimesheetCommands(runtime.sessions, timesheets, visible, keys, runtime.clock),
            time_log,
            runtime.clock,
        )
