"""`ledger verify` reads the shard logs as streams: the number of statements it runs does not
grow with the number of shards (S = 1,024 here) nor with the shards an entry touches. Two
statements per shard made every verify of an empty ledger cost 0.2 s on SQLite and 0.5 s on
PostgreSQL — nearly every integration test calls it (docs/performance.md, "The test suite")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from tanpuhui.bootstrap import App
from tanpuhui.domain.parties import Role
from tanpuhui.domain.shards import SHARD_COUNT
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.parties import add_enterprise, add_persons, bind_subjects
from tests.builders import event


@contextmanager
def _statements(app: App) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    sa.event.listen(app.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(app.engine, "before_cursor_execute", count)


def test_verify_runs_as_many_statements_whatever_the_shards_touched(app: App) -> None:
    with _statements(app) as empty:
        assert verify_ledger(app.ctx) == []
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    persons = add_persons(app.ctx, 300)  # their accounts fall in ~260 of the 1,024 shards
    bind_subjects(app.ctx, [(bikes.id, f"u-{i}", p.id) for i, p in enumerate(persons)])
    submit_events(
        app.ctx, bikes.id, [event(subject=f"u-{i}", event_id=f"r-{i}") for i in range(300)]
    )
    with _statements(app) as full:
        assert verify_ledger(app.ctx) == []
    assert SHARD_COUNT == 1024
    assert len(empty) < 100
    # a few more reads once there are entries (their lines, traces), never one per shard
    assert len(full) < len(empty) + 50
