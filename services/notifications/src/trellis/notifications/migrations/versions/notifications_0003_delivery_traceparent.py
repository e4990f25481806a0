"""``webhook_deliveries.traceparent``: the trace of the event a delivery carries, continued
by its attempts and sent to the subscriber (``core/tracing.py``).

Revision ID: notifications_0003
Revises: notifications_0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "notifications_0003"
down_revision = "notifications_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(55)))


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("traceparent")
