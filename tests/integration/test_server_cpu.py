"""The benchmark's database-server CPU probe, against the real embedded PostgreSQL server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tanpuhui.adapters.db.embedded import server_cpu_seconds

pytestmark = pytest.mark.postgres


def _data_directory(engine: sa.Engine) -> Path:
    with engine.connect() as conn:
        return Path(conn.exec_driver_sql("SHOW data_directory").scalar_one())


def test_server_cpu_counts_work_done_by_backends_that_have_exited(pg_server: str) -> None:
    engine = sa.create_engine(pg_server, poolclass=sa.NullPool)
    pgdata = _data_directory(engine)
    before = server_cpu_seconds(pgdata)
    with engine.connect() as conn:  # a backend that burns CPU, then exits
        conn.exec_driver_sql("SELECT count(*) FROM generate_series(1, 5000000)").scalar_one()
    # the backend exits after the client hangs up, and its CPU joins the postmaster's once it
    # is reaped: read again for a few seconds (a single read raced it once in CI: 0.00 s)
    deadline = time.monotonic() + 10
    while True:
        after = server_cpu_seconds(pgdata)
        assert before is not None and after is not None
        if after - before >= 0.05 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert after - before >= 0.05  # far more than one clock tick of work


def test_server_cpu_counts_a_live_backend(pg_server: str) -> None:
    engine = sa.create_engine(pg_server, poolclass=sa.NullPool)
    pgdata = _data_directory(engine)
    with engine.connect() as conn:
        before = server_cpu_seconds(pgdata)
        conn.exec_driver_sql("SELECT count(*) FROM generate_series(1, 5000000)").scalar_one()
        during = server_cpu_seconds(pgdata)  # the backend is still connected
    assert before is not None and during is not None
    assert during - before >= 0.05


def test_no_server_no_figure(tmp_path: Path) -> None:
    assert server_cpu_seconds(tmp_path) is None
    (tmp_path / "postmaster.pid").write_text("not a pid\n")
    assert server_cpu_seconds(tmp_path) is None
