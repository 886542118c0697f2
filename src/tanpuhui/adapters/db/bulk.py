"""Set-based writes and reads: one statement per batch, whatever the engine.

PostgreSQL: rows go in with binary COPY (psycopg adapts UUIDs, aware datetimes and dates
natively); lists of keys are passed as one array parameter (`= ANY(:keys)`), not as thousands of
bind parameters. SQLite: one `executemany` of a prepared INSERT inside the caller's
transaction, with values converted to SQLAlchemy's SQLite storage formats (a test checks that
rows written here read back through Core exactly).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from tanpuhui.adapters.db.types import UTCDateTime

_PG_TYPES: list[tuple[type[Any], str]] = [
    (UTCDateTime, "timestamptz"),
    (sa.Uuid, "uuid"),
    (sa.BigInteger, "int8"),
    (sa.SmallInteger, "int2"),  # before Integer, its base class (shard columns)
    (sa.Integer, "int4"),
    (sa.Boolean, "bool"),
    (sa.Date, "date"),
    (sa.LargeBinary, "bytea"),
    (sa.Text, "text"),
]


def _pg_type(column: sa.Column[Any]) -> str:
    for python_type, name in _PG_TYPES:
        if isinstance(column.type, python_type):
            return name
    raise TypeError(f"no COPY type for {column}")


def _sqlite_uuid(value: Any) -> str:
    return value.hex  # type: ignore[no-any-return]


def _sqlite_datetime(value: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME storage format, in UTC (see types.UTCDateTime)
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_date(value: date) -> str:
    return value.isoformat()


_SQLITE_CONVERTERS: list[tuple[type[Any], Callable[[Any], Any] | None]] = [
    (UTCDateTime, _sqlite_datetime),
    (sa.Uuid, _sqlite_uuid),
    (sa.Date, _sqlite_date),
    (sa.Boolean, int),
    (sa.BigInteger, None),
    (sa.Integer, None),
    (sa.LargeBinary, None),
    (sa.Text, None),
]


def _sqlite_converter(column: sa.Column[Any]) -> Callable[[Any], Any] | None:
    for python_type, convert in _SQLITE_CONVERTERS:
        if isinstance(column.type, python_type):
            return convert
    raise TypeError(f"no SQLite conversion for {column}")


def insert_rows(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert `rows` (tuples in `columns` order) into `table` in one bulk operation.

    Values are Python values as the table's types take them (aware datetimes, UUIDs, dates);
    they are stored exactly as SQLAlchemy would store them.
    """
    if not rows:
        return
    cols = [table.c[name] for name in columns]
    if conn.dialect.name == "postgresql":
        names = ", ".join(f'"{c.name}"' for c in cols)
        raw = conn.connection.driver_connection
        assert raw is not None
        statement = f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)"
        try:
            with raw.cursor() as cursor, cursor.copy(statement) as copy:
                copy.set_types([_pg_type(c) for c in cols])
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as exc:
            # COPY goes around SQLAlchemy: give its errors SQLAlchemy's shape, so a lost
            # uniqueness race is recognised (and retried) like any other
            raise sa.exc.DBAPIError.instance(
                statement, None, exc, psycopg.Error, dialect=conn.dialect
            ) from exc
        return
    convert = [(i, f) for i, c in enumerate(cols) if (f := _sqlite_converter(c)) is not None]

    def stored(row: Sequence[Any]) -> tuple[Any, ...]:
        values = list(row)
        for i, f in convert:
            value = values[i]
            if value is not None:
                values[i] = f(value)
        return tuple(values)

    sql = (
        f"INSERT INTO {table.name} ({', '.join(c.name for c in cols)}) "
        f"VALUES ({', '.join('?' for _ in cols)})"
    )
    conn.exec_driver_sql(sql, [stored(row) for row in rows])


def any_of(
    conn: sa.Connection, column: sa.ColumnElement[Any], values: Iterable[Any]
) -> sa.ColumnElement[bool]:
    """`column IN values` as one array parameter on PostgreSQL, an IN list on SQLite."""
    values = list(values)
    if conn.dialect.name == "postgresql":
        param = sa.bindparam(None, values, type_=postgresql.ARRAY(column.type))
        return column == sa.any_(param)
    return column.in_(values)


def in_shards(
    conn: sa.Connection, column: sa.ColumnElement[Any], shards: Iterable[int]
) -> sa.ColumnElement[bool]:
    """`column IN shards` on PostgreSQL, where it prunes the partitions a lookup reads (and
    routes it on Citus); nothing on SQLite, which has no partitions: there the key alone finds
    the row, and a second IN list over one index would multiply the lookups it makes."""
    if conn.dialect.name == "postgresql":
        return any_of(conn, column, sorted(set(shards)))
    return sa.true()


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def fetch_tuples(conn: sa.Connection, statement: sa.Select[Any]) -> list[tuple[Any, ...]]:
    """Run a SELECT and return plain tuples. On PostgreSQL it goes straight to the driver
    (psycopg builds UUIDs, UTC datetimes and dates itself; SQLAlchemy's per-row machinery
    would cost more than the query); on SQLite through Core, whose types parse the text."""
    if conn.dialect.name != "postgresql":
        return [tuple(row) for row in conn.execute(statement)]
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:
        cursor.execute(compiled.string, compiled.params, prepare=False)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows
