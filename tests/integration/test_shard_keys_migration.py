"""Migration 0022 keys persons, their tokens and binding codes, bindings, batches, held day
claims and corrections by shard (issue 10 item 4). A database holding such rows from before is
upgraded on both engines: every row gets the shard the code computes, is found again by the
keyed lookups, a person's bindings are listed from the person's shard, corrections stay
immutable, and on PostgreSQL the tables then hash-partition with their rows."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tanpuhui.adapters.db import migrate
from tanpuhui.adapters.db.types import UTCDateTime
from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import App, build, upgrade_database
from tanpuhui.config import Settings
from tanpuhui.domain.shards import (
    shard_of_digest,
    shard_of_enterprise,
    shard_of_person,
    shard_of_reduction,
    shard_of_subject,
)
from tanpuhui.services.ledger import verify_ledger
from tests.conftest import NOW

BIKES, OTHER = uuid.UUID(int=0xB1CE5), uuid.UUID(int=0x07E4)
ANN, BOB = uuid.uuid4(), uuid.uuid4()
TOKEN, CODE = hashlib.sha256(b"token").digest(), hashlib.sha256(b"code").digest()
BATCH = uuid.uuid4()
B_ANN, B_OLD, B_BOB = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
HELD, CORRECTION, REDUCTION = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def _t(name: str, *columns: sa.ColumnClause[object]) -> sa.TableClause:
    return sa.table(name, *columns)


ENTERPRISES = _t(
    "enterprises",
    sa.column("id", sa.Uuid),
    sa.column("name", sa.Text),
    sa.column("is_scene", sa.Boolean),
    sa.column("is_platform", sa.Boolean),
    sa.column("created_at", UTCDateTime),
)
PERSONS = _t("persons", sa.column("id", sa.Uuid), sa.column("created_at", UTCDateTime))
BINDINGS = _t(
    "bindings",
    sa.column("id", sa.Uuid),
    sa.column("enterprise_id", sa.Uuid),
    sa.column("subject", sa.Text),
    sa.column("person_id", sa.Uuid),
    sa.column("bound_at", UTCDateTime),
    sa.column("ended_at", UTCDateTime),
)
TOKENS = _t(
    "person_tokens",
    sa.column("token_hash", sa.LargeBinary),
    sa.column("person_id", sa.Uuid),
    sa.column("created_at", UTCDateTime),
)
CODES = _t(
    "binding_codes",
    sa.column("code_hash", sa.LargeBinary),
    sa.column("person_id", sa.Uuid),
    sa.column("created_at", UTCDateTime),
    sa.column("expires_at", UTCDateTime),
)
BATCHES = _t(
    "batches",
    sa.column("id", sa.Uuid),
    sa.column("enterprise_id", sa.Uuid),
    sa.column("received_at", UTCDateTime),
    sa.column("source", sa.Text),
    sa.column("event_count", sa.Integer),
    sa.column("counts", sa.Text),
    sa.column("seq", sa.BigInteger),
)

HELD_CLAIMS = _t(
    "provisional_claims",
    *(sa.column(n, sa.Uuid) for n in ("id", "enterprise_id")),
    *(sa.column(n, sa.Text) for n in ("event_id", "subject", "behaviour", "region")),
    *(sa.column(n, sa.Text) for n in ("quantities", "methodology")),
    sa.column("payload_hash", sa.LargeBinary),
    *(sa.column(n, UTCDateTime) for n in ("started_at", "ended_at", "received_at", "closes_at")),
)
CORRECTIONS = _t(
    "corrections",
    *(sa.column(n, sa.Uuid) for n in ("id", "reduction_id", "from_methodology_id")),
    sa.column("to_methodology_id", sa.Uuid),
    *(sa.column(n, sa.BigInteger) for n in ("before_grams", "after_grams", "shortfall_grams")),
    sa.column("trace", sa.Text),
    sa.column("created_at", UTCDateTime),
)


def _fill_at_0021(url: str) -> None:
    engine = sa.create_engine(url)
    migrate.upgrade(engine, "0021")
    day = timedelta(days=1)
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.execute(
            ENTERPRISES.insert(),
            [
                {"id": e, "name": n, "is_scene": True, "is_platform": False, "created_at": NOW}
                for e, n in ((BIKES, "Bikes"), (OTHER, "Metro"))
            ],
        )
        conn.execute(PERSONS.insert(), [{"id": p, "created_at": NOW} for p in (ANN, BOB)])
        conn.execute(
            BINDINGS.insert(),
            [
                {"id": B_OLD, "enterprise_id": BIKES, "subject": "u-1", "person_id": ANN,
                 "bound_at": NOW - 2 * day, "ended_at": NOW - day},
                {"id": B_ANN, "enterprise_id": OTHER, "subject": "u-1", "person_id": ANN,
                 "bound_at": NOW - day, "ended_at": None},
                {"id": B_BOB, "enterprise_id": BIKES, "subject": "u-1", "person_id": BOB,
                 "bound_at": NOW, "ended_at": None},
            ],
        )  # fmt: skip
        conn.execute(TOKENS.insert(), [{"token_hash": TOKEN, "person_id": ANN, "created_at": NOW}])
        conn.execute(
            CODES.insert(),
            [{"code_hash": CODE, "person_id": BOB, "created_at": NOW, "expires_at": NOW + day}],
        )
        conn.execute(
            BATCHES.insert(),
            [{"id": BATCH, "enterprise_id": BIKES, "received_at": NOW, "source": "api",
              "event_count": 0, "counts": "{}", "seq": 7}],
        )  # fmt: skip
        conn.execute(
            HELD_CLAIMS.insert(),
            [{"id": HELD, "enterprise_id": BIKES, "event_id": "d-1", "subject": "u-1",
              "behaviour": "walking", "region": "510500", "quantities": '{"steps": "9000"}',
              "methodology": "walking@1", "payload_hash": bytes(16), "started_at": NOW - day,
              "ended_at": NOW, "received_at": NOW, "closes_at": NOW + day}],
        )  # fmt: skip
        conn.execute(
            CORRECTIONS.insert(),
            [{"id": CORRECTION, "reduction_id": REDUCTION, "from_methodology_id": uuid.uuid4(),
              "to_methodology_id": uuid.uuid4(), "before_grams": 80, "after_grams": 70,
              "shortfall_grams": 0, "trace": "{}", "created_at": NOW}],
        )  # fmt: skip
    engine.dispose()


def test_an_older_database_keeps_its_rows_under_the_new_keys(empty_database_url: str) -> None:
    _fill_at_0021(empty_database_url)
    app: App = build(Settings(database_url=empty_database_url), clock=FixedClock(NOW))
    try:
        upgrade_database(app)
        _check(app)
        if app.engine.dialect.name == "postgresql":
            converted = migrate.partition_shard_tables(app.engine, 4)
            assert {"persons", "bindings", "person_bindings", "person_tokens"} <= set(converted)
            assert {"binding_codes", "batches", "provisional_claims", "corrections"} <= set(
                converted
            )
            _check(app)
    finally:
        app.close()


def _check(app: App) -> None:
    with app.engine.connect() as conn:
        shards = {
            (r.tbl, str(r.k)): r.shard
            for r in conn.execute(
                sa.text(
                    "SELECT 'p' AS tbl, id AS k, shard FROM persons "
                    "UNION ALL SELECT 'b', id, shard FROM bindings "
                    "UNION ALL SELECT 'x', id, shard FROM batches "
                    "UNION ALL SELECT 'h', id, shard FROM provisional_claims "
                    "UNION ALL SELECT 'c', id, shard FROM corrections"
                ).columns(k=sa.Uuid)
            )
        }
        secrets = {
            bytes(r[0]): r[1]
            for r in conn.exec_driver_sql(
                "SELECT token_hash, shard FROM person_tokens "
                "UNION ALL SELECT code_hash, shard FROM binding_codes"
            )
        }
    assert shards == {
        ("p", str(ANN)): shard_of_person(ANN),
        ("p", str(BOB)): shard_of_person(BOB),
        ("b", str(B_OLD)): shard_of_subject(BIKES, "u-1"),
        ("b", str(B_ANN)): shard_of_subject(OTHER, "u-1"),
        ("b", str(B_BOB)): shard_of_subject(BIKES, "u-1"),
        ("x", str(BATCH)): shard_of_enterprise(BIKES),
        ("h", str(HELD)): shard_of_enterprise(BIKES),
        ("c", str(CORRECTION)): shard_of_reduction(REDUCTION),
    }
    assert secrets == {TOKEN: shard_of_digest(TOKEN), CODE: shard_of_digest(CODE)}
    with app.ctx.uow(write=False) as uow:
        assert uow.persons.find(ANN) is not None and uow.persons.find(BOB) is not None
        assert uow.persons.missing([ANN, BOB, uuid.UUID(int=1)]) == {uuid.UUID(int=1)}
        assert uow.bindings.active_for(BIKES, ["u-1", "u-2"]) == {"u-1": BOB}
        assert uow.bindings.active_for(OTHER, ["u-1"]) == {"u-1": ANN}
        assert [b.id for b in uow.bindings.subjects_of(ANN)] == [B_OLD, B_ANN]
        assert [b.id for b in uow.bindings.subjects_of(BOB)] == [B_BOB]
        assert uow.access.person_of_token(TOKEN) == ANN
        assert uow.queries.batch_seq_of(BIKES, BATCH) == 7
        assert uow.queries.batch_seq_of(OTHER, BATCH) is None
        assert set(uow.settlement.held_outcomes(BIKES, ["d-1", "d-2"])) == {"d-1"}
        assert uow.settlement.held_outcomes(OTHER, ["d-1"]) == {}
        assert [h.id for h in uow.settlement.due(NOW + 2 * timedelta(days=1), None, 10)] == [HELD]
    with app.ctx.uow() as uow:
        assert uow.access.redeem_binding_code(CODE, BIKES, NOW) == (BOB, True)
        assert uow.access.redeem_binding_code(CODE, BIKES, NOW) == (BOB, False)
        uow.settlement.mark_settled(BIKES, [HELD], NOW)
        assert uow.settlement.held_outcomes(BIKES, ["d-1"]) == {}
        uow.rollback()
    for statement in ("UPDATE corrections SET after_grams = 0", "DELETE FROM corrections"):
        with pytest.raises(sa.exc.DBAPIError, match="immutable"), app.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    # the correction row made up above names no published version: `ledger verify` still
    # reads it after the migration, and finds that and nothing else
    found = verify_ledger(app.ctx)
    assert [(v.code, v.subject) for v in found] == [("untraceable_credit", str(REDUCTION))]
