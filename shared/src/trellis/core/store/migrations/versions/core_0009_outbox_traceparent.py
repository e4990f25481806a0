"""``outbox.traceparent``: the W3C trace context of the append, sent as a NATS header so
that consumers continue the trace (``core/tracing.py``).

Revision ID: core_0009
Revises: core_0008
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "core_0009"
down_revision = "core_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(55)))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("traceparent")
