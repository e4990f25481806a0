"""1:1 agendas: the action items read view (owner, due date, status; never their text).

Revision ID: feedback_0002
Revises: feedback_0001
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = "feedback_0002"
down_revision = "feedback_0001"
branch_labels = None
depends_on = None

Id = sa.String(64)
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "action_items",
        sa.Column("action_item_id", Id, primary_key=True),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("schedule_id", Id, nullable=False),
        sa.Column("owner_id", Id, nullable=False),
        sa.Column("assigned_by", Id, nullable=False),
        sa.Column("checkin_id", Id),
        sa.Column("due_on", sa.Date),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("overdue", sa.Boolean, nullable=False),
        sa.Column("assigned_at", When, nullable=False),
        sa.Column("completed_at", When),
    )
    op.create_index("ix_action_items_owner", "action_items", ["tenant_id", "owner_id"])
    op.create_index("ix_action_items_schedule", "action_items", ["tenant_id", "schedule_id"])


def downgrade() -> None:
    op.drop_table("action_items")
