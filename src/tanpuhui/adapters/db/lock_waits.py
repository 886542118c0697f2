"""Who waits for whose lock, sampled from `pg_stat_activity` (PostgreSQL only).

`LockWaitSampler` runs in a thread of the benchmarking process while the workers run: every
few milliseconds it reads the client backends of one database that are inside a transaction
(running, or idle in it between statements) and those of them waiting for a heavyweight lock
(`wait_event_type = 'Lock'`: a row lock shows as a wait for the holder's transaction id). A
waiter is attributed to the table its statement names first after FROM, UPDATE or INTO — the
row it waits for is in that table (`SELECT … FROM log_heads … FOR UPDATE`). The share is
waiting samples over busy samples: the fraction of the workers' transaction time spent
queued behind another transaction.

The sampling queries cost the server CPU (about 0.2 ms each), so `bench ingest` samples only
when asked (`--lock-waits`): its CPU-per-event figures are taken without it.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import Any

import sqlalchemy as sa

_TABLE = re.compile(r"\b(?:from|update|into)\s+\"?([a-z_][a-z0-9_]*)", re.IGNORECASE)

_SAMPLE = sa.text(
    "SELECT wait_event_type = 'Lock' AS waiting, query FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND backend_type = 'client backend' "
    "AND state IN ('active', 'idle in transaction')"
)


def table_of(statement: str) -> str:
    """The first table a statement names (`other` when none is found)."""
    found = _TABLE.search(statement or "")
    return found.group(1).lower() if found else "other"


class LockWaitSampler:
    """Samples lock waits of one database's client backends until `stop()`."""

    def __init__(self, url: str, interval_s: float = 0.005) -> None:
        self._engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lock-wait-sampler", daemon=True)
        self.samples = 0
        self.busy = 0
        self.waiting: Counter[str] = Counter()

    def start(self) -> None:
        self._thread.start()

    def __enter__(self) -> LockWaitSampler:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        with self._engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            while not self._stop.wait(self._interval):
                rows = conn.execute(_SAMPLE).all()
                self.samples += 1
                self.busy += len(rows)
                self.waiting.update(table_of(r.query) for r in rows if r.waiting)

    def stop(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            self._engine.dispose()

    def summary(self) -> dict[str, Any]:
        """Busy backend samples, and the share of them waiting for a lock, by table."""
        waits = sum(self.waiting.values())
        return {
            "samples": self.samples,
            "busy_backend_samples": self.busy,
            "waiting_samples": waits,
            "waiting_share": round(waits / self.busy, 4) if self.busy else 0.0,
            "by_table": {table: round(n / self.busy, 4) for table, n in self.waiting.most_common()},
        }
