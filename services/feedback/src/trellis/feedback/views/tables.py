"""Read-view tables of the feedback service (built by projections from the service's stream).

None of them holds confidential text: private events (feedback bodies, check-in notes,
review answers) never reach the stream, so no projection ever sees them. The API reads
those from the service's own event store, for exactly the people allowed.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Column, Date, DateTime, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()
When = DateTime(timezone=True)  # stored in UTC


def aware(value: dt.datetime) -> dt.datetime:
    """A stored time as an aware UTC datetime (SQLite hands them back naive)."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


checkin_schedules = Table(
    "checkin_schedules",
    metadata,
    Column("schedule_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("manager_id", String(64), nullable=False),
    Column("report_id", String(64), nullable=False),
    Column("cadence", String(20), nullable=False),
    Column("weekday", Integer, nullable=False),
    Column("time_of_day", String(5), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("grace_hours", Integer, nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("status", String(20), nullable=False),  # active | ended
    Column("end_reason", String(500), nullable=False, default=""),
    Index("ix_checkin_schedules_manager", "tenant_id", "manager_id"),
    Index("ix_checkin_schedules_report", "tenant_id", "report_id"),
)

checkins = Table(
    "checkins",
    metadata,
    Column("checkin_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("schedule_id", String(64), nullable=False),
    Column("manager_id", String(64), nullable=False),
    Column("report_id", String(64), nullable=False),
    Column("due_at", When, nullable=False),
    Column("grace_until", When, nullable=False),
    Column("status", String(20), nullable=False),  # scheduled | completed | missed | cancelled
    Column("was_missed", Boolean, nullable=False, default=False),
    Column("late", Boolean, nullable=False, default=False),
    Column("consecutive_misses", Integer, nullable=False, default=0),
    Column("confidence", Integer),
    Column("completed_at", When),
    Index("ix_checkins_due", "tenant_id", "due_at"),
    Index("ix_checkins_manager", "tenant_id", "manager_id"),
    Index("ix_checkins_report", "tenant_id", "report_id"),
)

# Action items of 1:1 agendas, without their text (it is in a private event): who owns
# them, when they are due, whether done; "my action items" finds them here.
action_items = Table(
    "action_items",
    metadata,
    Column("action_item_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("schedule_id", String(64), nullable=False),
    Column("owner_id", String(64), nullable=False),
    Column("assigned_by", String(64), nullable=False),
    Column("checkin_id", String(64)),
    Column("due_on", Date),
    Column("status", String(20), nullable=False),  # open | done
    Column("overdue", Boolean, nullable=False, default=False),
    Column("assigned_at", When, nullable=False),
    Column("completed_at", When),
    Index("ix_action_items_owner", "tenant_id", "owner_id"),
    Index("ix_action_items_schedule", "tenant_id", "schedule_id"),
)

# giver_id is NULL for anonymous feedback: nothing here can name its giver.
feedback_items = Table(
    "feedback_items",
    metadata,
    Column("feedback_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("recipient_id", String(64), nullable=False),
    Column("giver_id", String(64)),
    Column("anonymous", Boolean, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("visibility", String(20), nullable=False),
    Column("goal_id", String(64)),
    Column("request_id", String(64)),
    Column("given_at", When, nullable=False),
    Index("ix_feedback_items_recipient", "tenant_id", "recipient_id"),
    Index("ix_feedback_items_giver", "tenant_id", "giver_id"),
    Index("ix_feedback_items_goal", "tenant_id", "goal_id"),
)

feedback_requests = Table(
    "feedback_requests",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("requester_id", String(64), nullable=False),
    Column("giver_id", String(64), nullable=False),
    Column("about_id", String(64), nullable=False),
    Column("goal_id", String(64)),
    Column("message", Text, nullable=False),
    Column("status", String(20), nullable=False),  # open | declined | answered
    Column("feedback_id", String(64)),
    Column("requested_at", When, nullable=False),
    Index("ix_feedback_requests_giver", "tenant_id", "giver_id"),
    Index("ix_feedback_requests_requester", "tenant_id", "requester_id"),
)

recognitions = Table(
    "recognitions",
    metadata,
    Column("recognition_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("giver_id", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("objective_id", String(64)),
    Column("value", String(100)),
    Column("given_at", When, nullable=False),
    Index("ix_recognitions_tenant", "tenant_id", "recognition_id"),
)

recognition_recipients = Table(
    "recognition_recipients",
    metadata,
    Column("recognition_id", String(64), primary_key=True),
    Column("recipient_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Index("ix_recognition_recipients_recipient", "tenant_id", "recipient_id"),
)

review_cycles = Table(
    "review_cycles",
    metadata,
    Column("cycle_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("name", String(300), nullable=False),
    Column("period", String(50), nullable=False),
    Column("team_id", String(64)),
    Column("deadline", When, nullable=False),
    Column("status", String(20), nullable=False),  # open | closed
    Column("closed_by", String(20)),
    Column("opened_at", When, nullable=False),
    Index("ix_review_cycles_tenant", "tenant_id", "cycle_id"),
)

review_assignments = Table(
    "review_assignments",
    metadata,
    Column("cycle_id", String(64), primary_key=True),
    Column("review_id", String(200), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("reviewer_id", String(64), nullable=False),
    Column("submitted_at", When),
    Index("ix_review_assignments_reviewer", "tenant_id", "reviewer_id"),
)
