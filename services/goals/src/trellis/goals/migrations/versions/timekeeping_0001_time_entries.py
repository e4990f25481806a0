"""Private time tracking (``trellis.goals.timekeeping``): the time log and the entries' keys.

A branch of its own (``timekeeping``), beside the goals' read views: it depends on no goals
revision and no goals revision depends on it.

Revision ID: timekeeping_0001
Revises:
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "timekeeping_0001"
down_revision = None
branch_labels = ("timekeeping",)
depends_on = "core_0001"

When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "time_entries",
        sa.Column("entry_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("minutes", sa.Integer, nullable=False),
        sa.Column("goal_id", sa.String(64)),
        sa.Column("key_result_id", sa.String(64)),
        sa.Column("label", sa.String(80)),
        sa.Column("note", sa.String, nullable=False),
        sa.Column("logged_at", When, nullable=False),
        sa.Column("changed_at", When),
    )
    op.create_index("ix_time_entries_person_day", "time_entries", ["tenant_id", "person_id", "day"])
    op.create_table(
        "time_entry_keys",
        sa.Column("entry_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("created_at", When, nullable=False),
    )
    op.create_index("ix_time_entry_keys_person", "time_entry_keys", ["tenant_id", "person_id"])


def downgrade() -> None:
    for table in ("time_entry_keys", "time_entries"):
        op.drop_table(table)
