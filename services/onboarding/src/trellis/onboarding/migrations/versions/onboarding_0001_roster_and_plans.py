"""The onboarding service's own tables: the roster (command side) and the plan read views.

Revision ID: onboarding_0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "onboarding_0001"
down_revision = None
branch_labels = ("onboarding",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "email_reservations",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("employee_id", sa.String(64), nullable=False),
    )
    op.create_table(
        "direct_reports",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("employee_id", sa.String(64), primary_key=True),
        sa.Column("manager_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_direct_reports_manager", "direct_reports", ["tenant_id", "manager_id"])
    op.create_table(
        "plan_summaries",
        sa.Column("plan_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("employee_id", sa.String(64), nullable=False),
        sa.Column("manager_id", sa.String(64)),
        sa.Column("mentor_id", sa.String(64)),
        sa.Column("team_id", sa.String(64)),
        sa.Column("template_id", sa.String(64)),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("completed_on", sa.Date),
    )
    op.create_index("ix_plan_summaries_employee", "plan_summaries", ["tenant_id", "employee_id"])
    op.create_index("ix_plan_summaries_mentor", "plan_summaries", ["tenant_id", "mentor_id"])
    op.create_table(
        "plan_milestones",
        sa.Column("plan_id", sa.String(64), primary_key=True),
        sa.Column("milestone_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("employee_id", sa.String(64), nullable=False),
        sa.Column("team_id", sa.String(64)),
        sa.Column("template_id", sa.String(64)),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("assignee", sa.String(20), nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("completed_on", sa.Date),
        sa.Column("completed_by", sa.String(64)),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("missed", sa.Boolean, nullable=False),
        sa.Column("was_missed", sa.Boolean, nullable=False),
    )
    op.create_index("ix_plan_milestones_employee", "plan_milestones", ["tenant_id", "employee_id"])
    op.create_index("ix_plan_milestones_team", "plan_milestones", ["tenant_id", "team_id"])
    op.create_index("ix_plan_milestones_template", "plan_milestones", ["tenant_id", "template_id"])
    op.create_table(
        "template_summaries",
        sa.Column("template_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("milestones", sa.Integer, nullable=False),
        sa.Column("retired", sa.Boolean, nullable=False),
    )
    op.create_index("ix_template_summaries_tenant", "template_summaries", ["tenant_id"])


def downgrade() -> None:
    for table in (
        "template_summaries",
        "plan_milestones",
        "plan_summaries",
        "direct_reports",
        "email_reservations",
    ):
        op.drop_table(table)
