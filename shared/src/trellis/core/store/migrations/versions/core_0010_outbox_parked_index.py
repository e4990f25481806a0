"""``ix_outbox_parked``: the relay asks every pass whether any row is parked.

Without an index the question read every unpublished row (``parked_at`` is not in
``ix_outbox_unpublished``), so a pass over a backlog of n rows cost O(n) before it sent
anything. Parked rows are rare: the partial index holds only them.

Revision ID: core_0010
Revises: core_0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "core_0010"
down_revision = "core_0009"
branch_labels = None
depends_on = None

_PARKED = sa.text("published_at IS NULL AND parked_at IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_outbox_parked", "outbox", ["id"], sqlite_where=_PARKED, postgresql_where=_PARKED)


def downgrade() -> None:
    op.drop_index("ix_outbox_parked", "outbox")
