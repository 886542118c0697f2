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

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

#: the rebuild as `aggregates_repository.rebuild_level_statements(counties=False)` wrote it
#: when this migration was written (frozen: later changes of that code must not change this)
REBUILD = (
    ("DELETE FROM region_levels"),
    ("DELETE FROM person_levels"),
    (
        "INSERT INTO person_levels (shard, holder, period, level, region, group_code) SELECT "
        "DISTINCT f.shard, f.holder, f.period, v.level, CASE v.level WHEN 0 THEN '' WHEN 1 THEN"
        " substr(f.region, 1, 2) || '0000' WHEN 2 THEN substr(f.region, 1, 4) || '00' ELSE "
        "f.region END, CASE v.all_groups WHEN 1 THEN '' ELSE f.group_code END FROM "
        "person_activity AS f CROSS JOIN (SELECT 0 AS level, 1 AS all_groups UNION ALL SELECT "
        "0, 0 UNION ALL SELECT 1, 1 UNION ALL SELECT 1, 0 UNION ALL SELECT 2, 1 UNION ALL "
        "SELECT 2, 0) AS v WHERE length(f.period) < 10 ON CONFLICT DO NOTHING"
    ),
    (
        "INSERT INTO region_levels (shard, period, level, region, group_code, grams, events, "
        "persons) SELECT 0, period, level, region, group_code, sum(grams), sum(events), "
        "sum(persons) FROM (SELECT f.period, v.level, CASE v.level WHEN 0 THEN '' WHEN 1 THEN "
        "substr(f.region, 1, 2) || '0000' WHEN 2 THEN substr(f.region, 1, 4) || '00' ELSE "
        "f.region END AS region, CASE v.all_groups WHEN 1 THEN '' ELSE f.group_code END AS "
        "group_code, f.grams, f.events, 0 AS persons FROM region_rollups AS f CROSS JOIN "
        "(SELECT 0 AS level, 1 AS all_groups UNION ALL SELECT 0, 0 UNION ALL SELECT 1, 1 UNION "
        "ALL SELECT 1, 0 UNION ALL SELECT 2, 1 UNION ALL SELECT 2, 0) AS v WHERE "
        "length(f.period) < 10 UNION ALL SELECT period, level, region, group_code, 0, 0, 1 FROM"
        " person_levels ) AS x GROUP BY period, level, region, group_code"
    ),
)


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
    for statement in REBUILD:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")
