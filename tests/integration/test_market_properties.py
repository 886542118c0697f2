"""Property test of the market: random interleavings of intake (bike rides and Luzhou bus
rides that earn points), binding of pending subjects, sales to a points offer and to a coupon
offer whose sales are holds, confirmations, voids, clock steps past hold expiries, sweeps,
redemptions at a partner merchant, points expiry and re-quantification of the bike rides
down to a corrected factor (their grams come back out of whichever lots hold them).

After every step: no holder balance is negative; the offers' budgets are never negative and
equal their budget minus the grams of live sales; each holder's lineage (the reductions behind
its grams) sums to its balance per class, from the same lots the sales allocate (plus what
the buffer covered of its reductions); and at the
end `ledger verify` (every invariant of DESIGN.md §5 including invariant 10) is clean. Each
example runs on a fresh database.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.programme_files import parse_programme
from tanpuhui.bootstrap import App
from tanpuhui.domain.errors import TanpuhuiError
from tanpuhui.domain.ledger import enterprise_account, pending_account, person_account
from tanpuhui.domain.market import SaleStatus
from tanpuhui.domain.parties import Role
from tanpuhui.services.catalogue import publish_version
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.market import (
    OfferTerms,
    create_offer,
    expire_holds,
    sales_of_person,
    sell_reductions,
    settle_hold,
)
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject
from tanpuhui.services.points import expire_points, redeem_points
from tanpuhui.services.programmes import publish_programme
from tanpuhui.services.requantify import requantify
from tests.builders import event
from tests.conftest import NOW
from tests.integration.test_properties import fresh_app
from tests.integration.test_requantify import CODE, version_3

PROGRAMME = Path(__file__).parents[2] / "src/tanpuhui/programmes/luzhou.lvya@1.yaml"
SUBJECTS = ("a", "b", "c")
REFUSALS = {
    "insufficient_balance", "budget_exhausted", "coupons_exhausted", "per_person_limit",
    "hold_not_held", "hold_expired", "below_minimum", "not_found",
}  # fmt: skip

step = st.one_of(
    st.tuples(st.just("ride"), st.sampled_from(SUBJECTS), st.integers(0, 40), st.booleans()),
    st.tuples(st.just("bind"), st.sampled_from(SUBJECTS)),
    st.tuples(st.just("sell"), st.integers(0, 2), st.sampled_from([100, 250, 700])),
    st.tuples(st.just("hold"), st.integers(0, 2), st.sampled_from([50, 300])),
    st.tuples(st.just("confirm"), st.integers(0, 5)),
    st.tuples(st.just("void"), st.integers(0, 5)),
    st.tuples(st.just("later"), st.sampled_from([10, 31, 60 * 24 * 200])),
    st.tuples(st.just("sweep")),
    st.tuples(st.just("redeem"), st.integers(0, 2), st.integers(1, 30)),
    st.tuples(st.just("replay"), st.integers(0, 2)),
    st.tuples(st.just("requantify")),
)


class World:
    def __init__(self, app: App) -> None:
        self.app, self.ctx = app, app.ctx
        programme, content = parse_programme(PROGRAMME.read_text(), PROGRAMME.name)
        publish_programme(self.ctx, programme, content)
        self.scene = add_enterprise(self.ctx, "Luzhou Bus", {Role.SCENE, Role.PLATFORM}).id
        self.buyer = add_enterprise(self.ctx, "Maps", {Role.PLATFORM}).id
        self.persons = [add_person(self.ctx).id for _ in SUBJECTS]
        self.points_offer = create_offer(
            self.ctx, self.buyer,
            OfferTerms(5000, points_per_kg=100, programme="luzhou.lvya", max_per_person_grams=3000),
        ).offer.id  # fmt: skip
        codes = tuple(f"K{i}" for i in range(6))
        self.coupon_offer = create_offer(
            self.ctx, self.buyer, OfferTerms(2000, coupons=codes, hold_minutes=30)
        ).offer.id
        publish_version(self.ctx, version_3(app, value="10"), NOW.date() + timedelta(days=1))
        self.sequence = 0
        self.requests: list[tuple[uuid.UUID, uuid.UUID, int, str]] = []

    def apply(self, move: tuple[object, ...]) -> None:
        kind = move[0]
        try:
            getattr(self, f"_{kind}")(*move[1:])
        except TanpuhuiError as exc:
            assert exc.code in REFUSALS, (move, exc.code, exc.message)

    def _ride(self, subject: str, slot: int, bus: bool) -> None:
        self.sequence += 1
        start = NOW - timedelta(days=3) + timedelta(minutes=25 * slot)
        extra = (
            {"behaviour": "bus_ride", "region": "510502", "quantity": {"distance_km": "5"}}
            if bus
            else {}
        )
        submit_events(self.ctx, self.scene, [
            event(event_id=f"e{self.sequence}", subject=subject, start=start, minutes=10, **extra)
        ])  # fmt: skip

    def _bind(self, subject: str) -> None:
        bind_subject(self.ctx, self.scene, subject, self.persons[SUBJECTS.index(subject)])

    def _sell(self, who: int, grams: int) -> None:
        rid = f"q{self.sequence}-{len(self.requests)}"
        sell_reductions(self.ctx, self.persons[who], self.points_offer, grams, rid)
        # only a sale that happened is replayed: a refused request stores nothing, and the
        # same id retried later (the balance grown) is a new attempt, not a replay
        self.requests.append((self.persons[who], self.points_offer, grams, rid))

    def _hold(self, who: int, grams: int) -> None:
        sell_reductions(self.ctx, self.persons[who], self.coupon_offer, grams)

    def _holds(self) -> list[uuid.UUID]:
        return [r.sale.id for p in self.persons for r in sales_of_person(self.ctx, p)
                if r.sale.offer_id == self.coupon_offer]  # fmt: skip

    def _confirm(self, index: int) -> None:
        holds = self._holds()
        if holds:
            settle_hold(self.ctx, holds[index % len(holds)], SaleStatus.CONFIRMED)

    def _void(self, index: int) -> None:
        holds = self._holds()
        if holds:
            settle_hold(self.ctx, holds[index % len(holds)], SaleStatus.VOIDED)

    def _later(self, minutes: int) -> None:
        self.app.ctx.clock.moment += timedelta(minutes=minutes)  # type: ignore[attr-defined]
        expire_points(self.ctx)

    def _sweep(self) -> None:
        expire_holds(self.ctx)

    def _redeem(self, who: int, points: int) -> None:
        redeem_points(
            self.ctx, self.scene, self.persons[who], "luzhou.lvya", points, f"r{points}{who}"
        )

    def _replay(self, index: int) -> None:
        if self.requests:
            person, offer, grams, rid = self.requests[index % len(self.requests)]
            before = self._balances()
            result = sell_reductions(self.ctx, person, offer, grams, rid)
            assert result.replayed and self._balances() == before

    def _requantify(self) -> None:
        requantify(self.ctx, CODE, 2, 3, apply=True)

    def _lineage(self, holder: str) -> dict[str, int]:
        """A holder's lots per class (negative ones too) plus what the buffer covered of the
        reductions it is the event holder of."""
        traced: dict[str, int] = defaultdict(int)
        with self.ctx.uow(write=False) as uow:
            for lot in uow.market.lots_of(holder):
                traced[lot.asset] += lot.grams
        p, e = t.postings.c, t.events.c
        with self.app.engine.connect() as conn:
            for asset, grams in conn.execute(
                sa.select(p.asset, sa.func.sum(p.amount))
                .select_from(t.postings.join(t.events, e.id == p.reduction_id))
                .where(p.account.like("buffer:%"), e.holder == holder)
                .group_by(p.asset)
            ):
                traced[asset] -= int(grams)
        return {a: v for a, v in traced.items() if v}

    def _balances(self) -> dict[tuple[str, str], int]:
        with self.app.engine.connect() as conn:
            return {(r[0], r[1]): int(r[2]) for r in conn.execute(
                sa.text("select account, asset, amount from balances"))}  # fmt: skip

    def check(self) -> None:
        balances = self._balances()
        # what may go below zero is what the schema allows: an issuance account (the source of
        # every gram) and a methodology's buffer (it covers grams a re-quantification takes
        # back from a holder who has sold or reserved them)
        exempt = ("issuance:", "buffer:")
        assert all(v >= 0 for (a, _), v in balances.items() if not a.startswith(exempt))
        holders = [person_account(p) for p in self.persons] + [enterprise_account(self.buyer)]
        holders += [pending_account(self.scene, s) for s in SUBJECTS]
        for holder in holders:
            lineage = self._lineage(holder)
            held = {
                a: v
                for (h, a), v in balances.items()
                if h == holder and a.startswith("co2e:") and v
            }
            assert lineage == held, holder
        o, sale = t.offers.c, t.sales.c
        live = sale.status.in_(["completed", "confirmed", "held"])
        with self.app.engine.connect() as conn:
            for offer, budget in ((self.points_offer, 5000), (self.coupon_offer, 2000)):
                remaining = conn.execute(
                    sa.select(o.remaining_grams).where(o.id == offer)
                ).scalar_one()
                sold = conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(sale.grams), 0)).where(
                        sale.offer_id == offer, live
                    )
                ).scalar_one()
                assert 0 <= remaining == budget - sold


@pytest.mark.parametrize(
    ("engine", "examples"),
    [("sqlite", 15), pytest.param("postgres", 4, marks=pytest.mark.postgres)],
)
def test_random_market_interleavings_keep_every_invariant_and_the_lineage(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    engine: str,
    examples: int,
) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(steps=st.lists(step, min_size=10, max_size=40))
    def interleaving(steps: list[tuple[object, ...]]) -> None:
        with fresh_app(request, engine, tmp_path_factory) as app:
            world = World(app)
            for move in steps:
                world.apply(move)
                world.check()
            assert verify_ledger(app.ctx) == []

    interleaving()
