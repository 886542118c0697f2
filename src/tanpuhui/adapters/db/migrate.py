"""Schema migrations: Alembic, configured in code (the scripts live in `tanpuhui.migrations`)."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", "tanpuhui:migrations")
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def shard_tables() -> list[str]:
    """The tables marked `distribution: shard` in the schema (domain/shards.py), in dependency
    order (a referenced table before the tables that refer to it)."""
    from tanpuhui.adapters.db.schema import metadata

    return [t.name for t in metadata.sorted_tables if t.info.get("distribution") == "shard"]


def partition_shard_tables(engine: Engine, partitions: int) -> list[str]:
    """Convert every shard-marked table that is still a plain table into one
    `PARTITION BY HASH (shard)` with `partitions` partitions, keeping its rows, columns,
    defaults, keys, checks, indexes, triggers and the foreign keys to and from it; returns the
    tables converted (none when all are partitioned already, so it runs after every upgrade).

    Generic: it reads each table's definition from the PostgreSQL catalogue, so a table a later
    migration adds is converted as soon as schema.py marks it. A table whose primary or unique
    key lacks `shard` fails here, as it would on Citus. One transaction: all or nothing."""
    if engine.dialect.name != "postgresql":
        raise ValueError("hash partitions are a PostgreSQL layout")
    if partitions < 2:
        raise ValueError("a partitioned layout has at least 2 partitions")
    from tanpuhui.adapters.db.schema import metadata

    # a shard-marked table without the column is not keyed yet (docs/scaling.md): left plain
    wanted = [name for name in shard_tables() if "shard" in metadata.tables[name].c]
    with engine.begin() as conn:
        kinds: dict[str, str] = dict(
            conn.exec_driver_sql(
                "SELECT relname, relkind FROM pg_class"
                " WHERE relnamespace = current_schema()::regnamespace AND relname = ANY(%(names)s)",
                {"names": wanted},
            ).all()
        )
        todo = [name for name in wanted if kinds.get(name) == "r"]
        if not todo:
            return []
        serial = (
            conn.exec_driver_sql(
                "SELECT d.refobjid::regclass::text FROM pg_depend d JOIN pg_class s"
                " ON s.oid = d.objid AND s.relkind = 'S'"
                " WHERE d.refobjid::regclass::text = ANY(%(t)s) AND d.deptype IN ('a', 'i')",
                {"t": todo},
            )
            .scalars()
            .all()
        )
        if serial:
            raise ValueError(f"shard tables with a sequence: {', '.join(sorted(set(serial)))}")
        # the foreign keys from or to a converted table: dropped first, added back at the end
        foreign = conn.exec_driver_sql(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE contype = 'f' AND conparentid = 0"
            " AND (conrelid::regclass::text = ANY(%(t)s)"
            " OR confrelid::regclass::text = ANY(%(t)s))",
            {"t": todo},
        ).all()
        for table, name, _ in foreign:
            conn.exec_driver_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        for table in todo:
            _partition(conn, table, partitions)
        for table, name, definition in foreign:
            _ddl(conn, f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
        for table in todo:
            conn.exec_driver_sql(f'ANALYZE "{table}"')
    return todo


def _partition(conn: Any, table: str, partitions: int) -> None:
    oid = conn.exec_driver_sql("SELECT %(t)s::regclass::oid", {"t": f'"{table}"'}).scalar_one()
    constraints = conn.exec_driver_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %(oid)s AND contype IN ('p', 'u', 'c', 'x')"
        " ORDER BY contype = 'p' DESC, conname",
        {"oid": oid},
    ).all()
    indexes = (
        conn.exec_driver_sql(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %(oid)s"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid"
            " AND c.conrelid = %(oid)s)",
            {"oid": oid},
        )
        .scalars()
        .all()
    )
    triggers = (
        conn.exec_driver_sql(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger"
            " WHERE tgrelid = %(oid)s AND NOT tgisinternal",
            {"oid": oid},
        )
        .scalars()
        .all()
    )
    new = f"{table}__partitioned"
    conn.exec_driver_sql(
        f'CREATE TABLE "{new}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING GENERATED'
        " INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMMENTS) PARTITION BY HASH (shard)"
    )
    for i in range(partitions):
        conn.exec_driver_sql(
            f'CREATE TABLE "{table}_p{i}" PARTITION OF "{new}"'
            f" FOR VALUES WITH (MODULUS {partitions}, REMAINDER {i})"
        )
    conn.exec_driver_sql(f'INSERT INTO "{new}" SELECT * FROM "{table}"')
    conn.exec_driver_sql(f'DROP TABLE "{table}"')
    conn.exec_driver_sql(f'ALTER TABLE "{new}" RENAME TO "{table}"')
    for name, definition in constraints:
        _ddl(conn, f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    for statement in [*indexes, *triggers]:
        _ddl(conn, statement)


def _ddl(conn: Any, statement: str) -> None:
    """A statement read back from the catalogue: its `%` are literal (LIKE patterns)."""
    conn.exec_driver_sql(statement.replace("%", "%%"))


#: The distributed table every other shard table is co-located with (Citus `colocate_with`).
COLOCATION_ROOT = "ledger_entries"


def citus_ddl(shard_count: int = 32) -> list[str]:
    """The statements that distribute the migrated schema on Citus, from the schema's markings:
    reference tables first (in dependency order: Citus distributes a table only once the
    tables its foreign keys refer to are distributed), then every shard table by `shard`,
    co-located with `ledger_entries` so that rows of one logical shard live on one node and
    the foreign keys between shard tables hold there. Refuses an unmarked table."""
    from tanpuhui.adapters.db.schema import metadata

    unmarked = [t.name for t in metadata.sorted_tables if "distribution" not in t.info]
    if unmarked:
        raise ValueError(f"tables without a distribution marking: {', '.join(unmarked)}")
    reference = [t.name for t in metadata.sorted_tables if t.info["distribution"] == "reference"]
    keyed = [name for name in shard_tables() if "shard" in metadata.tables[name].c]
    keyed.sort(key=lambda name: name != COLOCATION_ROOT)  # the root first, order kept
    statements = [f"SET citus.shard_count = {shard_count}"]
    statements += [f"SELECT create_reference_table('{name}')" for name in reference]
    statements += [
        f"SELECT create_distributed_table('{name}', 'shard'"
        + (")" if name == COLOCATION_ROOT else f", colocate_with => '{COLOCATION_ROOT}')")
        for name in keyed
    ]
    # person-scoped tables not keyed by shard yet (docs/scaling.md): named, not distributed;
    # they stay local tables on the coordinator
    statements += [
        f"-- '{name}' is not distributable yet: it has no shard column (docs/scaling.md)"
        for name in shard_tables()
        if name not in keyed
    ]
    return statements


def partition_names(conn: Any) -> set[str]:
    """The partitions of the hash-partitioned layout (none on SQLite or a plain layout): the
    tables the schema does not name, which schema comparisons skip."""
    if conn.dialect.name != "postgresql":
        return set()
    return set(
        conn.exec_driver_sql(
            "SELECT relname FROM pg_class WHERE relispartition AND relkind IN ('r', 'p')"
            " AND relnamespace = current_schema()::regnamespace"
        ).scalars()
    )
