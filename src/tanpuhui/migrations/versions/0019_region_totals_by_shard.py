"""Regional totals striped by shard (issue 10): `region_totals` had one row per (region,
group, day) that every batch of that region and day updated, so with the log heads no longer
held to commit, concurrent batches queued on these rows instead (31.9% of backend time at 4
workers, 56.4% at 8 — docs/performance.md). A writer now adds to the rows of one shard of its
own choosing (`SqlIntake.add_region_totals`), readers sum the shards: two writers share a row
only when they pick the same shard, and the table distributes by `shard` like the balances of
an issuance account. Existing totals move to shard 0.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.rename_table("region_totals", "region_totals_old")
    if op.get_bind().dialect.name == "postgresql":  # its key's index name is schema-wide
        op.execute(
            "ALTER TABLE region_totals_old RENAME CONSTRAINT pk_region_totals"
            " TO pk_region_totals_old"
        )
    op.create_table(
        "region_totals",
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("group_code", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("grams", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("shard", "region", "group_code", "day", name="pk_region_totals"),
    )
    op.execute(
        "INSERT INTO region_totals (shard, region, group_code, day, grams) "
        "SELECT 0, region, group_code, day, grams FROM region_totals_old"
    )
    op.drop_table("region_totals_old")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")
