"""Rows found by their key live in the shard that key names, and a binding is listed in its
person's shard (migration 0022, issue 10 item 4). No foreign key checks these any more — the
rows live in other shards than their person — so `ledger verify` does, on both engines: a row
moved to another shard, a listing lost or made up, a token naming nobody are each found."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from tanpuhui.bootstrap import App
from tanpuhui.domain.parties import Role
from tanpuhui.services.access import create_binding_code, issue_person_token
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject, unbind_subject
from tests.builders import event


@pytest.fixture
def world(app: App) -> App:
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    ann, bob = add_person(app.ctx), add_person(app.ctx)
    bind_subject(app.ctx, bikes.id, "u-1", ann.id)
    bind_subject(app.ctx, bikes.id, "u-2", bob.id)
    unbind_subject(app.ctx, bikes.id, "u-2")
    bind_subject(app.ctx, bikes.id, "u-2", ann.id)
    issue_person_token(app.ctx, ann.id)
    create_binding_code(app.ctx, bob.id)
    submit_events(app.ctx, bikes.id, [event(event_id="e-1", subject="u-1")])
    assert verify_ledger(app.ctx) == []
    with app.ctx.uow(write=False) as uow:
        assert sorted(b.subject for b in uow.bindings.subjects_of(ann.id)) == ["u-1", "u-2"]
        assert [b.ended_at is not None for b in uow.bindings.subjects_of(bob.id)] == [True]
    return app


def _tamper(app: App, *statements: str) -> list[tuple[str, str]]:
    with app.engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    return sorted({(v.code, v.message) for v in verify_ledger(app.ctx)})


MOVE = "UPDATE {t} SET shard = CASE WHEN shard = 0 THEN 1 ELSE 0 END"


@pytest.mark.parametrize(
    "table", ["persons", "person_tokens", "binding_codes", "batches", "person_bindings"]
)
def test_a_row_moved_to_another_shard_is_found(world: App, table: str) -> None:
    found = _tamper(
        world, MOVE.format(t=table) + f" WHERE shard = (SELECT min(shard) FROM {table})"
    )
    assert {code for code, _ in found} == {"misplaced_row"}
    assert any(f"a {table} row sits in shard" in message for _, message in found)


def test_a_binding_moved_to_another_shard_is_found_and_no_longer_listed(world: App) -> None:
    found = _tamper(
        world, "UPDATE bindings SET shard = CASE WHEN shard = 0 THEN 1 ELSE 0 END"
        " WHERE subject = 'u-1'",
    )  # fmt: skip
    assert ("binding_mismatch", "not listed in its person's shard") in found
    assert ("binding_mismatch", "listed for a person, but no such binding") in found
    assert any(code == "misplaced_row" for code, _ in found)


def test_a_lost_listing_and_a_token_of_nobody_are_found(world: App) -> None:
    nobody = uuid.uuid4().hex if world.engine.dialect.name == "sqlite" else str(uuid.uuid4())
    token = (
        "x'" + "ab" * 32 + "'"
        if world.engine.dialect.name == "sqlite"
        else "'\\x" + "ab" * 32 + "'"
    )
    shard = int("ab" * 8, 16) % 1024
    found = _tamper(
        world,
        "DELETE FROM person_bindings WHERE binding_id IN "
        "(SELECT id FROM bindings WHERE subject = 'u-1')",
        f"INSERT INTO person_tokens (shard, token_hash, person_id, created_at) "
        f"VALUES ({shard}, {token}, '{nobody}', (SELECT min(created_at) FROM persons))",
    )
    assert found == [
        ("binding_mismatch", "not listed in its person's shard"),
        ("binding_mismatch", "person_tokens names no person"),
    ]


def test_a_subject_bound_twice_lists_its_uncredited_events_once(app: App) -> None:
    """A person's "not credited" events come from the subjects listed in the person's shard:
    a subject bound, unbound and bound again to the same person is one subject."""
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    ann = add_person(app.ctx)
    bind_subject(app.ctx, bikes.id, "u-3", ann.id)
    unbind_subject(app.ctx, bikes.id, "u-3")
    bind_subject(app.ctx, bikes.id, "u-3", ann.id)
    outcomes = submit_events(
        app.ctx,
        bikes.id,
        [event(event_id="t-1", subject="u-3"), event(event_id="t-2", subject="u-3")],
    )
    assert [o.kind.value for o in outcomes] == ["credited", "duplicate"]
    with app.ctx.uow(write=False) as uow:
        assert len(uow.bindings.subjects_of(ann.id)) == 2
        assert [n.event_id for n in uow.pages.not_credited(ann.id, 10)] == ["t-2"]
        assert uow.pages.not_credited(add_person(app.ctx).id, 10) == []
