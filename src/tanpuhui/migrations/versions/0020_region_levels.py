"""Coarse regional rollups (issue 12): per (period, region level, code, group) grams,
reductions and a persons counter (`region_levels`) fed by first-seen rows per level
(`person_levels`), so a nation, province or city query reads a few rows, not every fine cell
under it (docs/performance.md, "Regional aggregates"). Built here from the fine rollups and
their first-seen rows. The fine rollups are written per stripe from now on (a writer's own
stripe, not the holder's shard); rows already written keep their shard numbers as stripes.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from tanpuhui.adapters.db.aggregates_repository import rebuild_level_statements

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "region_levels",
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("group_code", sa.Text(), nullable=False),
        sa.Column("grams", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("persons", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("level IN (0, 1, 2)", name=op.f("ck_region_levels_level_known")),
        sa.PrimaryKeyConstraint(
            "period", "level", "region", "group_code", "shard", name=op.f("pk_region_levels")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "person_levels",
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("group_code", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "period",
            "level",
            "region",
            "group_code",
            "holder",
            "shard",
            name=op.f("pk_person_levels"),
        ),
        sqlite_with_rowid=False,
    )
    for statement in rebuild_level_statements(counties=False):  # level 3 came with 0021
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")
