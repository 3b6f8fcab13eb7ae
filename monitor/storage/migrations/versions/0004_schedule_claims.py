"""schedule claims for several schedulers; index for the daily entry cap

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_claims",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_schedule_claims")),
    )
    with op.batch_alter_table("entries") as batch:
        batch.create_index("ix_entries_feed_id_seen_at", ["feed_id", "seen_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.drop_index("ix_entries_feed_id_seen_at")
    op.drop_table("schedule_claims")
