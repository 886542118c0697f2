"""Coarse rollups of counties (issue 12): `region_levels` gets level 3, the code as recorded,
over all groups, its persons counted by the first-seen rows per region (`person_regions`)
the fine reads use already — no new first-seen rows at intake. A county's own figures were
a few fine rows, but every county query also asks whether its city's breakdown by county
suppresses it, and that breakdown read every fine cell of the city (the slowest query of
`bench regions` at 10 M reductions, docs/performance.md). The coarse rows are rebuilt from
the fine ones; `person_levels` is unchanged.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from tanpuhui.adapters.db.aggregates_repository import rebuild_level_statements

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE region_levels DROP CONSTRAINT ck_region_levels_level_known, "
            "ADD CONSTRAINT ck_region_levels_level_known CHECK (level IN (0, 1, 2, 3))"
        )
    else:  # SQLite cannot alter a CHECK; the rows are rebuilt below anyway
        op.drop_table("region_levels")
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
            sa.CheckConstraint("level IN (0, 1, 2, 3)", name=op.f("ck_region_levels_level_known")),
            sa.PrimaryKeyConstraint(
                "period", "level", "region", "group_code", "shard", name=op.f("pk_region_levels")
            ),
            sqlite_with_rowid=False,
        )
    for statement in rebuild_level_statements(persons=False):
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")
