"""Set-based writes and reads: one statement per batch, whatever the engine.

PostgreSQL: rows go in with binary COPY; lists of keys are passed as one array parameter
(`= ANY(:keys)`), not as thousands of bind parameters. SQLite: one `executemany` of a prepared
INSERT inside the caller's transaction. Values pass through the columns' own SQLAlchemy type
processing, so a row written here reads back exactly as one written through Core.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from tanpuhui.adapters.db.types import UTCDateTime

_PG_TYPES: list[tuple[type[Any], str]] = [
    (UTCDateTime, "timestamptz"),
    (sa.Uuid, "uuid"),
    (sa.BigInteger, "int8"),
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


def insert_rows(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert `rows` (tuples in `columns` order) into `table` in one bulk operation."""
    if not rows:
        return
    cols = [table.c[name] for name in columns]
    dialect = conn.dialect
    processors: list[Callable[[Any], Any] | None] = [c.type.bind_processor(dialect) for c in cols]
    if dialect.name == "postgresql":
        names = ", ".join(f'"{c.name}"' for c in cols)
        raw = conn.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types([_pg_type(c) for c in cols])
            if any(processors):
                for row in rows:
                    copy.write_row(_process(row, processors))
            else:
                for row in rows:
                    copy.write_row(row)
        return
    sql = (
        f"INSERT INTO {table.name} ({', '.join(c.name for c in cols)}) "
        f"VALUES ({', '.join('?' for _ in cols)})"
    )
    conn.exec_driver_sql(sql, [_process(row, processors) for row in rows])


def _process(
    row: Sequence[Any], processors: Sequence[Callable[[Any], Any] | None]
) -> tuple[Any, ...]:
    return tuple(
        value if p is None or value is None else p(value)
        for value, p in zip(row, processors, strict=True)
    )


def any_of(
    conn: sa.Connection, column: sa.ColumnElement[Any], values: Iterable[Any]
) -> sa.ColumnElement[bool]:
    """`column IN values` as one array parameter on PostgreSQL, an IN list on SQLite."""
    values = list(values)
    if conn.dialect.name == "postgresql":
        param = sa.bindparam(None, values, type_=postgresql.ARRAY(column.type))
        return column == sa.any_(param)
    return column.in_(values)


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
