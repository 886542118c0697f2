"""The market's domain (domain/market.py, domain/points.py, domain/programmes.py): what an
offer accepts and refuses, oldest-first allocation with lineage, the hold state machine with
expiry by the clock, points rules, daily caps and expiry."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tanpuhui.domain.errors import (
    HoldExpiredError,
    HoldStateError,
    InsufficientBalanceError,
    InvalidInputError,
    OfferClosedError,
)
from tanpuhui.domain.market import (
    Lot,
    Offer,
    OfferStatus,
    Sale,
    SaleStatus,
    allocate,
    available_lots,
    lineage_deltas,
    points_for,
    sale_entry,
    smallest_sale,
)
from tanpuhui.domain.methodology import Confidence
from tanpuhui.domain.points import (
    Credit,
    award_entry,
    expired_points,
    plan_awards,
    region_within,
    transfer_entry,
)
from tanpuhui.domain.programmes import PointsBasis, PointsRule, Programme
from tests.conftest import NOW

A = "co2e:mobility:420000:2026-11"
B = "co2e:food:510000:2026-10"


def offer(**kw: object) -> Offer:
    base: dict[str, object] = {
        "id": uuid.uuid4(), "enterprise_id": uuid.uuid4(), "status": OfferStatus.OPEN,
        "budget_grams": 10_000, "min_grams": 1, "max_per_person_grams": None, "groups": (),
        "regions": (), "vintages": (), "min_quality": None, "programme": "p",
        "points_per_kg": 10, "coupons": False, "valid_from": NOW - timedelta(days=1),
        "valid_until": None, "hold_minutes": None, "created_at": NOW,
    }  # fmt: skip
    base.update(kw)
    return Offer(**base)  # type: ignore[arg-type]


def lot(grams: int, days_ago: int, asset: str = A, quality: str | None = "2nd") -> Lot:
    return Lot(uuid.uuid4(), asset, grams, NOW - timedelta(days=days_ago), quality)


@pytest.mark.parametrize(
    ("terms", "asset", "quality", "accepted"),
    [
        ({}, A, "2nd", True),
        ({}, "points:p", None, False),
        ({"groups": ("food",)}, A, "2nd", False),
        ({"groups": ("mobility",)}, A, "2nd", True),
        ({"regions": ("510000",)}, A, "2nd", False),
        ({"regions": ("420000",)}, A, "2nd", True),
        ({"vintages": ("2026-10",)}, A, "2nd", False),
        ({"vintages": ("2026-11",)}, A, "2nd", True),
        ({"min_quality": Confidence.TEXT}, A, "2nd", False),
        ({"min_quality": Confidence.DERIVED}, A, "2nd", True),
        ({"min_quality": Confidence.DERIVED}, A, None, False),
    ],
)
def test_an_offer_accepts_grams_by_group_region_vintage_and_quality(
    terms: dict[str, object], asset: str, quality: str | None, accepted: bool
) -> None:
    assert offer(**terms).accepts(asset, quality) is accepted


@pytest.mark.parametrize(
    ("terms", "when", "grams", "error", "code"),
    [
        ({}, NOW, 0, InvalidInputError, "invalid_input"),
        ({"status": OfferStatus.PAUSED}, NOW, 10, OfferClosedError, "offer_closed"),
        ({"status": OfferStatus.CLOSED}, NOW, 10, OfferClosedError, "offer_closed"),
        ({}, NOW - timedelta(days=2), 10, OfferClosedError, "offer_closed"),
        ({"valid_until": NOW}, NOW, 10, OfferClosedError, "offer_closed"),
        ({"min_grams": 50}, NOW, 10, InvalidInputError, "below_minimum"),
        ({}, NOW, 99, InvalidInputError, "below_minimum"),  # 99 g earn no point at 10/kg
    ],
)
def test_an_offer_refuses_sales_outside_its_terms(
    terms: dict[str, object], when: object, grams: int, error: type, code: str
) -> None:
    refusal = offer(**terms).refusal(when, grams)  # type: ignore[arg-type]
    assert isinstance(refusal, error) and refusal.code == code


def test_an_open_offer_accepts_a_sale_inside_its_terms() -> None:
    assert offer(valid_until=NOW + timedelta(hours=1)).refusal(NOW, 100) is None
    assert offer(points_per_kg=None, coupons=True, programme=None).refusal(NOW, 1) is None


@given(st.integers(1, 5000), st.integers(1, 2000))
def test_the_smallest_sale_is_accepted_and_one_gram_less_is_not(min_grams: int, rate: int) -> None:
    """An open points offer whose minimum is worth less than a point still takes a sale: the
    smallest sale earns one whole point (list_offers(open_only=True) asks about this one)."""
    o = offer(min_grams=min_grams, points_per_kg=rate, budget_grams=10_000)
    smallest = smallest_sale(o)
    assert o.refusal(NOW, smallest) is None
    assert o.refusal(NOW, smallest - 1) is not None
    coupons = offer(min_grams=min_grams, points_per_kg=None, coupons=True, programme=None)
    assert smallest_sale(coupons) == min_grams


def test_points_are_whole_and_rounded_down() -> None:
    assert points_for(1999, 10) == 19
    assert points_for(99, 10) == 0


def test_allocation_takes_the_oldest_eligible_lots_first_and_keeps_their_ids() -> None:
    old, mid, new, food = lot(100, 9), lot(50, 5), lot(300, 1), lot(500, 10, asset=B)
    newest = lot(100, 0)
    taken = allocate([new, food, newest, old, mid], 170, offer(groups=("mobility",)))
    assert [(t.reduction_id, t.grams) for t in taken] == [
        (old.reduction_id, 100),
        (mid.reduction_id, 50),
        (new.reduction_id, 20),
    ]


def test_allocation_refuses_what_the_eligible_lots_cannot_cover() -> None:
    with pytest.raises(InsufficientBalanceError) as refused:
        allocate([lot(100, 2), lot(0, 1), lot(900, 1, asset=B)], 101, offer(groups=("mobility",)))
    assert refused.value.details == {"available_grams": 100, "requested_grams": 101}


def test_open_holds_reserve_their_lots() -> None:
    mine = lot(100, 2)
    left = available_lots([mine], [mine._replace(grams=60), mine._replace(grams=30)])
    assert [x.grams for x in left] == [10]


def test_a_sale_entry_moves_each_lot_with_its_reduction_and_pays_points() -> None:
    a, b = lot(100, 2), lot(20, 1)
    entry = sale_entry(uuid.uuid4(), NOW, "person:p", "enterprise:e", [a, b],
                       ("issuance:points:p", "p", 1), "memo")  # fmt: skip
    assert {p.account for p in entry.postings} == {"person:p", "enterprise:e", "issuance:points:p"}
    assert lineage_deltas(entry) == {
        ("person:p", a.reduction_id, A): -100,
        ("enterprise:e", a.reduction_id, A): 100,
        ("person:p", b.reduction_id, A): -20,
        ("enterprise:e", b.reduction_id, A): 20,
    }
    no_points = sale_entry(uuid.uuid4(), NOW, "person:p", "enterprise:e", [a], None, "")
    assert len(no_points.postings) == 2


def hold(**kw: object) -> Sale:
    base: dict[str, object] = {
        "id": uuid.uuid4(), "offer_id": uuid.uuid4(), "person_id": uuid.uuid4(),
        "enterprise_id": uuid.uuid4(), "request_id": "r", "grams": 10,
        "status": SaleStatus.HELD, "points": 0, "programme": None, "coupon": "C",
        "entry_id": None, "created_at": NOW, "expires_at": NOW + timedelta(minutes=30),
    }  # fmt: skip
    base.update(kw)
    return Sale(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("to", [SaleStatus.CONFIRMED, SaleStatus.VOIDED, SaleStatus.EXPIRED])
def test_a_hold_moves_once_to_a_final_state(to: SaleStatus) -> None:
    moved = hold().moved_to(to, NOW, None)
    assert moved.status is to and moved.settled_at == NOW
    for again in (SaleStatus.CONFIRMED, SaleStatus.VOIDED, SaleStatus.HELD):
        with pytest.raises((HoldStateError, HoldExpiredError)):
            moved.moved_to(again, NOW, None)


def test_a_hold_past_its_expiry_is_expired_by_the_clock_and_cannot_be_confirmed() -> None:
    h = hold()
    assert h.effective_status(NOW + timedelta(minutes=29)) is SaleStatus.HELD
    later = NOW + timedelta(minutes=30)
    assert h.effective_status(later) is SaleStatus.EXPIRED
    for to in (SaleStatus.CONFIRMED, SaleStatus.VOIDED):
        with pytest.raises(HoldExpiredError):
            h.moved_to(to, later, None)
    assert h.moved_to(SaleStatus.EXPIRED, later, None).status is SaleStatus.EXPIRED


def test_a_completed_sale_is_not_a_hold() -> None:
    done = hold(status=SaleStatus.COMPLETED, expires_at=None, entry_id=uuid.uuid4())
    assert done.effective_status(NOW + timedelta(days=9)) is SaleStatus.COMPLETED
    with pytest.raises(HoldStateError):
        done.moved_to(SaleStatus.VOIDED, NOW, None)


LUZHOU = Programme(
    code="lz", version=1, name="Luzhou", region="510500", valid_from=date(2024, 1, 1),
    valid_to=date(2027, 1, 1),
    rules=(PointsRule("bus_ride", 10, PointsBasis.OCCURRENCE, "2nd"),
           PointsRule("walk", 3, PointsBasis.KG, "operator-set")),
    daily_cap_points=25, merchants=("Bank",), expiry_days=30,
)  # fmt: skip
DAY = date(2026, 11, 16)


def credit(behaviour: str = "bus_ride", grams: int = 80, region: str = "510502") -> Credit:
    return Credit(uuid.uuid4(), "person:p", behaviour, region, DAY, grams)


def test_points_follow_the_rule_per_behaviour_not_the_grams() -> None:
    assert LUZHOU.rules[0].points_for(80) == LUZHOU.rules[0].points_for(800) == 10
    assert LUZHOU.rules[1].points_for(2500) == 7
    assert LUZHOU.rules[0].points_for(0) == 0
    assert LUZHOU.rule_for("clean_plate") is None and LUZHOU.ref == "lz@1"
    assert LUZHOU.active_on(DAY) and not LUZHOU.active_on(date(2027, 1, 1))


def test_awards_stop_at_the_daily_cap_given_what_the_day_holds() -> None:
    plan = plan_awards([credit() for _ in range(3)], [LUZHOU], {}, uuid.uuid4(), NOW)
    assert [a.points for a in plan.awards] == [10, 10, 5]
    assert plan.day_totals() == {("person:p", "lz", DAY): 25}
    held = plan_awards([credit()], [LUZHOU], {("person:p", "lz", DAY): 20}, uuid.uuid4(), NOW)
    assert [a.points for a in held.awards] == [5]
    uncapped = replace(LUZHOU, daily_cap_points=None)
    many = plan_awards([credit() for _ in range(5)], [uncapped], {}, uuid.uuid4(), NOW)
    assert sum(a.points for a in many.awards) == 50
    full = plan_awards([credit()], [LUZHOU], {("person:p", "lz", DAY): 25}, uuid.uuid4(), NOW)
    assert full.awards == [] and full.entry is None


def test_only_behaviours_in_the_programmes_region_and_rules_earn() -> None:
    plan = plan_awards(
        [credit(region="420106"), credit("clean_plate"), credit(grams=80)],
        [LUZHOU], {}, uuid.uuid4(), NOW,
    )  # fmt: skip
    assert len(plan.awards) == 1
    assert plan.entry is not None
    assert sorted(p.amount for p in plan.entry.postings) == [-10, 10]


def test_region_codes_nest() -> None:
    assert region_within("510502", "510500") and region_within("510502", "510000")
    assert region_within("510502", "000000") and not region_within("420106", "510500")
    assert region_within("510502", "510502") and not region_within("510503", "510502")
    assert region_within("510110", "510110") and not region_within("510111", "510110")


def test_expiry_takes_the_oldest_points_after_what_was_spent() -> None:
    assert expired_points(earned_before_cutoff=20, earned_total=30, balance=25) == 15
    assert expired_points(20, 22, 15) == 13  # 7 spent: of the 20 old ones, 13 are left
    assert expired_points(20, 30, 10) == 0  # 20 consumed already: the old ones are gone
    assert expired_points(0, 30, 30) == 0


def test_points_entries_balance() -> None:
    assert award_entry(uuid.uuid4(), NOW, []) is None
    moved = transfer_entry(uuid.uuid4(), NOW, "redemption", "person:p", "enterprise:m", "lz",
                           7, "")  # fmt: skip
    assert [p.amount for p in moved.postings] == [-7, 7]
    assert replace(moved, memo="x").memo == "x"
