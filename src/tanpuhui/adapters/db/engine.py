"""Engines for SQLite (embedded default) and PostgreSQL (production).

SQLite: WAL, foreign keys on, `synchronous=NORMAL`, a large page cache, a busy timeout; write
transactions start with `BEGIN IMMEDIATE` so two writers queue instead of failing mid-way.
PostgreSQL: psycopg 3; big set-based statements are run without server-side prepare (a plan
cached while a table was empty can be catastrophically slow later, see RECIPES.md); list
parameters (`= ANY(:keys)` over thousands of keys) are sent as binary arrays — psycopg's
default text rendering escapes every element in Python, about ten times slower.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from psycopg.types.array import ListBinaryDumper
from sqlalchemy import event
from sqlalchemy.engine import Engine

WRITE = "tanpuhui_write"


def normalise_url(url: str) -> str:
    """Accept `postgresql://` URLs as given by tools and use the psycopg 3 driver for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def create_engine(url: str, *, echo: bool = False, pool_size: int = 5) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, echo)
    engine = sa.create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        pool_pre_ping=True,
        # UTC sessions: timestamps come back already in UTC (no per-row conversion).
        connect_args={"prepare_threshold": None, "options": "-c timezone=UTC"},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # the last dumper registered for a type is the one psycopg picks by default
        dbapi_connection.adapters.register_dumper(list, ListBinaryDumper)

    return engine


def _sqlite_engine(url: str, echo: bool) -> Engine:
    engine = sa.create_engine(url, echo=echo, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "foreign_keys=ON",
            "synchronous=NORMAL",
            "busy_timeout=30000",
            "cache_size=-262144",
            "temp_store=MEMORY",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def is_postgres(engine_or_conn: Engine | sa.Connection) -> bool:
    return engine_or_conn.dialect.name == "postgresql"
