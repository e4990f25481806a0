"""The outbox parks rows it can never publish: ``outbox.parked_at``.

A row NATS will always refuse (bigger than the server's max_payload, a subject no stream
captures) is parked instead of retried for ever; later rows of its aggregate wait behind
it until an operator retries or drops it (``trellis outbox dead | retry | drop``).

Revision ID: core_0007
Revises: core_0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "core_0007"
down_revision = "core_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("parked_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("parked_at")
