"""Private time tracking: a bounded context of its own, hosted by the goals service's process.

An employee logs where their time goes (a day, minutes, on a goal, a key result or a free
label, with a note), edits and deletes their entries, sees them summed per ISO week, goal
and label, exports them as CSV, and can erase them all at once. Only they ever read them.

Why it lives here: entries are logged against goals and key results, which this service
knows (an entry's goal must exist in the person's tenant and be one they may see, checked
against the goal itself, not a replica that lags); and every one of its events is private
(``trellis.contracts.timekeeping``: never on the stream), so hosting it adds nothing to the
goals service's published surface. A service of its own would need its own replica of the
goals, and a stream it must never use.

It depends on the goals (``domain/goal.py``, the goal views for titles) and nothing in the
goals service depends on it: tracking time is optional, nothing reads it, no KPI counts it.

- ``domain/``: the ``Timesheet`` aggregate (a day at most 1440 minutes), what an entry may be on
- ``application/``: the command handlers, the entry keys that seal the text in the events
- ``views/``: the time log (written in the appending transaction), its queries, the CSV
- ``api/``: ``/v1/timesheet``, the caller's own and nobody else's
"""
