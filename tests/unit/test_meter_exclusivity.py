"""Home energy is exclusive per meter, not per person (domain/claims.py `other_meters`): the
claim book and `ledger verify` (checks.py, invariant 4) agree on it.

Before: two meters of one person in one period were one act (the second a `duplicate`, and
`ledger verify` would have reported the pair `claims_overlap`)."""

from __future__ import annotations

from datetime import timedelta

from tanpuhui.domain.checks import check_claims
from tanpuhui.domain.claims import Claim, ClaimBook, other_meters
from tanpuhui.domain.methodology import Group
from tests.unit.domain_builders import at, claim

HOME = Group("home_energy", "Home energy", True, clock_skew_s=0, daily_cap_grams=10_000)
GROUPS = {"home_energy": HOME}
PERSON = "person:0190a000-0000-7000-8000-000000000001"
MONTH = 30 * 24 * 60


def month(meter: str | None, grams: int = 100) -> Claim:
    c = claim(at(0), MONTH, grams=grams, group="home_energy", behaviour="saved")
    return c._replace(meter=meter)


def test_two_meters_are_two_acts_a_claim_without_a_meter_may_be_either() -> None:
    assert other_meters("meter:A", "meter:B")
    assert not other_meters("meter:A", "meter:A")
    assert not other_meters("meter:A", None) and not other_meters(None, None)


def test_the_book_compares_a_meters_period_only_with_that_meter_and_unnamed_readings() -> None:
    a = month("meter:A")
    book = ClaimBook({PERSON: [a]})
    start, end = a.started_at, a.ended_at
    assert book.overlapping(PERSON, HOME, start, end, "meter:B") is None
    assert book.overlapping(PERSON, HOME, start, end, "meter:A") == a
    assert book.overlapping(PERSON, HOME, start, end) == a  # a reading naming no meter


def test_verify_accepts_two_meters_periods_and_reports_an_unnamed_reading_over_them() -> None:
    a, b = month("meter:A"), month("meter:B")
    assert list(check_claims({PERSON: [a, b]}, GROUPS, {})) == []
    unnamed = month(None)
    found = list(check_claims({PERSON: [a, b, unnamed]}, GROUPS, {}))
    assert [(v.invariant, v.code) for v in found] == [(4, "claims_overlap")] * 2
    same = month("meter:A")._replace(started_at=a.started_at + timedelta(days=1))
    assert [v.code for v in check_claims({PERSON: [a, same]}, GROUPS, {})] == ["claims_overlap"]
