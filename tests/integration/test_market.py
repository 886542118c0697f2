"""The market on both engines: offers, sales with lineage, holds, idempotency and races.

Every test ends with `verify_ledger` clean, which includes the lineage checks (invariant 10).
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.programme_files import parse_programme
from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import App, build
from tanpuhui.config import Settings
from tanpuhui.domain.errors import TanpuhuiError
from tanpuhui.domain.ledger import enterprise_account, person_account
from tanpuhui.domain.market import OfferStatus, SaleStatus
from tanpuhui.domain.parties import Role
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.market import (
    OfferTerms,
    create_offer,
    expire_holds,
    get_offer,
    holdings_of,
    sell_reductions,
    set_offer_status,
    settle_hold,
)
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject, list_enterprises
from tanpuhui.services.programmes import publish_programme
from tests.builders import event
from tests.conftest import NOW
from tests.db_fixtures import rows

PROGRAMME = Path(__file__).parents[2] / "src/tanpuhui/programmes/luzhou.lvya@1.yaml"


def _publish(app: App) -> None:
    programme, content = parse_programme(PROGRAMME.read_text(), PROGRAMME.name)
    publish_programme(app.ctx, programme, content)


def _seller(app: App, rides: int = 3, subject: str = "u-1") -> tuple[uuid.UUID, int]:
    """A person with `rides` credited bike rides, a day apart (oldest first); their grams."""
    bikes = _enterprise(app, "Bikes", Role.SCENE)
    person = add_person(app.ctx)
    bind_subject(app.ctx, bikes, subject, person.id)
    events = [
        event(subject=subject, start=NOW - timedelta(days=rides - i, hours=3)) for i in range(rides)
    ]
    submit_events(app.ctx, bikes, events)
    return person.id, _balance(app, person_account(person.id))


def _enterprise(app: App, name: str, role: Role) -> uuid.UUID:
    found = [e.id for e in list_enterprises(app.ctx) if e.name == name]
    return found[0] if found else add_enterprise(app.ctx, name, {role}).id


def _balance(app: App, account: str, prefix: str = "co2e:") -> int:
    return sum(
        r.amount
        for r in rows(app, "select asset, amount from balances where account = :a", a=account)
        if r.asset.startswith(prefix)
    )


def _points_offer(app: App, **terms: object) -> uuid.UUID:
    _publish(app)
    buyer = _enterprise(app, "Maps", Role.PLATFORM)
    base: dict[str, object] = {
        "budget_grams": 10**6,
        "points_per_kg": 100,
        "programme": "luzhou.lvya",
    }
    base.update(terms)
    return create_offer(app.ctx, buyer, OfferTerms(**base)).offer.id  # type: ignore[arg-type]


def _clean(app: App) -> None:
    assert verify_ledger(app.ctx) == []


def test_a_sale_moves_grams_oldest_first_and_pays_points_in_one_entry(app: App) -> None:
    person, grams = _seller(app, rides=3)
    per_ride = grams // 3
    offer = _points_offer(app)
    sale = sell_reductions(app.ctx, person, offer, per_ride + 10, request_id="r-1")
    assert sale.status is SaleStatus.COMPLETED
    assert sale.sale.points == (per_ride + 10) * 100 // 1000
    oldest = sorted(
        rows(app, "select id, started_at from events where grams > 0"), key=lambda r: r.started_at
    )
    assert [lot.reduction_id for lot in sale.lots] == [uuid.UUID(str(r.id)) for r in oldest[:2]]
    assert [lot.grams for lot in sale.lots] == [per_ride, 10]
    buyer = _enterprise(app, "Maps", Role.PLATFORM)
    assert _balance(app, enterprise_account(buyer)) == per_ride + 10
    assert _balance(app, person_account(person)) == grams - per_ride - 10
    assert _balance(app, person_account(person), "points:") == sale.sale.points
    # lineage: the enterprise's grams trace to the two reductions, the person's to the rest
    held = holdings_of(app.ctx, enterprise_account(buyer))
    assert sum(lot.grams for lots in held.values() for lot in lots) == per_ride + 10
    # the buyer's lots are reductions in the seller's shard: their start and quality are read
    # by reduction id, not joined across shards, and are the reductions' own
    e = t.events.c
    with app.engine.connect() as conn:
        started = dict(conn.execute(sa.select(e.id, e.started_at).where(e.grams > 0)).all())
    with app.ctx.uow(write=False) as uow:
        gained = sorted(uow.market.lots_of(enterprise_account(buyer)), key=lambda lot: lot.grams)
    assert [(lot.started_at, lot.quality) for lot in gained] == [
        (started[lot.reduction_id], "2nd") for lot in gained
    ]
    assert [lot.reduction_id for lot in reversed(gained)] == [lot.reduction_id for lot in sale.lots]
    mine = holdings_of(app.ctx, person_account(person))
    assert sum(lot.grams for lots in mine.values() for lot in lots) == grams - per_ride - 10
    # a reduction never split costs no lineage row; the split one costs one per holder
    assert len(rows(app, "select * from holding_deltas")) == 4
    _clean(app)


def test_the_same_request_id_returns_the_same_sale_and_moves_nothing(app: App) -> None:
    person, grams = _seller(app)
    offer = _points_offer(app)
    first = sell_reductions(app.ctx, person, offer, 100, request_id="again")
    second = sell_reductions(app.ctx, person, offer, 100, request_id="again")
    assert second.replayed and second.sale.id == first.sale.id
    assert _balance(app, person_account(person)) == grams - 100
    with pytest.raises(TanpuhuiError) as refused:
        sell_reductions(app.ctx, person, offer, 101, request_id="again")
    assert refused.value.code == "request_conflict"
    _clean(app)


@pytest.mark.parametrize(
    ("terms", "grams", "code"),
    [
        ({"budget_grams": 50}, 60, "budget_exhausted"),
        ({"max_per_person_grams": 50}, 60, "per_person_limit"),
        ({"groups": ("food",)}, 10, "insufficient_balance"),
        ({"regions": ("510000",)}, 10, "insufficient_balance"),
        ({"min_quality": "text"}, 10, "insufficient_balance"),
        ({"min_grams": 20}, 10, "below_minimum"),
    ],
)
def test_a_sale_the_offer_refuses_moves_nothing(
    app: App, terms: dict[str, object], grams: int, code: str
) -> None:
    person, held = _seller(app)
    if "min_quality" in terms:
        from tanpuhui.domain.methodology import Confidence

        terms = {**terms, "min_quality": Confidence(str(terms["min_quality"]))}
        assert {r.quality for r in rows(app, "select quality from events")} != {"text"}
    offer = _points_offer(app, **terms)
    with pytest.raises(TanpuhuiError) as refused:
        sell_reductions(app.ctx, person, offer, grams)
    assert refused.value.code == code
    assert _balance(app, person_account(person)) == held
    assert rows(app, "select * from sales") == []
    _clean(app)


def test_a_paused_or_closed_offer_refuses_sales(app: App) -> None:
    person, _ = _seller(app)
    offer = _points_offer(app)
    set_offer_status(app.ctx, offer, OfferStatus.PAUSED)
    with pytest.raises(TanpuhuiError) as paused:
        sell_reductions(app.ctx, person, offer, 10)
    assert paused.value.code == "offer_closed"
    set_offer_status(app.ctx, offer, OfferStatus.OPEN)
    assert sell_reductions(app.ctx, person, offer, 10).status is SaleStatus.COMPLETED
    set_offer_status(app.ctx, offer, OfferStatus.CLOSED)
    with pytest.raises(TanpuhuiError) as closed:
        set_offer_status(app.ctx, offer, OfferStatus.OPEN)
    assert closed.value.code == "offer_closed"


def _coupon_offer(app: App, coupons: int = 5, hold_minutes: int | None = 30) -> uuid.UUID:
    buyer = _enterprise(app, "Coffee", Role.PLATFORM)
    terms = OfferTerms(
        budget_grams=10**6,
        coupons=tuple(f"C-{i}" for i in range(coupons)),
        hold_minutes=hold_minutes,
    )
    return create_offer(app.ctx, buyer, terms).offer.id


def test_a_hold_reserves_grams_until_confirmed(app: App) -> None:
    person, grams = _seller(app)
    offer = _coupon_offer(app)
    hold = sell_reductions(app.ctx, person, offer, grams - 5)
    assert hold.status is SaleStatus.HELD and hold.sale.coupon == "C-0"
    assert _balance(app, person_account(person)) == grams  # posted − held: nothing posted yet
    with pytest.raises(TanpuhuiError) as reserved:
        sell_reductions(app.ctx, person, offer, 10)
    assert reserved.value.code == "insufficient_balance"
    done = settle_hold(app.ctx, hold.sale.id, SaleStatus.CONFIRMED)
    assert done.status is SaleStatus.CONFIRMED
    assert _balance(app, person_account(person)) == 5
    again = settle_hold(app.ctx, hold.sale.id, SaleStatus.CONFIRMED)
    assert again.replayed
    with pytest.raises(TanpuhuiError) as final:
        settle_hold(app.ctx, hold.sale.id, SaleStatus.VOIDED)
    assert final.value.code == "hold_not_held"
    _clean(app)


def test_a_voided_hold_releases_its_grams_and_budget_and_cannot_be_confirmed(app: App) -> None:
    person, grams = _seller(app)
    offer = _coupon_offer(app)
    hold = sell_reductions(app.ctx, person, offer, grams)
    assert get_offer(app.ctx, offer).remaining_grams == 10**6 - grams
    settle_hold(app.ctx, hold.sale.id, SaleStatus.VOIDED)
    assert get_offer(app.ctx, offer).remaining_grams == 10**6
    with pytest.raises(TanpuhuiError) as refused:
        settle_hold(app.ctx, hold.sale.id, SaleStatus.CONFIRMED)
    assert refused.value.code == "hold_not_held"
    assert sell_reductions(app.ctx, person, offer, grams).status is SaleStatus.HELD
    _clean(app)


def test_a_hold_expires_by_the_clock_even_if_nobody_sweeps(app: App, clock: FixedClock) -> None:
    person, grams = _seller(app)
    offer = _coupon_offer(app, hold_minutes=30)
    hold = sell_reductions(app.ctx, person, offer, grams)
    clock.moment += timedelta(minutes=30)
    # not swept: the grams and the budget are free again by the clock alone
    assert get_offer(app.ctx, offer).remaining_grams == 10**6
    again = sell_reductions(app.ctx, person, offer, grams)
    assert again.status is SaleStatus.HELD
    with pytest.raises(TanpuhuiError) as expired:
        settle_hold(app.ctx, hold.sale.id, SaleStatus.CONFIRMED)
    assert expired.value.code == "hold_expired"
    clock.moment += timedelta(minutes=30)
    assert expire_holds(app.ctx) == 2
    statuses = {r.status for r in rows(app, "select status from sales")}
    assert statuses == {"expired"}
    assert get_offer(app.ctx, offer).remaining_grams == 10**6
    with pytest.raises(TanpuhuiError) as still:
        settle_hold(app.ctx, hold.sale.id, SaleStatus.CONFIRMED)
    assert still.value.code == "hold_expired"
    _clean(app)


def test_an_offer_without_coupons_left_refuses(app: App) -> None:
    person, _ = _seller(app)
    offer = _coupon_offer(app, coupons=1, hold_minutes=None)
    assert sell_reductions(app.ctx, person, offer, 10).sale.coupon == "C-0"
    with pytest.raises(TanpuhuiError) as refused:
        sell_reductions(app.ctx, person, offer, 10)
    assert refused.value.code == "coupons_exhausted"
    _clean(app)


def test_a_sale_killed_mid_transaction_leaves_nothing(app: App) -> None:
    """The sale row and its lots are written before the budget is taken: make the budget
    refuse then, and nothing of the sale may remain."""
    person, grams = _seller(app)
    offer = _points_offer(app)
    with app.engine.begin() as conn:
        conn.execute(sa.text("update offers set remaining_grams = 5"))
    with pytest.raises(TanpuhuiError) as refused:
        sell_reductions(app.ctx, person, offer, 10)
    assert refused.value.code == "budget_exhausted"
    for table in ("sales", "sale_lots", "holding_deltas", "postings"):
        if table == "postings":
            assert not rows(
                app,
                "select * from postings p join ledger_entries e on "
                "e.id = p.entry_id where e.kind = 'sale'",
            )
        else:
            assert rows(app, f"select * from {table}") == []
    assert _balance(app, person_account(person)) == grams
    _clean(app)


def _race(
    app: App,
    database_url: str,
    clock: FixedClock,
    calls: list[tuple[uuid.UUID, int]],
    offer: uuid.UUID,
) -> list[str]:
    """Run the sales at once from 16 threads of a second App; each call's outcome code."""
    racer = build(Settings(database_url=database_url), clock=clock)
    start = threading.Barrier(min(16, len(calls)))

    def one(call: tuple[uuid.UUID, int]) -> str:
        with contextlib.suppress(threading.BrokenBarrierError):
            start.wait(timeout=10)
        try:
            return sell_reductions(racer.ctx, call[0], offer, call[1]).status.value
        except TanpuhuiError as exc:
            return exc.code

    try:
        with ThreadPoolExecutor(16) as pool:
            return list(pool.map(one, calls))
    finally:
        racer.close()


def test_64_concurrent_sales_of_one_person_covering_10_give_exactly_10(
    app: App, database_url: str, clock: FixedClock
) -> None:
    person, grams = _seller(app, rides=4)
    size = grams // 10
    assert 10 * size <= grams < 11 * size
    offer = _points_offer(app)
    codes = _race(app, database_url, clock, [(person, size)] * 64, offer)
    assert codes.count("completed") == 10
    assert set(codes) == {"completed", "insufficient_balance"}
    assert _balance(app, person_account(person)) == grams - 10 * size >= 0
    _clean(app)


def test_64_sellers_racing_for_one_budget_never_oversell_it(
    app: App, database_url: str, clock: FixedClock
) -> None:
    sellers = [_seller(app, rides=1, subject=f"s-{i}")[0] for i in range(64)]
    offer = _points_offer(app, budget_grams=1000)
    codes = _race(app, database_url, clock, [(p, 100) for p in sellers], offer)
    assert codes.count("completed") == 10
    assert set(codes) == {"completed", "budget_exhausted"}
    assert get_offer(app.ctx, offer).remaining_grams == 0
    buyer = _enterprise(app, "Maps", Role.PLATFORM)
    assert _balance(app, enterprise_account(buyer)) == 1000
    _clean(app)


def test_ledger_verify_reports_lineage_that_does_not_add_up(app: App) -> None:
    """Invariant 10: a holder's lineage sums to its balance per class, and the lineage rollup
    agrees with the sale lines (before this check, verify saw nothing wrong)."""
    person, _ = _seller(app)
    sell_reductions(app.ctx, person, _points_offer(app), 50)
    _clean(app)
    with app.engine.begin() as conn:
        conn.execute(sa.text("update holding_deltas set grams = grams + 1 where grams > 0"))
    codes = {v.code for v in verify_ledger(app.ctx)}
    assert codes == {"lineage_mismatch", "lineage_rollup_mismatch"}
