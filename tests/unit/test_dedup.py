"""The duplicate test of domain/dedup.py: overlap, or a gap within the clock-skew tolerance."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tanpuhui.domain.dedup import same_act
from tests.unit.domain_builders import at

SKEW = timedelta(seconds=180)
ZERO = timedelta(0)


def test_two_instants_within_the_skew_are_one_act() -> None:
    """Hole 1: before, two zero-length claims never overlapped by more than the tolerance, so
    the same tap stamped by two clocks was credited twice."""
    assert same_act(at(8), at(8), at(8, 3), at(8, 3), SKEW)
    assert not same_act(at(8), at(8), at(8, 3, 1), at(8, 3, 1), SKEW)


def test_an_instant_inside_an_interval_is_one_act() -> None:
    assert same_act(at(8), at(8, 30), at(8, 10), at(8, 10), ZERO)
    assert same_act(at(8, 30), at(8, 30), at(8), at(8, 30), ZERO)  # at its very end


def test_a_short_interval_overlapping_a_longer_one_by_seconds_is_one_act() -> None:
    """Hole 1: a 90 s ride overlapping the map's navigation by 30 s was two trips (≤ 120 s)."""
    assert same_act(at(8), at(8, 1, 30), at(8, 1), at(8, 10), ZERO)


@pytest.mark.parametrize(("gap_s", "same"), [(0, True), (179, True), (180, True), (181, False)])
def test_intervals_are_one_act_up_to_the_skew_apart(gap_s: int, same: bool) -> None:
    end = at(8, 12)
    assert same_act(at(8), end, end + timedelta(seconds=gap_s), at(9), SKEW) is same
    assert same_act(end + timedelta(seconds=gap_s), at(9), at(8), end, SKEW) is same


def test_periods_that_only_touch_are_two_acts_without_a_tolerance() -> None:
    # two consecutive meter months
    assert not same_act(at(0), at(12), at(12), at(23), ZERO)
    assert same_act(at(0), at(12), at(11, 59), at(23), ZERO)
