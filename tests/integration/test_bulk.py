"""Set-based reads and writes (`adapters.db.bulk`): keys of any spelling round-trip exactly on
both engines, whichever way the driver sends them (PostgreSQL: one binary array parameter)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import any_of, fetch_tuples, insert_rows
from tanpuhui.bootstrap import App
from tanpuhui.domain.shards import shard_of_enterprise

# what an array's text form would have to escape: quotes, backslashes, commas, braces, blanks,
# NULL spelled out, non-ASCII
AWKWARD = ['a"b', "back\\slash", "com,ma", "{brace}", " spaced ", "NULL", "深圳-ü", "", "x" * 300]


def _store_batches(app: App, ids: list[str]) -> uuid.UUID:
    enterprise, now = uuid.uuid4(), datetime.now(UTC)
    with app.engine.begin() as conn:
        conn.execute(
            t.enterprises.insert().values(
                id=enterprise, name=f"e-{enterprise}", is_scene=True, is_platform=False,
                created_at=datetime.now(UTC),
            )
        )  # fmt: skip
        insert_rows(
            conn,
            t.batches,
            ["shard", "id", "enterprise_id", "received_at", "source", "event_count", "counts"],
            [
                (shard_of_enterprise(enterprise), uuid.uuid4(), enterprise, now, s, 0, "{}")
                for s in ids
            ],
        )
    return enterprise


def test_text_keys_of_any_spelling_are_matched_exactly(app: App) -> None:
    _store_batches(app, AWKWARD)
    b = t.batches.c
    with app.engine.connect() as conn:
        found = {
            r[0] for r in conn.execute(sa.select(b.source).where(any_of(conn, b.source, AWKWARD)))
        }
        assert found == set(AWKWARD)
        assert [
            r[0] for r in conn.execute(sa.select(b.source).where(any_of(conn, b.source, ["nope"])))
        ] == []


def test_uuid_date_and_integer_keys_are_matched(app: App) -> None:
    enterprise = _store_batches(app, ["one", "two"])
    b = t.batches.c
    with app.engine.connect() as conn:
        ids = [r[0] for r in conn.execute(sa.select(b.id))]
        query = sa.select(b.source).where(any_of(conn, b.id, [ids[0], uuid.uuid4()]))
        assert len(fetch_tuples(conn, query)) == 1
        query = sa.select(b.source).where(any_of(conn, b.enterprise_id, [enterprise]))
        assert len(fetch_tuples(conn, query)) == 2
        query = sa.select(b.source).where(any_of(conn, b.event_count, [0, 7]))
        assert len(fetch_tuples(conn, query)) == 2
        e = t.events.c  # a date array (no rows: the comparison must still type-check)
        assert (
            fetch_tuples(conn, sa.select(e.id).where(any_of(conn, e.day, [date(2026, 11, 17)])))
            == []
        )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    keys=st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=20), max_size=30)
)
def test_any_list_of_text_keys_finds_exactly_the_stored_ones(app: App, keys: list[str]) -> None:
    keys = [k.replace("\x00", "") for k in keys]  # PostgreSQL text holds no NUL
    _store_batches(app, keys)
    b = t.batches.c
    with app.engine.connect() as conn:
        stored = {r[0] for r in conn.execute(sa.select(b.source))}
        probe = [*keys, "absent-key"]
        found = {
            r[0] for r in conn.execute(sa.select(b.source).where(any_of(conn, b.source, probe)))
        }
    assert set(keys) <= stored
    assert found == stored & set(probe)
