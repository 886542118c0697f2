"""A coupon reserved by a hold goes back to the offer's pool, with its budget, when the hold is
voided or expires (by the clock, swept or not); a confirm racing the expiry keeps exactly one
outcome per hold (both engines)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import App, build
from tanpuhui.config import Settings
from tanpuhui.domain.errors import TanpuhuiError
from tanpuhui.domain.market import SaleStatus
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.market import expire_holds, get_offer, sell_reductions, settle_hold
from tests.integration.test_market import _coupon_offer, _seller

BUDGET = 10**6


def _pool(app: App, offer: uuid.UUID) -> dict[str, uuid.UUID | None]:
    c = t.offer_coupons.c
    with app.engine.connect() as conn:
        found = conn.execute(sa.select(c.code, c.sale_id).where(c.offer_id == offer)).all()
    return {r.code: r.sale_id for r in found}


def _statuses(app: App) -> dict[uuid.UUID, str]:
    s = t.sales.c
    with app.engine.connect() as conn:
        return {r.id: r.status for r in conn.execute(sa.select(s.id, s.status))}


def test_a_voided_hold_gives_its_coupon_back_to_the_pool(app: App) -> None:
    """Before: the code stayed with the voided hold, so the next seller of a one-code offer
    got `coupons_exhausted`."""
    first, _ = _seller(app, subject="u-1")
    second, _ = _seller(app, subject="u-2")
    offer = _coupon_offer(app, coupons=1)
    hold = sell_reductions(app.ctx, first, offer, 100)
    assert hold.sale.coupon == "C-0" and get_offer(app.ctx, offer).coupons_left == 0
    settle_hold(app.ctx, hold.sale.id, SaleStatus.VOIDED)
    view = get_offer(app.ctx, offer)
    assert (view.coupons_left, view.remaining_grams) == (1, BUDGET)
    assert _pool(app, offer) == {"C-0": None}
    again = sell_reductions(app.ctx, second, offer, 100)
    assert again.sale.coupon == "C-0" and _pool(app, offer) == {"C-0": again.sale.id}
    assert verify_ledger(app.ctx) == []


def test_an_expired_hold_gives_its_coupon_back_even_unswept(app: App, clock: FixedClock) -> None:
    """Before: an expired hold kept its code until forever, and the pool looked empty."""
    first, _ = _seller(app, subject="u-1")
    second, _ = _seller(app, subject="u-2")
    offer = _coupon_offer(app, coupons=1, hold_minutes=30)
    hold = sell_reductions(app.ctx, first, offer, 100)
    clock.moment += timedelta(minutes=30)
    view = get_offer(app.ctx, offer)  # by the clock alone, nobody swept
    assert (view.coupons_left, view.remaining_grams) == (1, BUDGET)
    again = sell_reductions(app.ctx, second, offer, 100)  # sweeps the offer's expired holds
    assert again.sale.coupon == "C-0"
    assert _statuses(app)[hold.sale.id] == "expired"
    clock.moment += timedelta(minutes=30)
    assert expire_holds(app.ctx) == 1  # the sweep returns the code as well
    assert _pool(app, offer) == {"C-0": None}
    assert get_offer(app.ctx, offer).remaining_grams == BUDGET
    assert verify_ledger(app.ctx) == []


def test_a_confirm_racing_the_expiry_has_one_outcome_per_hold(
    app: App, database_url: str, clock: FixedClock
) -> None:
    """The enterprise confirms (its clock a second before the expiry) while a sweeper
    expires (a second after): each hold ends confirmed with its code, or expired with its
    code and budget back in the pool, never both and never neither."""
    sellers = [_seller(app, subject=f"s-{i}")[0] for i in range(9)]
    offer = _coupon_offer(app, coupons=9, hold_minutes=30)
    *holds, untouched = [sell_reductions(app.ctx, p, offer, 100).sale for p in sellers]
    assert all(h.expires_at is not None for h in holds)
    clock.moment += timedelta(minutes=30, seconds=1)
    early = FixedClock(clock.moment - timedelta(seconds=2))
    confirmer = build(Settings(database_url=database_url), clock=early)
    start = threading.Barrier(9)

    def confirm(sale_id: uuid.UUID) -> str:
        start.wait(timeout=10)
        try:
            return settle_hold(confirmer.ctx, sale_id, SaleStatus.CONFIRMED).status.value
        except TanpuhuiError as exc:
            return exc.code

    def sweep() -> int:
        start.wait(timeout=10)
        return sum(expire_holds(app.ctx) for _ in range(3))

    try:
        with ThreadPoolExecutor(9) as pool:
            swept = pool.submit(sweep)
            codes = list(pool.map(confirm, [h.id for h in holds]))
            expired = swept.result()
    finally:
        confirmer.close()
    assert set(codes) <= {"confirmed", "hold_expired"}
    assert codes.count("confirmed") + expired == 9  # the ninth hold nobody confirms expires
    assert _pool(app, offer)[untouched.coupon or ""] is None
    status = _statuses(app)
    pool = _pool(app, offer)
    for hold, code in zip(holds, codes, strict=True):
        assert status[hold.id] == ("confirmed" if code == "confirmed" else "expired")
        assert pool[hold.coupon or ""] == (hold.id if code == "confirmed" else None)
    view = get_offer(app.ctx, offer)
    assert view.remaining_grams == BUDGET - 100 * codes.count("confirmed")
    assert view.coupons_left == expired
    assert verify_ledger(app.ctx) == []
