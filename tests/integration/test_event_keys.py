"""`events` is keyed by shard, its two platform-wide keys live in their own shards (migration
0023, issue 10 item 4), on both engines:

- an event row sits in its holder's shard, and binding moves a pending reduction's row into
  the person's (a copy, then the original deleted) keeping its keys, its replay answer and a
  clean ledger;
- the keys refuse a second event under one key and a second active reduction of one piece of
  evidence, and a reduction reversed at binding frees its evidence;
- the database refuses to move an event by updating its shard, or to delete a credited event
  that has no copy elsewhere;
- `ledger verify` finds a lost or made-up key, a row left in two shards or put in the wrong
  one."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tanpuhui.bootstrap import App
from tanpuhui.domain.parties import Role
from tanpuhui.domain.shards import (
    shard_of_digest,
    shard_of_event_key,
    shard_of_person,
    shard_of_subject,
)
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject
from tests.builders import event
from tests.db_fixtures import rows


def _codes(app: App) -> list[tuple[str, str]]:
    return sorted({(v.code, v.message) for v in verify_ledger(app.ctx)})


def _event(app: App, event_id: str) -> Any:
    with app.engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT * FROM events WHERE event_id = :i"), {"i": event_id}
        ).one()


@pytest.fixture
def world(app: App) -> tuple[App, Any, Any]:
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    ann = add_person(app.ctx)
    submit_events(
        app.ctx, bikes.id, [event(event_id="p-1", subject="u-1", evidence={"ref": "ride-1"})]
    )
    return app, bikes, ann


def test_binding_moves_a_pending_reduction_into_the_persons_shard(
    world: tuple[App, Any, Any],
) -> None:
    app, bikes, ann = world
    pending = _event(app, "p-1")
    assert pending.outcome == "pending_binding"
    assert pending.shard == shard_of_subject(bikes.id, "u-1")
    bind_subject(app.ctx, bikes.id, "u-1", ann.id)
    moved = _event(app, "p-1")
    assert moved.shard == shard_of_person(ann.id) and moved.holder == f"person:{ann.id}"
    assert rows(app, "SELECT count(*) FROM events")[0][0] == 1  # the original is gone
    assert verify_ledger(app.ctx) == []
    # the replay is answered through the key, wherever the row went
    (again,) = submit_events(
        app.ctx, bikes.id, [event(event_id="p-1", subject="u-1", evidence={"ref": "ride-1"})]
    )
    assert again.replayed and again.reduction_id.hex == str(moved.id).replace("-", "")
    # the evidence stays taken: another event citing it is a duplicate
    (other,) = submit_events(
        app.ctx, bikes.id, [event(event_id="p-2", subject="u-1", evidence={"ref": "ride-1"})]
    )
    assert other.kind.value == "duplicate"
    assert verify_ledger(app.ctx) == []


def test_the_keys_are_where_their_hashes_say(world: tuple[App, Any, Any]) -> None:
    app, bikes, _ = world
    ((shard, row),) = rows(app, "SELECT shard, event_row FROM event_keys")
    assert shard == shard_of_event_key(bikes.id, "p-1")
    assert str(row).replace("-", "") == str(_event(app, "p-1").id).replace("-", "")
    ((shard, fp),) = rows(app, "SELECT shard, evidence_fp FROM evidence_keys")
    assert shard == shard_of_digest(bytes(fp))


def test_the_database_refuses_a_second_key_and_a_second_evidence_claim(
    world: tuple[App, Any, Any],
) -> None:
    app, _, _ = world
    for table in ("event_keys", "evidence_keys"):
        with pytest.raises(sa.exc.IntegrityError), app.engine.begin() as conn:
            conn.execute(sa.text(f"INSERT INTO {table} SELECT * FROM {table}"))


def test_the_database_refuses_to_move_an_event_in_place_or_to_lose_one(
    world: tuple[App, Any, Any],
) -> None:
    app, _, _ = world
    for statement in (
        "UPDATE events SET shard = CASE WHEN shard = 0 THEN 1 ELSE 0 END",
        "DELETE FROM events",
    ):
        refused = pytest.raises(sa.exc.DBAPIError, match=r"immutable|only rejected")
        with refused, app.engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert rows(app, "SELECT count(*) FROM events")[0][0] == 1
    assert verify_ledger(app.ctx) == []


OTHER = "CASE WHEN shard = 0 THEN 1 ELSE 0 END"


def _copy_to_another_shard(conn: sa.Connection) -> None:
    columns = [c["name"] for c in sa.inspect(conn).get_columns("events") if c["name"] != "shard"]
    listed = ", ".join(columns)
    conn.execute(
        sa.text(f"INSERT INTO events (shard, {listed}) SELECT {OTHER}, {listed} FROM events")
    )


def test_verify_finds_an_event_left_in_two_shards_and_one_in_the_wrong_shard(
    world: tuple[App, Any, Any],
) -> None:
    app, _, _ = world
    original = _event(app, "p-1").shard
    with app.engine.begin() as conn:
        _copy_to_another_shard(conn)
    found = _codes(app)
    assert ("key_mismatch", "an event in two shards") in found
    assert any(code == "misplaced_row" for code, _ in found)
    with app.engine.begin() as conn:  # the copy exists: the database lets the original go
        conn.execute(sa.text("DELETE FROM events WHERE shard = :k"), {"k": original})
    found = _codes(app)
    assert {code for code, _ in found} == {"misplaced_row"}
    assert any("a events row sits in shard" in message for _, message in found)


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("DELETE FROM event_keys", "an event whose key (enterprise, event id) does not name it"),
        (
            "UPDATE event_keys SET event_id = 'p-9'",
            "an event key that names no such event",
        ),
        ("DELETE FROM evidence_keys", "an active reduction whose evidence key is not its"),
        (
            "UPDATE evidence_keys SET reduction_id = (SELECT batch_id FROM events)",
            "an evidence key held by no active reduction",
        ),
    ],
)
def test_verify_finds_a_lost_or_made_up_key(
    world: tuple[App, Any, Any], statement: str, message: str
) -> None:
    app, _, _ = world
    with app.engine.begin() as conn:
        conn.execute(sa.text(statement))
    assert ("key_mismatch", message) in _codes(app)
