"""Sales in groups (services/market.py, `_sell_group`) on both engines: a group sells in one
transaction exactly what selling its requests one by one would, and leaves to its callers —
to be sold alone, with their precise answers — every request it cannot simply sell."""

from __future__ import annotations

import contextlib
import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tanpuhui.bootstrap import App
from tanpuhui.domain.errors import TanpuhuiError
from tanpuhui.domain.ledger import enterprise_account, person_account
from tanpuhui.domain.market import OfferStatus, SaleStatus
from tanpuhui.domain.parties import Role
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.market import (
    _ALONE,
    OfferTerms,
    SaleResult,
    _Request,
    _sell_group,
    create_offer,
    sell_reductions,
    set_offer_status,
)
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject
from tests.builders import event
from tests.conftest import NOW
from tests.db_fixtures import rows
from tests.integration.test_market import (
    _balance,
    _clean,
    _enterprise,
    _points_offer,
    _publish,
    _seller,
)
from tests.integration.test_properties import fresh_app


def _sold(outcome: object) -> SaleResult:
    assert isinstance(outcome, SaleResult), outcome
    return outcome


def test_a_group_sells_each_request_as_if_alone_in_one_transaction(app: App) -> None:
    a, a_grams = _seller(app, rides=3, subject="a")
    b, b_grams = _seller(app, rides=3, subject="b")
    offer = _points_offer(app)
    group = [
        _Request(a, offer, a_grams // 2, "a-1"),
        _Request(b, offer, b_grams - 1, "b-1"),
        _Request(a, offer, a_grams // 3, "a-2"),  # the same person again: the next lots
    ]
    sold = [_sold(x) for x in _sell_group(app.ctx, group)]
    assert [s.sale.grams for s in sold] == [a_grams // 2, b_grams - 1, a_grams // 3]
    assert all(s.status is SaleStatus.COMPLETED and sum(x.grams for x in s.lots) == s.sale.grams
               for s in sold)  # fmt: skip
    taken: dict[uuid.UUID, int] = {}
    for lot in sold[0].lots + sold[2].lots:  # a's two sales never take the same gram twice
        taken[lot.reduction_id] = taken.get(lot.reduction_id, 0) + lot.grams
    assert sum(taken.values()) == a_grams // 2 + a_grams // 3
    assert sold[2].lots[0].reduction_id == sold[0].lots[-1].reduction_id  # oldest first on
    assert _balance(app, person_account(a)) == a_grams - a_grams // 2 - a_grams // 3
    assert _balance(app, person_account(b)) == 1
    buyer = _enterprise(app, "Maps", Role.PLATFORM)
    assert _balance(app, enterprise_account(buyer)) == sum(s.sale.grams for s in sold)
    assert _balance(app, person_account(a), "points:") == sold[0].sale.points + sold[2].sale.points
    entries = rows(app, "select id from ledger_entries where kind = 'sale'")
    assert sorted(uuid.UUID(str(e.id)) for e in entries) == sorted(s.sale.entry_id for s in sold)
    # the same request ids again are replays, whatever path answers them
    again = sell_reductions(app.ctx, a, offer, a_grams // 2, request_id="a-1")
    assert again.replayed and again.sale.id == sold[0].sale.id
    _clean(app)


def test_what_a_group_cannot_simply_sell_is_left_to_be_sold_alone(app: App) -> None:
    a, _ = _seller(app, rides=3, subject="a")
    b, b_grams = _seller(app, rides=1, subject="b")
    c, _ = _seller(app, rides=1, subject="c")
    d, _ = _seller(app, rides=1, subject="d")
    e, _ = _seller(app, rides=1, subject="e")
    offer = _points_offer(app)
    small = _points_offer(app, budget_grams=15)
    cafe = _enterprise(app, "Cafe", Role.PLATFORM)
    coupons = create_offer(app.ctx, cafe, OfferTerms(10**6, coupons=("C-1", "C-2"))).offer.id
    earlier = sell_reductions(app.ctx, d, offer, 10, request_id="old")
    sell_reductions(app.ctx, e, small, 10, request_id="first")  # 5 g of budget left
    group = [
        _Request(a, offer, 10, "x"),
        _Request(a, offer, 10, "x"),  # repeated in the group
        _Request(b, offer, b_grams + 1, "too-much"),  # beyond the balance
        _Request(c, coupons, 10, "coupon"),  # pays a coupon
        _Request(d, offer, 10, "old"),  # stored already
        _Request(e, small, 10, "short"),  # the offer's budget cannot cover it
        _Request(c, offer, 10, "c-1"),
    ]
    outcomes = _sell_group(app.ctx, group)
    first = _sold(outcomes[0])
    assert outcomes[1] is _ALONE and outcomes[3] is _ALONE and outcomes[4] is _ALONE
    # refusals the group can prove (offer open under its row lock, person known) it answers,
    # as alone
    assert isinstance(outcomes[2], TanpuhuiError) and outcomes[2].code == "insufficient_balance"
    assert isinstance(outcomes[5], TanpuhuiError) and outcomes[5].code == "budget_exhausted"
    assert outcomes[5].details == {"remaining_grams": 5}
    _sold(outcomes[6])
    # sold alone, each gets its precise answer; the group's refusals are the same
    assert sell_reductions(app.ctx, a, offer, 10, request_id="x").sale.id == first.sale.id
    with pytest.raises(TanpuhuiError) as refused:
        sell_reductions(app.ctx, b, offer, b_grams + 1, request_id="too-much")
    assert (refused.value.code, str(refused.value)) == ("insufficient_balance", str(outcomes[2]))
    assert refused.value.details == outcomes[2].details
    assert sell_reductions(app.ctx, c, coupons, 10, request_id="coupon").sale.coupon == "C-1"
    replay = sell_reductions(app.ctx, d, offer, 10, request_id="old")
    assert replay.replayed and replay.sale.id == earlier.sale.id
    with pytest.raises(TanpuhuiError) as refused:
        sell_reductions(app.ctx, e, small, 10, request_id="short")
    assert (refused.value.code, str(refused.value)) == ("budget_exhausted", str(outcomes[5]))
    assert refused.value.details == outcomes[5].details
    assert _balance(app, enterprise_account(_enterprise(app, "Maps", Role.PLATFORM))) == 40
    _clean(app)


def test_a_group_whose_transaction_fails_leaves_every_request_to_be_sold_alone(
    app: App,
) -> None:
    """A person's balance row changed behind the lots (as a corrupted or concurrent writer
    would): the group's debit fails the database's check, the whole group rolls back, and
    each request is answered alone (here: refused by the same check, nothing half-done)."""
    a, grams = _seller(app, rides=2, subject="a")
    b, _ = _seller(app, rides=2, subject="b")
    offer = _points_offer(app)
    with app.engine.begin() as conn:
        conn.exec_driver_sql(
            "update balances set amount = 1 where account = ? and asset like 'co2e:%'"
            if app.engine.dialect.name == "sqlite"
            else "update balances set amount = 1 where account = %s and asset like 'co2e:%%'",
            (person_account(a),),
        )
    outcomes = _sell_group(
        app.ctx, [_Request(a, offer, grams // 2, "a"), _Request(b, offer, 10, "b")]
    )
    assert all(x is _ALONE for x in outcomes)
    assert rows(app, "select id from sales") == []
    assert _sold(sell_reductions(app.ctx, b, offer, 10, request_id="b")).sale.grams == 10


def test_a_group_answers_a_closed_offer_and_leaves_an_unknown_person_alone(app: App) -> None:
    """A paused offer refuses the group's total; the group runs again knowing it is paused
    and answers `offer_closed` as alone. A person without reductions may not exist: that
    refusal is left to the lone sale (`not_found`)."""
    a, _ = _seller(app, rides=1, subject="a")
    b, _ = _seller(app, rides=1, subject="b")
    offer = _points_offer(app)
    sell_reductions(app.ctx, a, offer, 10, request_id="warm")  # its terms are cached now
    set_offer_status(app.ctx, offer, OfferStatus.PAUSED)
    stranger = uuid.uuid4()
    outcomes = _sell_group(
        app.ctx,
        [_Request(a, offer, 10, "p-1"), _Request(b, offer, 10, "p-2"),
         _Request(stranger, offer, 10, "p-3")],
    )  # fmt: skip
    assert [getattr(x, "code", None) for x in outcomes[:2]] == ["offer_closed"] * 2
    assert outcomes[2] is _ALONE or getattr(outcomes[2], "code", None) == "offer_closed"
    with pytest.raises(TanpuhuiError) as refused:
        sell_reductions(app.ctx, a, offer, 10, request_id="p-1")
    assert (refused.value.code, str(refused.value)) == ("offer_closed", str(outcomes[0]))
    set_offer_status(app.ctx, offer, OfferStatus.OPEN)
    outcomes = _sell_group(
        app.ctx, [_Request(a, offer, 10, "q-1"), _Request(stranger, offer, 10, "q-2")]
    )
    _sold(outcomes[0])
    assert outcomes[1] is _ALONE
    with pytest.raises(TanpuhuiError) as refused:
        sell_reductions(app.ctx, stranger, offer, 10, request_id="q-2")
    assert refused.value.code == "not_found"
    _clean(app)


# --- property: a group answers as its requests sold one by one -----------------------------

UNKNOWN = uuid.UUID("00000000-0000-7000-8000-000000000001")
a_request = st.tuples(
    st.integers(0, 3),  # 3: a person the platform does not know
    st.sampled_from([5, 10, 100, 250, 700]),
    st.sampled_from(["r0", "r1", "r2", "r3"]),  # few ids: repeats and stored ones
)


class Market:
    """The same small market, built alike on each database: three sellers with 1-3 rides, a
    points offer (budget and per-person limit drawn), and a sale stored under "r0"."""

    def __init__(self, app: App, rides: list[int], budget: int, most: int | None) -> None:
        self.app = app
        _publish(app)
        bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE}).id
        buyer = add_enterprise(app.ctx, "Maps", {Role.PLATFORM}).id
        self.buyer = enterprise_account(buyer)
        self.persons = [add_person(app.ctx).id for _ in rides]
        for k, (person, count) in enumerate(zip(self.persons, rides, strict=True)):
            bind_subject(app.ctx, bikes, f"s{k}", person)
            submit_events(app.ctx, bikes, [
                event(event_id=f"e{k}-{i}", subject=f"s{k}",
                      start=NOW - timedelta(days=count - i, hours=2 + k))
                for i in range(count)
            ])  # fmt: skip
        self.offer = create_offer(
            app.ctx, buyer,
            OfferTerms(budget, points_per_kg=100, programme="luzhou.lvya", min_grams=10,
                       max_per_person_grams=most),
        ).offer.id  # fmt: skip
        with contextlib.suppress(TanpuhuiError):
            sell_reductions(app.ctx, self.persons[0], self.offer, 10, request_id="r0")

    def request(self, who: int, grams: int, rid: str) -> _Request:
        return _Request(self.persons[who] if who < 3 else UNKNOWN, self.offer, grams, rid)

    def alone(self, r: _Request) -> object:
        try:
            return _answer(sell_reductions(self.app.ctx, r.person_id, r.offer_id, r.grams,
                                           r.request_id))  # fmt: skip
        except TanpuhuiError as exc:
            return _answer(exc)

    def holdings(self) -> list[int]:
        return [_balance(self.app, a) for a in [*map(person_account, self.persons), self.buyer]]


def _answer(outcome: object) -> object:
    """What a caller sees, without ids (they differ between the two databases)."""
    if isinstance(outcome, TanpuhuiError):
        return (outcome.code, outcome.details)
    assert isinstance(outcome, SaleResult), outcome
    lots = [(lot.started_at, lot.grams) for lot in outcome.lots]
    return ("sold", outcome.sale.grams, outcome.sale.points, outcome.replayed, lots)


@pytest.mark.parametrize(
    ("engine", "examples"),
    [("sqlite", 20), pytest.param("postgres", 5, marks=pytest.mark.postgres)],
)
def test_a_group_answers_as_its_requests_sold_one_by_one(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    engine: str,
    examples: int,
) -> None:
    """Adversarial groups — one person asking many times, repeated and stored request ids,
    amounts beyond the balance, the limit or the budget, an unknown person — get, request by
    request, the answers the same requests get sold one at a time on a twin database in the
    order the group implies (the group's own first, then those it left to be sold alone), and
    both ledgers end the same and verified."""

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        group=st.lists(a_request, min_size=2, max_size=8),
        rides=st.lists(st.integers(1, 3), min_size=3, max_size=3),
        budget=st.sampled_from([200, 600, 5000]),
        most=st.sampled_from([None, 300]),
    )
    def twins(
        group: list[tuple[int, int, str]], rides: list[int], budget: int, most: int | None
    ) -> None:
        with (
            fresh_app(request, engine, tmp_path_factory) as one,
            fresh_app(request, engine, tmp_path_factory) as other,
        ):
            grouped, serial = Market(one, rides, budget, most), Market(other, rides, budget, most)
            outcomes = _sell_group(one.ctx, [grouped.request(*r) for r in group])
            got = [None if x is _ALONE else _answer(x) for x in outcomes]
            for i, x in enumerate(outcomes):
                if x is _ALONE:
                    got[i] = grouped.alone(grouped.request(*group[i]))
            order = [i for i, x in enumerate(outcomes) if x is not _ALONE]
            order += [i for i, x in enumerate(outcomes) if x is _ALONE]
            expected: list[object] = [None] * len(group)
            for i in order:
                expected[i] = serial.alone(serial.request(*group[i]))
            assert got == expected
            assert grouped.holdings() == serial.holdings()
            assert verify_ledger(one.ctx) == []

    twins()
