"""Webhook signing secrets are stored sealed (a Fernet token, ``webhooks/secret_box.py``):
``webhook_secrets.secret`` becomes text. Rows written before are sealed when the delivery
worker starts.

Revision ID: notifications_0002
Revises: notifications_0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "notifications_0002"
down_revision = "notifications_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_secrets") as batch:
        batch.alter_column("secret", type_=sa.Text(), existing_type=sa.String(200), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_secrets") as batch:
        batch.alter_column("secret", type_=sa.String(200), existing_type=sa.Text(), existing_nullable=False)
