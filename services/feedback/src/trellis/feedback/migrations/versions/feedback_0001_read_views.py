"""The feedback service's read views and the write side's check-in schedule index.

Revision ID: feedback_0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "feedback_0001"
down_revision = None
branch_labels = ("feedback",)
depends_on = "core_0001"

When = sa.DateTime(timezone=True)
Id = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "checkin_schedule_index",
        sa.Column("schedule_id", Id, primary_key=True),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("manager_id", Id, nullable=False),
        sa.Column("report_id", Id, nullable=False),
        sa.Column("next_due_key", sa.String(300)),
        sa.Column("consecutive_misses", sa.Integer, nullable=False),
    )
    op.create_index(
        "ux_checkin_schedule_index_report", "checkin_schedule_index", ["tenant_id", "report_id"], unique=True
    )
    op.create_index(
        "ix_checkin_schedule_index_manager", "checkin_schedule_index", ["tenant_id", "manager_id"]
    )

    op.create_table(
        "checkin_schedules",
        sa.Column("schedule_id", Id, primary_key=True),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("manager_id", Id, nullable=False),
        sa.Column("report_id", Id, nullable=False),
        sa.Column("cadence", sa.String(20), nullable=False),
        sa.Column("weekday", sa.Integer, nullable=False),
        sa.Column("time_of_day", sa.String(5), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("grace_hours", sa.Integer, nullable=False),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("end_reason", sa.String(500), nullable=False),
    )
    op.create_index("ix_checkin_schedules_manager", "checkin_schedules", ["tenant_id", "manager_id"])
    op.create_index("ix_checkin_schedules_report", "checkin_schedules", ["tenant_id", "report_id"])

    op.create_table(
        "checkins",
        sa.Column("checkin_id", Id, primary_key=True),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("schedule_id", Id, nullable=False),
        sa.Column("manager_id", Id, nullable=False),
        sa.Column("report_id", Id, nullable=False),
        sa.Column("due_at", When, nullable=False),
        sa.Column("grace_until", When, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("was_missed", sa.Boolean, nullable=False),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("consecutive_misses", sa.Integer, nullable=False),
        sa.Column("confidence", sa.Integer),
        sa.Column("completed_at", When),
    )
    op.create_index("ix_checkins_due", "checkins", ["tenant_id", "due_at"])
    op.create_index("ix_checkins_manager", "checkins", ["tenant_id", "manager_id"])
    op.create_index("ix_checkins_report", "checkins", ["tenant_id", "report_id"])

    op.create_table(
        "feedback_items",
        sa.Column("feedback_id", Id, primary_key=True),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("recipient_id", Id, nullable=False),
        sa.Column("giver_id", Id),
        sa.Column("anonymous", sa.Boolean, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("visibility", sa.String(20), nullable=False),
        sa.Column("goal_id", Id),
        sa.Column("request_id", Id),
        sa.Column("given_at", When, nullable=False),
    )
    op.create_index("ix_feedback_items_recipient", "feedback_items", ["tenant_id", "recipient_id"])
    op.create_index("ix_feedback_items_giver", "feedback_items", ["tenant_id", "giver_id"])
    op.create_index("ix_feedback_items_goal", "feedback_items", ["tenant_id", "goal_id"])

    op.create_table(
        "feedback_requests",
        sa.Column("request_id", Id, primary_key=True),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("requester_id", Id, nullable=False),
        sa.Column("giver_id", Id, nullable=False),
        sa.Column("about_id", Id, nullable=False),
        sa.Column("goal_id", Id),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("feedback_id", Id),
        sa.Column("requested_at", When, nullable=False),
    )
    op.create_index("ix_feedback_requests_giver", "feedback_requests", ["tenant_id", "giver_id"])
    op.create_index("ix_feedback_requests_requester", "feedback_requests", ["tenant_id", "requester_id"])

    op.create_table(
        "recognitions",
        sa.Column("recognition_id", Id, primary_key=True),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("giver_id", Id, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("objective_id", Id),
        sa.Column("value", sa.String(100)),
        sa.Column("given_at", When, nullable=False),
    )
    op.create_index("ix_recognitions_tenant", "recognitions", ["tenant_id", "recognition_id"])
    op.create_table(
        "recognition_recipients",
        sa.Column("recognition_id", Id, primary_key=True),
        sa.Column("recipient_id", Id, primary_key=True),
        sa.Column("tenant_id", Id, nullable=False),
    )
    op.create_index(
        "ix_recognition_recipients_recipient", "recognition_recipients", ["tenant_id", "recipient_id"]
    )

    op.create_table(
        "review_cycles",
        sa.Column("cycle_id", Id, primary_key=True),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("period", sa.String(50), nullable=False),
        sa.Column("team_id", Id),
        sa.Column("deadline", When, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("closed_by", sa.String(20)),
        sa.Column("opened_at", When, nullable=False),
    )
    op.create_index("ix_review_cycles_tenant", "review_cycles", ["tenant_id", "cycle_id"])
    op.create_table(
        "review_assignments",
        sa.Column("cycle_id", Id, primary_key=True),
        sa.Column("review_id", sa.String(200), primary_key=True),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("subject_id", Id, nullable=False),
        sa.Column("reviewer_id", Id, nullable=False),
        sa.Column("submitted_at", When),
    )
    op.create_index("ix_review_assignments_reviewer", "review_assignments", ["tenant_id", "reviewer_id"])


def downgrade() -> None:
    for table in (
        "review_assignments",
        "review_cycles",
        "recognition_recipients",
        "recognitions",
        "feedback_requests",
        "feedback_items",
        "checkins",
        "checkin_schedules",
        "checkin_schedule_index",
    ):
        op.drop_table(table)
