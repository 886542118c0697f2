"""Regional rollups folded off the intake transaction (issue 12): `rollup_pending` holds one
row per batch whose reductions are not yet in the rollups. Nothing to backfill: until this
revision the rollups were written in the batches' own transactions.

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from tanpuhui.adapters.db.types import UTCDateTime

revision = "0015"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_pending",
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("batch_id", sa.Uuid, nullable=False),
        sa.Column("queued_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("shard", "batch_id", name=op.f("pk_rollup_pending")),
    )


def downgrade() -> None:
    op.drop_table("rollup_pending")
