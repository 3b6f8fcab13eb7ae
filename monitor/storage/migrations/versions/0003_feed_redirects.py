"""feeds: permanent redirect counter and the confirmed new address

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("redirect_target", sa.String(length=2048), nullable=True))
        batch.add_column(
            sa.Column("redirect_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("moved_to", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("moved_to")
        batch.drop_column("redirect_count")
        batch.drop_column("redirect_target")
