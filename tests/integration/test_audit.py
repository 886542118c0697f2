"""The audit trail on SQLite and PostgreSQL (issue 12 item 5): administrative actions are
recorded with actor, time, before and after; the log refuses edits and deletions even when
the services are bypassed; `ledger verify` finds a record changed behind its back."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tanpuhui.bootstrap import App
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.officials import OfficialKind
from tanpuhui.domain.parties import Role
from tanpuhui.services.audit import list_audit
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.officials import add_official
from tanpuhui.services.parties import add_enterprise


def test_administrative_actions_are_recorded_in_a_chain(app: App) -> None:
    # the bundled catalogue, published when the database was made, is the first record
    (published,) = list_audit(app.ctx)
    assert (published.seq, published.record.kind, published.record.actor) == (
        1, "methodology.publish", "operator",
    )  # fmt: skip
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    gov = add_official(app.ctx, OfficialKind.GOVERNMENT, "深圳市", "440300").official

    records = list_audit(app.ctx)[1:]
    assert [(r.seq, r.record.kind) for r in records] == [(2, "enterprise.add"), (3, "official.add")]
    assert records[0].record.subject == f"enterprise:{bikes.id}"
    assert records[1].record.after == {"name": "深圳市", "region": "440300", "public_key": None}
    assert records[1].record.subject == f"government:{gov.id}"
    assert records[1].prev_hash == records[0].hash
    assert [r.seq for r in list_audit(app.ctx, kind="official.add")] == [3]
    assert list_audit(app.ctx, actor="verifier:nobody") == []
    later = records[1].record.at.replace(year=records[1].record.at.year + 1)
    assert list_audit(app.ctx, since=later) == []
    with pytest.raises(InvalidInputError):
        list_audit(app.ctx, kind="coffee")
    assert verify_ledger(app.ctx) == []


@pytest.mark.parametrize(
    "statement", ["update audit_log set actor = 'someone else'", "delete from audit_log"]
)
def test_the_audit_log_refuses_to_be_rewritten(app: App, statement: str) -> None:
    add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    with pytest.raises(sa.exc.DBAPIError), app.engine.begin() as conn:
        conn.exec_driver_sql(statement)


def test_verify_finds_a_record_changed_behind_the_services_back(app: App) -> None:
    add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    add_enterprise(app.ctx, "Maps", {Role.SCENE})
    with app.engine.begin() as conn:  # an administrator with the database password
        trigger = (
            "ALTER TABLE audit_log DISABLE TRIGGER trg_audit_log_append_only"
            if app.engine.dialect.name == "postgresql"
            else "DROP TRIGGER trg_audit_log_append_only_u"
        )
        conn.exec_driver_sql(trigger)
        conn.exec_driver_sql("update audit_log set subject = 'enterprise:forged' where seq = 1")
    codes = [v.code for v in verify_ledger(app.ctx)]
    assert codes == ["audit_chain_broken"]
