"""Lineage by reduction (issue 11): re-quantification looks up who holds a reduction
(`SqlMarket.holders_of`); the lineage rows' key starts with the holder, so that read scanned
the whole table. One index on the reduction id.

Revision ID: 0017
Revises: 0010
Create Date: 2026-12-02
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_holding_deltas_reduction_id"), "holding_deltas", ["reduction_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_holding_deltas_reduction_id"), table_name="holding_deltas")
