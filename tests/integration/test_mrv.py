"""MRV verification of issuance batches on SQLite and PostgreSQL (issue 12 item 4): a batch
with its monitoring report, a sample reproducible from its seed and recomputed with the engine,
approve (reductions verified), reject (reversed by a correcting entry), reject after a partial
sale (the buffer covers what the person no longer has), the invariants afterwards."""

from __future__ import annotations

import uuid

import pytest

from tanpuhui.bootstrap import App
from tanpuhui.domain.errors import AuthenticationError, ConflictError, InvalidInputError
from tanpuhui.domain.ledger import enterprise_account
from tanpuhui.domain.parties import Role
from tanpuhui.services.aggregates import regional_stats
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.market import OfferTerms, create_offer, sell_reductions
from tanpuhui.services.mrv import (
    create_batch,
    sample_batch,
    show_batch,
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
