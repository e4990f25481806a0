"""Time tracking's HTTP API: the caller's own timesheet (``/v1/timesheet``)."""

from __future__ import annotations

from trellis.goals.timekeeping.api.timesheet import router

__all__ = ["router"]
