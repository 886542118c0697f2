"""The regional rollups are folded off the intake transaction (issue 12): intake queues one
row per batch and writes no rollup; a fold adds queued batches exactly once, whatever order
concurrent writers commit in and however the folds are split, on SQLite and PostgreSQL. The
reference is a rebuild of the rollups from the reductions as they are."""

from __future__ import annotations

import random
import threading
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import App, build
from tanpuhui.config import Settings
from tanpuhui.domain.parties import Role
from tanpuhui.services.aggregates import fold_rollups, regional_stats
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.parties import add_enterprise, add_persons, bind_subjects
from tests.builders import event
from tests.conftest import CST, NOW
from tests.db_fixtures import fresh_database_url, rows

MONTH = NOW.astimezone(CST).strftime("%Y-%m")
COUNTIES = ["440305", "440304", "110101", "420106", "510502"]


def _stream(rng: random.Random, prefix: str, subjects: list[str], n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        start = NOW - timedelta(days=rng.randrange(0, 50), hours=3, minutes=rng.randrange(0, 600))
        out.append(
            event(
                subject=rng.choice(subjects),
                region=rng.choice(COUNTIES),
                start=start,
                event_id=f"{prefix}-{i}",
            )
        )
    return out


def rollup_state(conn: sa.Connection) -> dict[str, set[tuple[Any, ...]]]:
    """The rollup tables as sets of rows (rows that sum to nothing left out)."""
    r = t.region_rollups.c
    return {
        "region_rollups": {
            tuple(row)
            for row in conn.execute(
                sa.select(t.region_rollups).where(sa.or_(r.grams != 0, r.events != 0))
            )
        },
        "person_activity": {tuple(row) for row in conn.execute(sa.select(t.person_activity))},
        "person_regions": {tuple(row) for row in conn.execute(sa.select(t.person_regions))},
    }


def rebuilt(app: App) -> dict[str, set[tuple[Any, ...]]]:
    """What a rebuild from the reductions gives (rolled back: the stored rollups stay)."""
    with app.ctx.uow() as uow:
        uow.aggregates.rebuild()
        return rollup_state(uow.conn)  # type: ignore[attr-defined]


def _requeue(app: App) -> int:
    """Forget the rollups and queue every batch with credited reductions again."""
    with app.engine.begin() as conn:
        for table in (t.region_rollups, t.person_activity, t.person_regions, t.rollup_pending):
            conn.execute(table.delete())
        batches = conn.execute(
            sa.select(t.events.c.batch_id, t.events.c.enterprise_id)
            .where(t.events.c.grams > 0)
            .distinct()
        ).all()
        conn.execute(
            t.rollup_pending.insert(),
            [{"shard": i % 7, "batch_id": b, "queued_at": NOW} for i, (b, _) in enumerate(batches)],
        )
    return len(batches)


def test_intake_queues_its_batch_and_writes_no_rollup(app: App) -> None:
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE}).id
    subjects = [f"s-{i}" for i in range(10)]
    persons = add_persons(app.ctx, len(subjects))
    bind_subjects(app.ctx, [(bikes, s, p.id) for s, p in zip(subjects, persons, strict=True)])
    out = submit_events(app.ctx, bikes, [event(subject=s, event_id=s) for s in subjects])

    assert rows(app, "select count(*) from region_rollups") == [(0,)]
    assert rows(app, "select count(*) from person_activity") == [(0,)]
    assert len(rows(app, "select batch_id from rollup_pending")) == 1  # one row per batch
    stale = regional_stats(app.ctx, region=None, period=MONTH, fresh=False)
    assert (stale.total.grams, stale.pending_batches) == (None, 1)  # 0 persons < k
    assert stale.to_json()["pending_batches"] == 1

    report = fold_rollups(app.ctx)
    assert (report.batches, report.reductions, report.pending) == (1, 10, 0)
    fresh = regional_stats(app.ctx, region=None, period=MONTH, fresh=False)
    assert (fresh.total.grams, fresh.total.persons) == (sum(o.grams for o in out), 10)
    assert fresh.pending_batches == 0
    assert fold_rollups(app.ctx).batches == 0  # nothing twice
    assert rollup_state_of(app) == rebuilt(app)
    assert verify_ledger(app.ctx) == []


def test_ledger_verify_folds_before_it_checks_invariant_7(app: App) -> None:
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE}).id
    submit_events(app.ctx, bikes, [event(subject="a", event_id="a")])
    assert verify_ledger(app.ctx) == []
    assert rows(app, "select count(*) from rollup_pending") == [(0,)]


def rollup_state_of(app: App) -> dict[str, set[tuple[Any, ...]]]:
    with app.engine.connect() as conn:
        return rollup_state(conn)


@pytest.fixture
def many_batches(app: App) -> App:
    """Twelve batches over five counties and fifty days; some subjects bound, some pending,
    and some bound after their batches were queued (binding folds them first)."""
    rng = random.Random(7)
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE}).id
    subjects = [f"s-{i}" for i in range(16)]
    persons = add_persons(app.ctx, 12)
    bind_subjects(
        app.ctx, [(bikes, s, p.id) for s, p in zip(subjects[:8], persons[:8], strict=True)]
    )
    for b in range(12):
        submit_events(app.ctx, bikes, _stream(rng, f"b{b}", subjects, 8))
        if b == 6:  # a binding between queued batches
            late = zip(subjects[8:12], persons[8:12], strict=True)
            bind_subjects(app.ctx, [(bikes, s, p.id) for s, p in late])
    return app


def test_folding_in_any_split_gives_the_rollups_of_a_full_rebuild(
    many_batches: App,
) -> None:
    app = many_batches
    fold_rollups(app.ctx)
    reference = rebuilt(app)
    assert reference["region_rollups"]
    assert rollup_state_of(app) == reference

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        splits=st.lists(st.integers(1, 5), min_size=1, max_size=12),
        early=st.lists(st.integers(0, 10_000), max_size=4),
    )
    def split(splits: list[int], early: list[int]) -> None:
        queued = _requeue(app)
        ids = [uuid.UUID(str(r[0])) for r in rows(app, "select id from events where grams > 0")]
        for pick in early:  # a binding-like change folds its own reductions' batches first
            with app.ctx.uow() as uow:
                uow.aggregates.snapshots([ids[pick % len(ids)]])
                uow.commit()
        folded = 0
        for size in splits:
            folded += fold_rollups(app.ctx, chunk=size, rounds=1).batches
        folded += fold_rollups(app.ctx).batches
        assert folded <= queued
        assert rows(app, "select count(*) from rollup_pending") == [(0,)]
        assert rollup_state_of(app) == reference

    split()
    assert verify_ledger(app.ctx) == []


@pytest.mark.postgres
def test_concurrent_writers_and_folders_fold_every_batch_once(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Four intake threads (each its own enterprise) and a binding thread commit in whatever
    order PostgreSQL lets them while two folders fold small chunks in a loop; afterwards the
    rollups are exactly a rebuild's and invariant 7 holds."""
    url = fresh_database_url(request, "postgres", tmp_path)
    app = build(Settings(database_url=url), clock=FixedClock(NOW))
    request.addfinalizer(app.close)
    enterprises = [add_enterprise(app.ctx, f"E{i}", {Role.SCENE}).id for i in range(4)]
    subjects = [f"s-{i}" for i in range(12)]
    persons = add_persons(app.ctx, 12)
    for e in enterprises:
        bind_subjects(
            app.ctx, [(e, s, p.id) for s, p in zip(subjects[:6], persons[:6], strict=True)]
        )
    done = threading.Event()
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        rng = random.Random(i)
        try:
            for b in range(10):
                submit_events(app.ctx, enterprises[i], _stream(rng, f"w{i}b{b}", subjects, 6))
        except BaseException as exc:
            errors.append(exc)

    def binder() -> None:
        try:
            for j in range(6, 12):
                bind_subjects(app.ctx, [(e, subjects[j], persons[j].id) for e in enterprises])
        except BaseException as exc:
            errors.append(exc)

    def folder(size: int) -> None:
        try:
            while not done.is_set():
                fold_rollups(app.ctx, chunk=size, rounds=1)
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    writers.append(threading.Thread(target=binder))
    folders = [threading.Thread(target=folder, args=(n,)) for n in (1, 3)]
    for th in folders + writers:
        th.start()
    for th in writers:
        th.join()
    done.set()
    for th in folders:
        th.join()
    assert errors == []
    fold_rollups(app.ctx)
    queued = rows(app, "select count(distinct batch_id) from events where grams > 0")[0][0]
    assert queued >= 30
    assert rows(app, "select count(*) from rollup_pending") == [(0,)]
    assert rollup_state_of(app) == rebuilt(app)
    assert verify_ledger(app.ctx) == []
