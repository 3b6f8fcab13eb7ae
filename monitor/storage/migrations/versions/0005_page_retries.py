"""articles: when a page that failed for a transient reason is fetched again

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("page_retries", sa.Integer(), nullable=False, server_default="0")
        )
        batch.create_index("ix_articles_retry_at", ["retry_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.drop_index("ix_articles_retry_at")
        batch.drop_column("page_retries")
        batch.drop_column("retry_at")
