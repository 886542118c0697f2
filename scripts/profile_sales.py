"""Where a sale's time goes: sequential sales on a fresh database, with the statements (and
COPYs) per sale, the time spent in each, the Python CPU per sale and, on PostgreSQL, the
server's CPU per sale (its processes' CPU time, so run it on an otherwise idle server).

    python scripts/profile_sales.py postgres 300     # or: sqlite 300
    python scripts/profile_sales.py postgres 640 32  # in groups of 32 sellers (one thread)

Set-up as `tanpuhui bench market` (8 sellers, or as many as a group has, with 40 rides; a
points offer). With a group size, the sales go to `_sell_group` that many at a time, one
seller each, as concurrent sales of one process are committed. Not a test.
"""

from __future__ import annotations

import collections
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa

from tanpuhui.adapters.db import ledger_repository, log_repository
from tanpuhui.adapters.db.embedded import create_database, start_server
from tanpuhui.bootstrap import build
from tanpuhui.cli.bench_market import _set_up
from tanpuhui.config import Settings
from tanpuhui.services.market import SaleResult, _Request, _sell_group, sell_reductions

COUNT: collections.Counter[str] = collections.Counter()
SPENT: collections.Counter[str] = collections.Counter()


def _key(statement: str) -> str:
    words = statement.split()
    return " ".join(words[:4])


def _watch(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info["started"] = (_key(statement), time.perf_counter())

    @sa.event.listens_for(engine, "after_cursor_execute")
    def after(conn: Any, *_: Any) -> None:
        key, started = conn.info["started"]
        COUNT[key] += 1
        SPENT[key] += time.perf_counter() - started

    if engine.dialect.name != "postgresql":
        return
    for module in (ledger_repository, log_repository):  # COPY bypasses the cursor events
        original = module.insert_rows

        def timed(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                COUNT[f"COPY {args[1].name}"] += 1
                SPENT[f"COPY {args[1].name}"] += time.perf_counter() - started

        module.insert_rows = timed  # type: ignore[assignment]


def _server_cpu(work: Path) -> float:
    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        if (proc.info["name"] or "").startswith("postgres") and str(work) in " ".join(
            proc.info["cmdline"] or []
        ):
            with_children = [proc, *proc.children(recursive=True)]
            return sum(p.cpu_times().user + p.cpu_times().system for p in with_children)
    return total


def main(engine: str, sales: int, group: int = 1) -> None:
    work = Path(tempfile.mkdtemp(prefix="tanpuhui-profile-sales-"))
    server = None
    if engine == "sqlite":
        url = f"sqlite:///{work / 'market.db'}"
    else:
        server, server_url = start_server(work / "pg")
        url = create_database(server_url, "market")
    setup = _set_up(url, max(8, group), 40, 100, datetime.now(UTC))
    app = build(Settings(database_url=url))
    persons = [uuid.UUID(p) for p in setup["persons"]]
    offer = uuid.UUID(setup["offer"])
    for person in persons[:2]:  # warm: caches, prepared statements
        sell_reductions(app.ctx, person, offer, 100)
    _watch(app.engine)
    server_before = _server_cpu(work)
    began, cpu = time.perf_counter(), time.process_time()
    if group == 1:
        for i in range(sales):
            sell_reductions(app.ctx, persons[i % len(persons)], offer, 100)
    for at in range(0, sales if group > 1 else 0, group):
        requests = [
            _Request(persons[i % group], offer, 100, str(uuid.uuid4()))
            for i in range(at, min(sales, at + group))
        ]
        assert all(isinstance(x, SaleResult) for x in _sell_group(app.ctx, requests))
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    server_cpu = _server_cpu(work) - server_before
    print(
        f"{engine}: {sales} sales (groups of {group}), "
        f"{sum(COUNT.values()) / sales:.1f} statements per sale, "
        f"wall {wall / sales * 1000:.2f} ms, Python CPU {cpu / sales * 1000:.2f} ms, "
        f"server CPU {server_cpu / sales * 1000:.2f} ms per sale"
    )
    for key, n in COUNT.most_common():
        print(f"  {n / sales:5.2f} × {SPENT[key] / sales * 1000:6.2f} ms  {key}")
    app.close()
    if server is not None:
        server.cleanup()


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "sqlite",
        int(sys.argv[2]) if len(sys.argv) > 2 else 200,
        int(sys.argv[3]) if len(sys.argv) > 3 else 1,
    )
