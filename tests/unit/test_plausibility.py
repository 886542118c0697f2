"""Plausibility: claims that cannot be true are rejected before they are credited.

The methodology for most cases is the Wuhan 2025 shared bike (`cycling.shared_bike.wuhan@2`):
claims up to 30 days old, 0.1-60 km, 60 s-6 h, at most 30 km/h.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tanpuhui.domain.events import Reason
from tanpuhui.domain.methodology import Catalogue, Methodology
from tanpuhui.domain.plausibility import CLOCK_SKEW, check_plausibility
from tests.builders import steps
from tests.conftest import NOW
from tests.unit.domain_builders import methodology, parsed

BIKE = "cycling.shared_bike.wuhan@2"


def version(catalogue: Catalogue, key: str = BIKE) -> Methodology:
    m = catalogue.get(key)
    assert m is not None
    return m


def ride(*, end: datetime | None = None, minutes: float = 12, km: str = "3.42", **kw: Any) -> Any:
    """A ride of `km` over `minutes` ending at `end` (default: two hours before NOW)."""
    end = end or NOW - timedelta(hours=2)
    return parsed(
        start=end - timedelta(minutes=minutes), minutes=minutes, quantity={"distance_km": km}, **kw
    )


def reason_and_field(m: Methodology, ev: Any) -> tuple[Reason, str | None] | None:
    rejection = check_plausibility(m, ev, NOW)
    return None if rejection is None else (rejection.reason, rejection.field)


def test_an_ordinary_ride_is_plausible(catalogue: Catalogue) -> None:
    assert check_plausibility(version(catalogue), ride(), NOW) is None


def test_a_ride_that_ends_before_it_starts_is_rejected(catalogue: Catalogue) -> None:
    ev = ride(started_at="2026-11-17T13:30:00+08:00", ended_at="2026-11-17T13:18:00+08:00")

    assert reason_and_field(version(catalogue), ev) == (Reason.ENDS_BEFORE_START, "ended_at")


def test_ending_before_start_is_reported_before_any_other_problem(catalogue: Catalogue) -> None:
    ev = ride(
        started_at="2030-01-01T13:30:00+08:00",
        ended_at="2030-01-01T13:18:00+08:00",
        km="999",
    )

    assert reason_and_field(version(catalogue), ev) == (Reason.ENDS_BEFORE_START, "ended_at")


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        (NOW, None),
        (NOW + CLOCK_SKEW, None),  # five minutes of clock skew are allowed …
        (NOW + CLOCK_SKEW + timedelta(seconds=1), (Reason.IN_FUTURE, "ended_at")),  # … not more
        (NOW + timedelta(days=1), (Reason.IN_FUTURE, "ended_at")),
    ],
)
def test_a_ride_ending_in_the_future_beyond_the_clock_skew_is_rejected(
    end: datetime, expected: tuple[Reason, str] | None, catalogue: Catalogue
) -> None:
    assert reason_and_field(version(catalogue), ride(end=end)) == expected


def test_clock_skew_is_five_minutes() -> None:
    assert timedelta(minutes=5) == CLOCK_SKEW


CLAIMS = {
    # key: (behaviour, region, quantity, duration)
    BIKE: ("bike_share_ride", "420106", {"distance_km": "3.42"}, timedelta(minutes=12)),
    "clean_plate.luzhou@1": ("clean_plate", "510502", {}, timedelta(minutes=30)),
    "household_electricity.saved@1": (
        "household_electricity_saved",
        "130102",
        {"kwh": "100"},
        timedelta(days=30),
    ),
}


@pytest.mark.parametrize(
    ("key", "age", "expected"),
    [
        (BIKE, timedelta(days=30), None),  # started exactly 30 days ago: still inside
        (BIKE, timedelta(days=30, seconds=1), (Reason.OUTSIDE_CLAIM_WINDOW, "started_at")),
        ("clean_plate.luzhou@1", timedelta(days=7), None),
        (
            "clean_plate.luzhou@1",
            timedelta(days=7, seconds=1),
            (Reason.OUTSIDE_CLAIM_WINDOW, "started_at"),
        ),
        ("household_electricity.saved@1", timedelta(days=92), None),
        (
            "household_electricity.saved@1",
            timedelta(days=92, seconds=1),
            (Reason.OUTSIDE_CLAIM_WINDOW, "started_at"),
        ),
    ],
)
def test_a_claim_older_than_the_claim_window_is_rejected(
    key: str, age: timedelta, expected: tuple[Reason, str] | None, catalogue: Catalogue
) -> None:
    behaviour, region, quantity, duration = CLAIMS[key]
    ev = parsed(
        behaviour=behaviour,
        region=region,
        quantity=quantity,
        start=NOW - age,
        minutes=duration.total_seconds() / 60,
    )

    assert reason_and_field(version(catalogue, key), ev) == expected


@pytest.mark.parametrize(
    ("km", "expected"),
    [
        ("0.1", None),
        ("0.09", (Reason.OUT_OF_BOUNDS, "quantity.distance_km")),
        ("0", (Reason.OUT_OF_BOUNDS, "quantity.distance_km")),
        ("60", None),
        ("60.01", (Reason.OUT_OF_BOUNDS, "quantity.distance_km")),
    ],
)
def test_a_distance_outside_the_bounds_is_out_of_bounds(
    km: str, expected: tuple[Reason, str] | None, catalogue: Catalogue
) -> None:
    # 3 hours, so that even 60 km is 20 km/h
    assert reason_and_field(version(catalogue), ride(km=km, minutes=180)) == expected


def test_every_quantity_is_checked_not_only_the_multiplied_one(catalogue: Catalogue) -> None:
    m = version(catalogue, "bus.wuhan@2")  # per trip; distance only checked
    ev = parsed(behaviour="bus_ride", quantity={"count": "2"})

    assert reason_and_field(m, ev) == (Reason.OUT_OF_BOUNDS, "quantity.count")


def test_too_many_steps_are_out_of_bounds(catalogue: Catalogue) -> None:
    m = version(catalogue, "walking.luzhou@1")

    assert reason_and_field(m, parsed(steps(count=100_000))) is None
    assert reason_and_field(m, parsed(steps(count=100_001))) == (
        Reason.OUT_OF_BOUNDS,
        "quantity.steps",
    )


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (59, (Reason.OUT_OF_BOUNDS, "ended_at")),
        (59.9, (Reason.OUT_OF_BOUNDS, "ended_at")),  # whole seconds count
        (60, None),
        (6 * 3600, None),
        (6 * 3600 + 1, (Reason.OUT_OF_BOUNDS, "ended_at")),
    ],
)
def test_a_duration_outside_the_bounds_is_out_of_bounds(
    seconds: float, expected: tuple[Reason, str] | None, catalogue: Catalogue
) -> None:
    assert reason_and_field(version(catalogue), ride(km="0.1", minutes=seconds / 60)) == expected


@pytest.mark.parametrize(
    ("km", "minutes", "expected"),
    [
        ("3", 6, None),  # exactly 30 km/h is allowed
        ("3.01", 6, (Reason.IMPLAUSIBLE_SPEED, "quantity.distance_km")),
        ("3.42", 6, (Reason.IMPLAUSIBLE_SPEED, "quantity.distance_km")),  # 34.2 km/h on a bike
        ("3.42", 12, None),  # 17.1 km/h
    ],
)
def test_an_impossible_speed_for_the_mode_is_implausible(
    km: str, minutes: float, expected: tuple[Reason, str] | None, catalogue: Catalogue
) -> None:
    assert reason_and_field(version(catalogue), ride(km=km, minutes=minutes)) == expected


def test_a_distance_covered_in_no_time_is_implausible(catalogue: Catalogue) -> None:
    m = version(catalogue, "bus.luzhou@1")  # allows a zero duration
    ev = parsed(behaviour="bus_ride", region="510502", minutes=0, quantity={"distance_km": "1"})

    rejection = check_plausibility(m, ev, NOW)

    assert rejection is not None
    assert (rejection.reason, rejection.field) == (Reason.IMPLAUSIBLE_SPEED, "ended_at")
    assert "no time" in rejection.message


def test_the_speed_limit_is_the_methodologys_mode() -> None:
    metro = methodology(max_speed_kmh="120")
    unbounded = methodology()
    fast = ride(km="20", minutes=12)  # 100 km/h

    assert check_plausibility(metro, fast, NOW) is None
    assert check_plausibility(unbounded, fast, NOW) is None
    assert reason_and_field(methodology(max_speed_kmh="30"), fast) == (
        Reason.IMPLAUSIBLE_SPEED,
        "quantity.distance_km",
    )


def test_a_rejection_message_names_the_methodology(catalogue: Catalogue) -> None:
    rejection = check_plausibility(version(catalogue), ride(km="3.42", minutes=6), NOW)

    assert rejection is not None
    assert rejection.message == f"34.2 km/h exceeds 30 km/h for {BIKE}"
