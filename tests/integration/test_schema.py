"""The schema: migrations build exactly the models, and the database refuses what must never
happen even when the services are bypassed."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tanpuhui.adapters.db.migrate import partition_names
from tanpuhui.adapters.db.schema import metadata
from tanpuhui.bootstrap import App
from tanpuhui.domain.parties import Role
from tanpuhui.services.intake import submit_events
from tanpuhui.services.parties import add_enterprise
from tests.builders import event


def test_migrations_match_the_models(app: App) -> None:
    with app.engine.connect() as conn:
        partitions = partition_names(conn)  # the hash-partitioned layout's (db_fixtures.py)
        context = MigrationContext.configure(
            conn,
            opts={
                "include_name": lambda name, kind, _: kind != "table" or name not in partitions,
                # a foreign key to a partitioned table is reflected once per partition too
                "include_object": lambda obj, _, kind, reflected, __: (
                    not (
                        reflected
                        and kind == "foreign_key_constraint"
                        and obj.referred_table.name in partitions
                    )
                ),
            },
        )
        diff = compare_metadata(context, metadata)
    assert diff == []


def _credited(app: App) -> uuid.UUID:
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    submit_events(app.ctx, bikes.id, [event(event_id="r")])
    return bikes.id


@pytest.mark.parametrize(
    "statement",
    [
        "update events set grams = grams + 1",
        "update events set issued_account = 'person:someone-else'",
        "delete from events",
        "update postings set amount = amount - 1",
        "delete from postings",
        "update ledger_entries set memo = 'edited'",
        "delete from ledger_entries",
        "update balances set amount = -5 where account like 'pending:%'",
        "insert into postings (entry_id, line, account, asset, amount) "
        "select id, 99, 'person:x', 'co2e:mobility:420000:2026-11', 1 from ledger_entries",
    ],
)
def test_the_database_refuses_to_rewrite_history(app: App, statement: str) -> None:
    _credited(app)
    with pytest.raises(sa.exc.DBAPIError), app.engine.begin() as conn:
        conn.exec_driver_sql(statement)


def test_an_event_cannot_be_stored_twice(app: App) -> None:
    _credited(app)
    with pytest.raises(sa.exc.IntegrityError), app.engine.begin() as conn:
        conn.exec_driver_sql(
            "insert into events (id, enterprise_id, event_id, batch_id, received_at, payload_hash,"
            " outcome, grams, grams_cut, live_grams) select "
            + ("gen_random_uuid()" if app.engine.dialect.name == "postgresql" else "'00' || id")
            + ", enterprise_id, event_id, batch_id, received_at, payload_hash, 'rejected', 0, 0, 0"
            " from events"
        )


def test_a_credit_needs_its_issuance_entry(app: App) -> None:
    _credited(app)
    with pytest.raises(sa.exc.IntegrityError), app.engine.begin() as conn:
        conn.exec_driver_sql(
            "insert into events (id, enterprise_id, event_id, batch_id, received_at, payload_hash,"
            " outcome, grams, grams_cut, live_grams) select "
            + ("gen_random_uuid()" if app.engine.dialect.name == "postgresql" else "'00' || id")
            + ", enterprise_id, 'other', batch_id, received_at, payload_hash, 'credited', 5, 0, 5"
            " from events"
        )
