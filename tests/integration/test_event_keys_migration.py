"""Migration 0023 keys `events` by shard and moves its two platform-wide keys into
`event_keys` and `evidence_keys` (issue 10 item 4). A database holding events from before
(revision 0022: a reduction held by a person and carrying evidence, a reversed one, an event of
a subject that was not credited, one that failed validation) is upgraded on both engines: every
row gets the shard the code computes, every event its key, the active reduction its evidence
key, the lookups find them, the new guards hold, and on PostgreSQL `events` then
hash-partitions with its rows."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from tanpuhui.adapters.db import migrate
from tanpuhui.adapters.db.types import UTCDateTime
from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import App, build
from tanpuhui.config import Settings
from tanpuhui.domain.shards import (
    shard_of_digest,
    shard_of_enterprise,
    shard_of_event_key,
    shard_of_person,
    shard_of_subject,
)
from tests.conftest import NOW

BIKES, ANN = uuid.UUID(int=0xB1CE5), uuid.uuid4()
HELD, REVERSED, UNCREDITED, INVALID = (uuid.uuid4() for _ in range(4))
ENTRY, METHODOLOGY, BATCH = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
FP, OLD_FP = bytes(range(16)), bytes(range(1, 17))

EVENTS = sa.table(
    "events",
    *(sa.column(n, sa.Uuid) for n in ("id", "enterprise_id", "batch_id", "methodology_id")),
    sa.column("entry_id", sa.Uuid),
    *(sa.column(n, sa.Text) for n in ("event_id", "subject", "outcome", "asset")),
    *(sa.column(n, sa.Text) for n in ("issued_account", "holder", "state")),
    sa.column("received_at", UTCDateTime),
    *(sa.column(n, sa.LargeBinary) for n in ("payload_hash", "evidence_fp")),
    *(sa.column(n, sa.BigInteger) for n in ("grams", "grams_cut", "live_grams")),
)


def _event(rid: uuid.UUID, event_id: str, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": rid, "enterprise_id": BIKES, "batch_id": BATCH, "methodology_id": None,
        "entry_id": None, "event_id": event_id, "subject": None, "outcome": "rejected",
        "asset": None, "issued_account": None, "holder": None, "state": None,
        "received_at": NOW, "payload_hash": bytes(16), "evidence_fp": None, "grams": 0,
        "grams_cut": 0, "live_grams": 0,
    }  # fmt: skip
    return row | values


def _credited(rid: uuid.UUID, event_id: str, **values: object) -> dict[str, object]:
    credited: dict[str, object] = {
        "subject": "u-1", "outcome": "credited", "methodology_id": METHODOLOGY,
        "entry_id": ENTRY, "asset": "g", "issued_account": "issued", "grams": 80,
        "live_grams": 80,
    }  # fmt: skip
    return _event(rid, event_id, **(credited | values))


def _fill_at_0022(url: str) -> None:
    """Events of every kind, written as rows: the references they name (an entry, a version)
    are not the point here, so the reference guards are off while they are written."""
    engine = sa.create_engine(url)
    migrate.upgrade(engine, "0022")
    person = f"person:{ANN}"
    rows = [
        _credited(HELD, "e-1", holder=person, state="active", evidence_fp=FP),
        _credited(REVERSED, "e-2", state="reversed", live_grams=0, evidence_fp=OLD_FP),
        _event(UNCREDITED, "e-3", subject="u-2", outcome="duplicate"),
        _event(INVALID, "e-4"),
    ]
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO enterprises (id, name, is_scene, is_platform, created_at) "
            f"VALUES ({_uuid(conn, BIKES)}, 'Bikes', true, false, '2026-01-01')"
        )
        conn.exec_driver_sql(
            "INSERT INTO batches (shard, id, enterprise_id, received_at, source, event_count, "
            f"counts, seq) VALUES ({shard_of_enterprise(BIKES)}, {_uuid(conn, BATCH)}, "
            f"{_uuid(conn, BIKES)}, '2026-01-01', 'api', 4, '{{}}', 1)"
        )
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            conn.execute(EVENTS.insert(), rows)
        else:
            (guard,) = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'trg_events_references'"
            ).one()
            conn.exec_driver_sql("DROP TRIGGER trg_events_references")
            conn.execute(EVENTS.insert(), rows)
            conn.exec_driver_sql(guard)
    engine.dispose()


def _uuid(conn: sa.Connection, value: uuid.UUID) -> str:
    return f"'{value.hex}'" if conn.dialect.name == "sqlite" else f"'{value}'"


def test_older_events_get_their_shards_and_their_keys(empty_database_url: str) -> None:
    _fill_at_0022(empty_database_url)
    app: App = build(Settings(database_url=empty_database_url), clock=FixedClock(NOW))
    try:
        migrate.upgrade(app.engine)
        _check(app)
        if app.engine.dialect.name == "postgresql":
            assert "events" in migrate.partition_shard_tables(app.engine, 4)
            _check(app)
    finally:
        app.close()


def _check(app: App) -> None:
    with app.engine.connect() as conn:
        shards = {
            r.event_id: r.shard for r in conn.execute(sa.text("SELECT event_id, shard FROM events"))
        }
        keys = {
            r.event_id: (r.shard, uuid.UUID(str(r.event_row)))
            for r in conn.execute(sa.text("SELECT event_id, shard, event_row FROM event_keys"))
        }
        evidence = [
            (r.shard, bytes(r.evidence_fp), uuid.UUID(str(r.reduction_id)))
            for r in conn.execute(sa.text("SELECT * FROM evidence_keys"))
        ]
    assert shards == {
        "e-1": shard_of_person(ANN),  # its holder's
        "e-2": shard_of_subject(BIKES, "u-1"),  # no holder: its subject's
        "e-3": shard_of_subject(BIKES, "u-2"),
        "e-4": shard_of_enterprise(BIKES),  # no subject either
    }
    assert keys == {
        i: (shard_of_event_key(BIKES, i), rid)
        for i, rid in (("e-1", HELD), ("e-2", REVERSED), ("e-3", UNCREDITED), ("e-4", INVALID))
    }
    assert evidence == [(shard_of_digest(FP), FP, HELD)]  # the reversed one's is free
    with app.ctx.uow(write=False) as uow:
        assert uow.intake.event_rows(BIKES, ["e-1", "e-4", "e-9"]) == {
            "e-1": HELD, "e-4": INVALID,
        }  # fmt: skip
        assert uow.intake.evidence_claims([FP, OLD_FP]) == {FP: HELD}
        view = uow.queries.event_of(BIKES, "e-3")
        assert view is not None and view.outcome.kind.value == "duplicate"
        assert uow.intake.holders_with_claims([f"person:{ANN}", "person:x"]) == {f"person:{ANN}"}
    for statement in (
        "UPDATE events SET shard = shard + 1 WHERE event_id = 'e-1'",
        "DELETE FROM events WHERE event_id = 'e-1'",
        "INSERT INTO event_keys SELECT * FROM event_keys",
    ):
        with pytest.raises(sa.exc.DBAPIError), app.engine.begin() as conn:
            conn.exec_driver_sql(statement)
