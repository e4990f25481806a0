"""People's development: the live-enrolment slots (command side) and the read views of the
training catalogue, enrolments and mentorships (``DevelopmentRecords``).

Revision ID: onboarding_0002
Revises: onboarding_0001
Create Date: 2026-12-20
"""

import sqlalchemy as sa
from alembic import op

revision = "onboarding_0002"
down_revision = "onboarding_0001"
branch_labels = None
depends_on = None

When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "live_enrolments",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("employee_id", sa.String(64), primary_key=True),
        sa.Column("training_id", sa.String(64), primary_key=True),
        sa.Column("enrolment_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_live_enrolments_enrolment", "live_enrolments", ["tenant_id", "enrolment_id"])
    op.create_table(
        "trainings",
        sa.Column("training_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("url", sa.String(2000)),
        sa.Column("skills", sa.JSON, nullable=False),
        sa.Column("duration_minutes", sa.Integer),
        sa.Column("retired", sa.Boolean, nullable=False),
    )
    op.create_index("ix_trainings_tenant", "trainings", ["tenant_id", "title"])
    op.create_table(
        "training_skills",
        sa.Column("training_id", sa.String(64), primary_key=True),
        sa.Column("skill", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_training_skills_skill", "training_skills", ["tenant_id", "skill"])
    op.create_table(
        "training_enrolments",
        sa.Column("enrolment_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("training_id", sa.String(64), nullable=False),
        sa.Column("training_title", sa.String(300), nullable=False),
        sa.Column("employee_id", sa.String(64), nullable=False),
        sa.Column("team_id", sa.String(64)),
        sa.Column("enrolled_by", sa.String(64), nullable=False),
        sa.Column("enrolled_on", sa.Date, nullable=False),
        sa.Column("enrolled_at", When, nullable=False),
        sa.Column("target_date", sa.Date, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("completed_on", sa.Date),
        sa.Column("on_time", sa.Boolean),
        sa.Column("withdrawn_on", sa.Date),
        sa.Column("plan_id", sa.String(64)),
        sa.Column("milestone_id", sa.String(64)),
    )
    op.create_index("ix_training_enrolments_employee", "training_enrolments", ["tenant_id", "employee_id"])
    op.create_index("ix_training_enrolments_training", "training_enrolments", ["tenant_id", "training_id"])
    op.create_index(
        "ix_training_enrolments_order", "training_enrolments", ["tenant_id", "enrolled_at", "enrolment_id"]
    )
    op.create_table(
        "mentorships",
        sa.Column("mentorship_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("mentor_id", sa.String(64), nullable=False),
        sa.Column("mentee_id", sa.String(64), nullable=False),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date, nullable=False),
        sa.Column("objectives", sa.JSON, nullable=False),
        sa.Column("goal_ids", sa.JSON, nullable=False),
        sa.Column("ended_on", sa.Date),
        sa.Column("arranged_at", When, nullable=False),
    )
    op.create_index("ix_mentorships_mentor", "mentorships", ["tenant_id", "mentor_id"])
    op.create_index("ix_mentorships_mentee", "mentorships", ["tenant_id", "mentee_id"])
    op.create_index("ix_mentorships_order", "mentorships", ["tenant_id", "arranged_at", "mentorship_id"])


def downgrade() -> None:
    for table in ("mentorships", "training_enrolments", "training_skills", "trainings", "live_enrolments"):
        op.drop_table(table)
