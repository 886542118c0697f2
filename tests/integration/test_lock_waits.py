"""The lock-wait sampler of `bench ingest --lock-waits` sees a real wait, and names its table.

One connection holds a shard's log head `FOR UPDATE`; another asks for the same row and queues;
the sampler, reading `pg_stat_activity`, must count the second as waiting on `log_heads` — and
count nothing while nobody waits."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from tanpuhui.adapters.db.lock_waits import LockWaitSampler, table_of
from tanpuhui.bootstrap import App

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("engine_name", ["postgres"], indirect=True)
def test_the_sampler_counts_a_backend_queued_on_a_log_head(app: App) -> None:
    url = app.engine.url.render_as_string(hide_password=False)
    holder, waiter = app.engine.connect(), app.engine.connect()
    with holder.begin(), LockWaitSampler(url, interval_s=0.002) as sampler:
        holder.execute(sa.text("SELECT * FROM log_heads WHERE shard = 0 FOR UPDATE"))
        time.sleep(0.1)  # busy (idle in transaction), not waiting
        assert sampler.waiting == {}
        queued = threading.Thread(
            target=lambda: waiter.execute(
                sa.text("SELECT * FROM log_heads WHERE shard = 0 FOR UPDATE")
            )
        )
        queued.start()
        deadline = time.monotonic() + 10
        while not sampler.waiting and time.monotonic() < deadline:
            time.sleep(0.01)
    queued.join(10)
    waiter.rollback()
    holder.close()
    waiter.close()
    summary = sampler.summary()
    assert set(summary["by_table"]) == {"log_heads"}
    assert 0 < summary["waiting_share"] <= 1
    assert summary["waiting_samples"] <= summary["busy_backend_samples"]


def test_a_statement_is_attributed_to_the_first_table_it_names() -> None:
    assert table_of("SELECT shard, size FROM log_heads WHERE shard = ANY(%s) FOR UPDATE") == (
        "log_heads"
    )
    assert table_of('UPDATE "balances" SET amount = amount + 1') == "balances"
    assert table_of("INSERT INTO region_rollups (shard) VALUES (1)") == "region_rollups"
    assert table_of("COMMIT") == "other"
    assert table_of("") == "other"
