"""MRV verification of issuance batches on SQLite and PostgreSQL (issue 12 item 4): a batch
with its monitoring report, a sample reproducible from its seed and recomputed with the engine,
approve (reductions verified), reject (reversed by a correcting entry), reject after a partial
sale (the buffer covers what the person no longer has), the invariants afterwards."""

from __future__ import annotations

import json
import uuid

import pytest

from tanpuhui.adapters.crypto import sign
from tanpuhui.bootstrap import App
from tanpuhui.domain.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from tanpuhui.domain.ledger import enterprise_account
from tanpuhui.domain.mrv import canonical, signed_bytes
from tanpuhui.domain.parties import Role
from tanpuhui.services.aggregates import regional_stats
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.market import OfferTerms, create_offer, sell_reductions
from tanpuhui.services.mrv import (
    SignedStatement,
    approve_batch,
    create_batch,
    sample_batch,
    show_batch,
    verify_batches,
)
from tanpuhui.services.parties import add_enterprise, add_persons, bind_subjects
from tests.builders import event
from tests.conftest import CST, NOW
from tests.db_fixtures import rows
from tests.mrv_signing import Verifier, new_verifier

MONTH = NOW.astimezone(CST).strftime("%Y-%m")
REGION = "440305"


def _credited(app: App, n: int = 12) -> tuple[uuid.UUID, int, str]:
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE}).id
    subjects = [f"s-{i}" for i in range(n)]
    persons = add_persons(app.ctx, n)
    bind_subjects(app.ctx, [(bikes, s, p.id) for s, p in zip(subjects, persons, strict=True)])
    out = submit_events(
        app.ctx, bikes, [event(subject=s, region=REGION, event_id=s) for s in subjects]
    )
    methodology = out[0].methodology
    assert methodology is not None
    return bikes, sum(o.grams for o in out), methodology


def _verifier(app: App, name: str = "CQC") -> Verifier:
    return new_verifier(app.ctx, name)


def test_a_batch_reports_its_reductions_and_a_seeded_sample_is_reproducible(app: App) -> None:
    _, grams, methodology = _credited(app)
    batch = create_batch(app.ctx, methodology, "440300", MONTH)
    assert (batch.report["reductions"], batch.report["grams"], batch.report["persons"]) == (
        12, grams, 12,
    )  # fmt: skip
    assert batch.report["by_region"] == {REGION: grams}
    assert batch.report["methodology"] == methodology
    with pytest.raises(InvalidInputError) as empty:  # every reduction is batched already
        create_batch(app.ctx, methodology, "440300", MONTH)
    assert empty.value.code == "empty_batch"

    cqc = _verifier(app)
    first = cqc.sample(app.ctx, batch.id, seed=42, size=5)
    again = cqc.sample(app.ctx, batch.id, seed=42, size=5)
    other = cqc.sample(app.ctx, batch.id, seed=7, size=5)
    assert len(first) == 5 and first == again
    assert [r["reduction_id"] for r in first] != [r["reduction_id"] for r in other]
    assert all(r["consistent"] and r["recomputed_grams"] == r["credited_grams"] for r in first)
    shown = show_batch(app.ctx, batch.id)
    assert (shown["sample_seed"], shown["sample"]) == (7, other)
    with pytest.raises(AuthenticationError):  # the operator is not a verifier
        sample_batch(app.ctx, batch.id, None, cqc.statement(app.ctx, batch.id, "sample", seed=1))


def test_approving_marks_the_reductions_verified_once(app: App) -> None:
    _, _, methodology = _credited(app)
    batch = create_batch(app.ctx, methodology, None, MONTH)
    cqc = _verifier(app)
    cqc.approve(app.ctx, batch.id, "sample recomputed, evidence seen")
    shown = show_batch(app.ctx, batch.id)
    assert (shown["state"], shown["verification"]) == ("approved", {"verified": 12})
    assert shown["decided_by"] is not None and shown["decided_at"] is not None
    with pytest.raises(ConflictError) as twice:
        cqc.reject(app.ctx, batch.id, "changed my mind")
    assert twice.value.code == "batch_decided"
    assert verify_ledger(app.ctx) == []


def test_rejecting_reverses_every_reduction(app: App) -> None:
    _, grams, methodology = _credited(app)
    batch = create_batch(app.ctx, methodology, REGION, MONTH)
    with pytest.raises(InvalidInputError):
        _verifier(app).reject(app.ctx, batch.id, " ")
    covered = _verifier(app, "Other").reject(app.ctx, batch.id, "evidence missing")
    assert covered == 0
    states = {r[0] for r in rows(app, "select state from events where grams > 0")}
    assert states == {"reversed"}
    stats = regional_stats(app.ctx, region=REGION, period=MONTH, min_persons=1).total
    assert (stats.grams, stats.events) == (0, 0)
    assert show_batch(app.ctx, batch.id)["verification"] == {"rejected": 12}
    assert verify_ledger(app.ctx) == []
    assert grams > 0


def test_rejecting_after_a_partial_sale_takes_the_rest_from_the_buffer(app: App) -> None:
    _, grams, methodology = _credited(app)
    buyer = add_enterprise(app.ctx, "Coffee", {Role.PLATFORM}).id
    holder, asset, held = rows(
        app, "select holder, asset, live_grams from events where grams > 0 order by id limit 1"
    )[0]
    sold = held // 2 + 1
    # the person sells part of it to a coupon offer, through the market (with its lineage)
    offer = create_offer(app.ctx, buyer, OfferTerms(10 * sold, coupons=("C-1",))).offer.id
    sell_reductions(app.ctx, uuid.UUID(holder.removeprefix("person:")), offer, sold)
    batch = create_batch(app.ctx, methodology, REGION, MONTH)

    covered = _verifier(app).reject(app.ctx, batch.id, "double reporting found")

    assert covered == sold
    balances = {(a, s): n for a, s, n in rows(app, "select account, asset, amount from balances")}
    code = methodology.split("@")[0]
    assert balances[(f"buffer:{code}", asset)] == -sold
    assert balances[(enterprise_account(buyer), asset)] == sold  # the buyer keeps what it bought
    assert balances.get((holder, asset), 0) == 0
    assert verify_ledger(app.ctx) == []
    assert grams > sold


def test_a_scene_enterprise_batch_spans_its_methodologies_and_rejects_as_one(app: App) -> None:
    bikes, grams, methodology = _credited(app)
    other = add_enterprise(app.ctx, "Maps", {Role.SCENE}).id  # its rides are not in the batch
    person = add_persons(app.ctx, 1)[0]
    bind_subjects(app.ctx, [(other, "m-1", person.id)])
    submit_events(app.ctx, other, [event(subject="m-1", region=REGION, event_id="m-1")])
    with pytest.raises(InvalidInputError) as both:
        create_batch(app.ctx, methodology, None, MONTH, enterprise=bikes)
    assert both.value.code == "invalid_batch"
    with pytest.raises(NotFoundError):
        create_batch(app.ctx, None, None, MONTH, enterprise=uuid.uuid4())

    batch = create_batch(app.ctx, None, None, MONTH, enterprise=bikes)
    report = batch.report
    assert (report["enterprise"], report["reductions"], report["grams"]) == (str(bikes), 12, grams)
    assert report["by_methodology"] == {methodology: grams}
    assert [m["methodology"] for m in report["methodologies"]] == [methodology]
    cqc = _verifier(app)
    drawn = cqc.sample(app.ctx, batch.id, seed=5, size=3)
    assert len(drawn) == 3 and all(r["methodology"] == methodology for r in drawn)
    assert cqc.reject(app.ctx, batch.id, "meters not calibrated") == 0
    assert show_batch(app.ctx, batch.id)["verification"] == {"rejected": 12}
    # Maps' reduction is untouched and can still form its own batch
    assert create_batch(app.ctx, None, None, MONTH, enterprise=other).report["reductions"] == 1
    assert verify_ledger(app.ctx) == []


def test_every_state_change_is_a_statement_signed_by_its_actor(app: App) -> None:
    _, _, methodology = _credited(app)
    batch = create_batch(app.ctx, methodology, None, MONTH)
    cqc, other = _verifier(app), _verifier(app, "Other")
    cqc.sample(app.ctx, batch.id, seed=1, size=2)
    cqc.approve(app.ctx, batch.id, "fine")
    shown = show_batch(app.ctx, batch.id)
    assert [(s["action"], s["actor"]) for s in shown["statements"]] == [
        ("create", "platform"), ("sample", cqc.official.actor), ("approve", cqc.official.actor),
    ]  # fmt: skip
    assert shown["signatures"] == {"valid": True, "problems": []}
    approve = json.loads(shown["statements"][2]["statement"])
    assert (approve["comment"], approve["members_sha256"]) == ("fine", shown["members_sha256"])
    assert verify_batches(app.ctx) == []
    del other


def test_a_statement_that_is_not_the_verifiers_is_refused(app: App) -> None:
    _, _, methodology = _credited(app)
    batch = create_batch(app.ctx, methodology, None, MONTH)
    cqc, other = _verifier(app), _verifier(app, "Other")
    good = cqc.statement(app.ctx, batch.id, "approve", comment="ok")

    def refused(token: str, signed: SignedStatement) -> str:
        with pytest.raises((InvalidInputError, AuthenticationError)) as err:
            approve_batch(app.ctx, batch.id, token, signed)
        return err.value.code

    # signed by another verifier's key, or naming another verifier
    forged = SignedStatement(good.text, other.statement(app.ctx, batch.id, "approve").signature)
    assert refused(cqc.token, forged) == "invalid_signature"
    assert refused(other.token, good) == "invalid_statement"
    # a changed comment, another action, another batch, an old time
    assert refused(cqc.token, SignedStatement(good.text.replace('"ok"', '"OK"'),
                                              good.signature)) == "invalid_signature"  # fmt: skip
    assert refused(cqc.token, cqc.statement(app.ctx, batch.id, "reject", comment="x")) == (
        "invalid_statement"
    )
    stale = json.loads(good.text) | {"at": "2020-01-01T00:00:00+00:00"}
    assert refused(cqc.token, _sign(cqc, canonical(stale))) == "invalid_statement"
    assert refused(cqc.token, _sign(cqc, json.dumps(json.loads(good.text)))) == (
        "invalid_statement"  # not canonical
    )
    assert show_batch(app.ctx, batch.id)["state"] == "open"
    approve_batch(app.ctx, batch.id, cqc.token, good)
    assert show_batch(app.ctx, batch.id)["state"] == "approved"


@pytest.mark.parametrize(
    "tamper",
    [
        "update mrv_statements set statement = replace(statement, '\"fine\"', '\"great\"') "
        "where action = 'approve'",
        "update issuance_batches set comment = 'x', state = 'rejected'",
        "update issuance_batches set comment = 'all good'",
        "update issuance_batches set sample_seed = 2",
        "update issuance_batches set report = replace(report, '\"reductions\": 12', "
        "'\"reductions\": 13')",
        "delete from batch_reductions where reduction_id = (select reduction_id "
        "from batch_reductions order by reduction_id limit 1)",
        "delete from mrv_statements where action = 'approve'",
    ],
)
def test_a_tampered_statement_or_batch_is_detected(app: App, tamper: str) -> None:
    _, _, methodology = _credited(app)
    batch = create_batch(app.ctx, methodology, None, MONTH)
    cqc = _verifier(app)
    cqc.sample(app.ctx, batch.id, seed=1, size=2)
    cqc.approve(app.ctx, batch.id, "fine")
    assert verify_ledger(app.ctx) == []
    with app.engine.begin() as conn:  # someone with the database password
        assert conn.exec_driver_sql(tamper).rowcount >= 1
    assert show_batch(app.ctx, batch.id)["signatures"]["valid"] is False
    found = verify_batches(app.ctx)
    assert found and {v.code for v in found} == {"mrv_statement_invalid"}
    assert "mrv_statement_invalid" in {v.code for v in verify_ledger(app.ctx)}


def _sign(v: Verifier, text: str) -> SignedStatement:
    return SignedStatement(text, sign(v.key, signed_bytes(text)))
