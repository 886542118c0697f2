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

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

#: the rebuild as `aggregates_repository.rebuild_level_statements(persons=False)` wrote it
#: when this migration was written (frozen: later changes of that code must not change this)
REBUILD = (
    ("DELETE FROM region_levels"),
    (
        "INSERT INTO region_levels (shard, period, level, region, group_code, grams, events, "
        "persons) SELECT 0, period, level, region, group_code, sum(grams), sum(events), "
        "sum(persons) FROM (SELECT f.period, v.level, CASE v.level WHEN 0 THEN '' WHEN 1 THEN "
        "substr(f.region, 1, 2) || '0000' WHEN 2 THEN substr(f.region, 1, 4) || '00' ELSE "
        "f.region END AS region, CASE v.all_groups WHEN 1 THEN '' ELSE f.group_code END AS "
        "group_code, f.grams, f.events, 0 AS persons FROM region_rollups AS f CROSS JOIN "
        "(SELECT 0 AS level, 1 AS all_groups UNION ALL SELECT 0, 0 UNION ALL SELECT 1, 1 UNION "
        "ALL SELECT 1, 0 UNION ALL SELECT 2, 1 UNION ALL SELECT 2, 0 UNION ALL SELECT 3, 1) AS "
        "v WHERE length(f.period) < 10 UNION ALL SELECT period, level, region, group_code, 0, "
        "0, 1 FROM person_levels UNION ALL SELECT period, 3, region, '', 0, 0, 1 FROM "
        "person_regions WHERE length(period) < 10) AS x GROUP BY period, level, region, "
        "group_code"
    ),
)


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
    for statement in REBUILD:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")
