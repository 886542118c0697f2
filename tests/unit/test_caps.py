"""Caps and bounds per day of the period a claim covers (domain/caps.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from tanpuhui.domain.caps import days_covered, spread
from tanpuhui.domain.claims import ClaimBook
from tanpuhui.domain.events import BehaviourEvent, Reason
from tanpuhui.domain.methodology import Bounds, Group, Plausibility
from tanpuhui.domain.plausibility import check_plausibility
from tests.conftest import NOW
from tests.unit.domain_builders import at, claim, methodology, parsed

HOME = Group("home_energy", "Home", exclusive=True, daily_cap_grams=10_000)


def test_a_claim_covers_its_duration_in_whole_days_rounded_up() -> None:
    assert days_covered(at(8), at(8)) == 1  # an instant
    assert days_covered(at(0), at(0) + timedelta(days=1)) == 1
    assert days_covered(at(0), at(0) + timedelta(days=1, seconds=1)) == 2
    assert days_covered(at(0), at(0) + timedelta(days=30)) == 30


def test_a_spread_claim_counts_its_share_rounded_up_on_each_day() -> None:
    day = at(0).date()
    assert list(spread(100, day, 1)) == [(day, 100)]
    assert list(spread(100, day, 3)) == [(day + timedelta(days=n), 34) for n in range(3)]


def test_a_months_reading_may_credit_a_month_of_caps_and_a_day_only_a_days() -> None:
    """Hole 4: before, the cap was per local day of the start, so a 30-day period and a
    one-day period had the same 300 kg room."""
    book = ClaimBook({})
    day = at(0).date()
    assert book.room("h", HOME, "saved", day, None, days=30) == 300_000
    assert book.room("h", HOME, "saved", day, None) == 10_000


def test_a_stored_period_uses_the_room_of_every_day_it_covers() -> None:
    month = claim(at(0), 30 * 24 * 60, grams=150_000, group="home_energy", behaviour="saved")
    book = ClaimBook({"h": [month]})
    # 5,000 g of each of its 30 days are used: a one-day claim on day 10 has 5,000 g left
    assert book.room("h", HOME, "saved", at(0).date() + timedelta(days=10), None) == 5_000
    assert book.room("h", HOME, "saved", at(0).date() + timedelta(days=30), None) == 10_000


def test_bounds_per_day_scale_with_the_days_an_event_covers() -> None:
    """Hole 4: before, a bound held per event, whatever period it covered."""
    m = replace(
        methodology(
            model="per_quantity", behaviours=("household_electricity_saved",), claim_window_days=92
        ),
        plausibility=Plausibility(quantities_per_day={"kwh": Bounds(None, Decimal("50"))}),
    )
    end = NOW - timedelta(hours=1)

    def saved(kwh: str, days: int) -> BehaviourEvent:
        return parsed(
            behaviour="household_electricity_saved",
            start=end - timedelta(days=days),
            minutes=days * 24 * 60,
            quantity={"kwh": kwh},
        )

    assert check_plausibility(m, saved("1500", 30), NOW) is None  # 30 × 50 kWh
    one_day = check_plausibility(m, saved("1500", 1), NOW)
    assert one_day is not None and one_day.reason is Reason.OUT_OF_BOUNDS
    assert check_plausibility(m, saved("50", 1), NOW) is None
