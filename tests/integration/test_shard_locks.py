"""Writers never wait for a log head (issue 10): with one shard's log head locked by another
transaction — a sequencer integrating that shard — a batch for a person of another shard and
a batch for the locked shard itself both commit at once; the locked shard's lines wait in the
queue, never the writer, and the next checkpoint integrates them. On PostgreSQL, where row
locks are real."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import App, build
from tanpuhui.config import Settings
from tanpuhui.domain.intake import OutcomeKind
from tanpuhui.domain.ledger import pending_account
from tanpuhui.domain.parties import Role
from tanpuhui.domain.shards import shard_of_account
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.parties import add_enterprise
from tanpuhui.services.transparency import publish_checkpoint
from tests.builders import event
from tests.conftest import NOW
from tests.db_fixtures import fresh_database_url

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    url = fresh_database_url(request, "postgres", tmp_path)
    built = build(Settings(database_url=url), clock=FixedClock(NOW))
    yield built
    built.close()


def submit_in_thread(app: App, enterprise: object, subject: str) -> tuple[threading.Thread, list]:
    done: list = []

    def run() -> None:
        done.extend(submit_events(app.ctx, enterprise, [event(subject=subject)]))  # type: ignore[arg-type]

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def queued(app: App) -> int:
    with app.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM log_queue").scalar_one())


def test_no_batch_waits_for_a_locked_shard_head_and_its_lines_are_integrated_later(
    app: App,
) -> None:
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    locked = shard_of_account(pending_account(bikes.id, "held"))
    other = next(
        s for s in (f"u-{i}" for i in range(100))
        if shard_of_account(pending_account(bikes.id, s)) != locked
    )  # fmt: skip
    holder = app.engine.connect()
    tx = holder.begin()
    holder.exec_driver_sql(f"SELECT size FROM log_heads WHERE shard = {locked} FOR UPDATE")
    try:
        free, free_done = submit_in_thread(app, bikes.id, other)
        free.join(timeout=30)
        assert not free.is_alive(), "a batch of another shard waited for the locked shard"
        assert [o.kind for o in free_done] == [OutcomeKind.PENDING_BINDING]

        same, same_done = submit_in_thread(app, bikes.id, "held")
        same.join(timeout=30)
        assert not same.is_alive(), "a batch of the locked shard waited for its head"
        assert [o.kind for o in same_done] == [OutcomeKind.PENDING_BINDING]
        assert queued(app) == 2, "both batches' lines wait in the queue (a one-line unit)"
        assert verify_ledger(app.ctx) == []  # a queued line is a logged line not yet sequenced
    finally:
        tx.rollback()
        holder.close()
    checkpoint = publish_checkpoint(app.ctx)
    assert queued(app) == 0
    assert checkpoint.heads[locked][0] == 1
    assert checkpoint.heads[shard_of_account(pending_account(bikes.id, other))][0] == 1
    assert verify_ledger(app.ctx) == []
