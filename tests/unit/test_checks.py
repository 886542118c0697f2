"""`ledger verify`'s checks: each finds a constructed violation and says nothing of clean data."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from tanpuhui.domain.checks import (
    Violation,
    check_balances,
    check_claims,
    check_entry_balanced,
    check_region_totals,
    check_trace,
)
from tanpuhui.domain.events import Rejection
from tanpuhui.domain.ledger import Posting
from tanpuhui.domain.methodology import Catalogue, Group
from tanpuhui.domain.models import Quantification, quantify
from tests.conftest import NOW
from tests.unit.domain_builders import at, claim, parsed

ASSET = "co2e:mobility:420000:2026-11"
PERSON, OTHER = "person:0190a000-0000-7000-8000-000000000001", "person:b"
ISSUANCE = "issuance:cycling.shared_bike.wuhan"
RID = uuid.UUID(int=42)


def codes(violations: Any) -> list[tuple[int, str]]:
    return [(v.invariant, v.code) for v in violations]


# --- 1 and 8: entries and balances ----------------------------------------------------------


def test_a_balanced_entry_has_no_violation() -> None:
    postings = [Posting(PERSON, ASSET, 319, RID), Posting(ISSUANCE, ASSET, -319)]

    assert list(check_entry_balanced(RID, postings)) == []


def test_an_unbalanced_entry_is_reported_per_asset() -> None:
    postings = [Posting(PERSON, ASSET, 319), Posting(ISSUANCE, ASSET, -318)]

    violations = list(check_entry_balanced(RID, postings))

    assert codes(violations) == [(1, "entry_unbalanced")]
    assert violations[0].message == f"asset {ASSET} is off by 1"


def test_a_zero_posting_is_reported() -> None:
    postings = [Posting(PERSON, ASSET, 0), Posting(ISSUANCE, ASSET, 0)]

    assert codes(check_entry_balanced(RID, postings)) == [
        (1, "entry_unbalanced"),
        (1, "entry_unbalanced"),
    ]


def test_debiting_a_retired_or_exported_account_is_reported() -> None:
    postings = [
        Posting("retired:ent", ASSET, -10),
        Posting("exported:registry", ASSET, -5),
        Posting(PERSON, ASSET, 15),
    ]

    assert codes(check_entry_balanced(RID, postings)) == [
        (8, "retired_moved"),
        (8, "retired_moved"),
    ]


def test_matching_balances_have_no_violation() -> None:
    balances = {(PERSON, ASSET): 319, (ISSUANCE, ASSET): -319}

    assert list(check_balances(balances, dict(balances))) == []


def test_a_stored_balance_that_differs_from_its_lines_is_reported() -> None:
    computed = {(PERSON, ASSET): 319, (ISSUANCE, ASSET): -319}

    violations = list(check_balances({**computed, (PERSON, ASSET): 400}, computed))

    assert codes(violations) == [(1, "balance_mismatch")]
    assert violations[0].message == "stored 400, lines sum to 319"


def test_a_negative_holder_balance_is_reported() -> None:
    computed = {(PERSON, ASSET): -5, (OTHER, ASSET): 10, (ISSUANCE, ASSET): -5}

    assert codes(check_balances(computed, computed)) == [(2, "holder_negative")]


def test_an_asset_whose_accounts_do_not_sum_to_zero_is_reported() -> None:
    computed = {(PERSON, ASSET): 319, (ISSUANCE, ASSET): -300}

    violations = list(check_balances(computed, computed))

    assert codes(violations) == [(1, "asset_unbalanced")]
    assert violations[0].subject == ASSET


# --- 4 and 5: claims --------------------------------------------------------------------------

GROUPS = {
    "mobility": Group("mobility", "Mobility", True, clock_skew_s=120, daily_cap_grams=1000),
    "food": Group("food", "Food", False, daily_cap_grams=3000),
}


def test_separate_claims_within_caps_have_no_violation() -> None:
    claims = [claim(at(8), 30, grams=400), claim(at(9), 30, grams=400)]

    assert list(check_claims({PERSON: claims}, GROUPS, {})) == []


def test_overlapping_claims_in_an_exclusive_group_are_reported() -> None:
    first, second = claim(at(8), 30), claim(at(8, 20), 30)

    violations = list(check_claims({PERSON: [second, first]}, GROUPS, {}))

    assert codes(violations) == [(4, "claims_overlap")]
    assert violations[0].subject == PERSON
    assert str(first.id) in violations[0].message and str(second.id) in violations[0].message


def test_claims_just_beyond_the_clock_skew_apart_are_not_a_violation() -> None:
    claims = [claim(at(8), 30), claim(at(8, 32, 1), 30)]  # 121 s apart, the tolerance is 120

    assert list(check_claims({PERSON: claims}, GROUPS, {})) == []
    near = [claim(at(8), 30), claim(at(8, 32), 30)]  # exactly 120 s apart: one act
    assert codes(check_claims({PERSON: near}, GROUPS, {})) == [(4, "claims_overlap")]


def test_an_overlap_one_second_beyond_the_tolerance_is_a_violation() -> None:
    claims = [claim(at(8), 30), claim(at(8, 27, 59), 30)]

    assert codes(check_claims({PERSON: claims}, GROUPS, {})) == [(4, "claims_overlap")]


def test_a_claim_inside_a_long_one_is_compared_with_the_long_one() -> None:
    long, short, late = claim(at(8), 120), claim(at(8, 10), 5), claim(at(9, 50), 30)

    violations = list(check_claims({PERSON: [long, short, late]}, GROUPS, {}))

    assert codes(violations) == [(4, "claims_overlap"), (4, "claims_overlap")]


def test_overlaps_in_a_non_exclusive_group_or_of_two_persons_are_fine() -> None:
    meals = [claim(at(12), 30, group="food"), claim(at(12), 30, group="food")]
    rides = {PERSON: [claim(at(8), 30)], OTHER: [claim(at(8), 30)]}

    assert list(check_claims({PERSON: meals}, GROUPS, {})) == []
    assert list(check_claims(rides, GROUPS, {})) == []


def test_a_group_cap_exceeded_on_a_day_is_reported() -> None:
    claims = [claim(at(8), 30, grams=600), claim(at(9), 30, grams=401)]

    violations = list(check_claims({PERSON: claims}, GROUPS, {}))

    assert codes(violations) == [(5, "cap_exceeded")]
    assert "1001 g in group mobility" in violations[0].message


def test_the_cap_is_per_day() -> None:
    yesterday = NOW.date() - timedelta(days=1)
    claims = [claim(at(8, day=yesterday), 30, grams=1000), claim(at(8), 30, grams=1000)]

    assert list(check_claims({PERSON: claims}, GROUPS, {})) == []


def test_a_behaviour_cap_exceeded_is_reported() -> None:
    claims = [claim(at(8), 30, grams=300), claim(at(9), 30, grams=300)]

    violations = list(check_claims({PERSON: claims}, GROUPS, {"bike_share_ride": 500}))

    assert codes(violations) == [(5, "cap_exceeded")]
    assert "600 g of bike_share_ride" in violations[0].message


# --- 6: traces ------------------------------------------------------------------------------


@pytest.fixture
def quantified(catalogue: Catalogue) -> Quantification:
    m = catalogue.get("cycling.shared_bike.wuhan@2")
    assert m is not None
    q = quantify(m, parsed(), date(2026, 11, 17), catalogue)
    assert not isinstance(q, Rejection)
    return q


def test_a_trace_that_recomputes_has_no_violation(quantified: Quantification) -> None:
    assert list(check_trace(RID, quantified.methodology, quantified.trace(), 319)) == []
    assert list(check_trace(RID, quantified.methodology, quantified.trace(), 100)) == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"content_hash": "sha256:other"}, "trace_mismatch"),
        ({"factors": {"er": {"id": "wuhan_bike_2025", "value": "99"}}}, "trace_mismatch"),
        ({"factors": {"er": {"id": "wuhan_bike_2023", "value": "40"}}}, "trace_mismatch"),
        ({"factors": {"er": "wuhan_bike_2025"}}, "trace_mismatch"),
        ({"exact_grams": "320.086"}, "trace_mismatch"),
        ({"grams": 320}, "trace_mismatch"),
        ({"inputs": {"distance_km": "4"}}, "trace_mismatch"),
        ({"inputs": {}}, "untraceable_credit"),
        ({"inputs": None}, "untraceable_credit"),
        ({"factors": None}, "untraceable_credit"),
    ],
)
def test_a_trace_that_does_not_recompute_is_reported(
    change: dict[str, object], code: str, quantified: Quantification
) -> None:
    trace = {**quantified.trace(), **change}

    assert codes(check_trace(RID, quantified.methodology, trace, 319)) == [(6, code)]


def test_more_grams_credited_than_the_trace_gives_is_reported(quantified: Quantification) -> None:
    violations = list(check_trace(RID, quantified.methodology, quantified.trace(), 320))

    assert codes(violations) == [(6, "trace_mismatch")]
    assert violations[0].message == "320 g credited but the trace gives 319"


def test_a_credit_without_methodology_or_trace_is_untraceable(
    quantified: Quantification,
) -> None:
    assert codes(check_trace(RID, None, quantified.trace(), 319)) == [(6, "untraceable_credit")]
    assert codes(check_trace(RID, quantified.methodology, None, 319)) == [(6, "untraceable_credit")]
    assert codes(check_trace(RID, quantified.methodology, {}, 319)) == [(6, "untraceable_credit")]


@pytest.mark.parametrize(
    "change",
    [{"factors": {}}, {"inputs": {"distance_km": "three"}}],
    ids=["no factors", "non-numeric input"],
)
def test_a_tampered_trace_is_reported_not_raised(
    change: dict[str, object], quantified: Quantification
) -> None:
    trace = {**quantified.trace(), **change}

    assert codes(check_trace(RID, quantified.methodology, trace, 319)) == [(6, "trace_mismatch")]


# --- 7: regional totals ---------------------------------------------------------------------


def test_equal_totals_have_no_violation() -> None:
    assert list(check_region_totals(1000, 1000, 1000)) == []


@pytest.mark.parametrize("totals", [(1000, 999, 1000), (1000, 1000, 1001), (0, 1, 1)])
def test_persons_regions_and_nation_must_agree(totals: tuple[int, int, int]) -> None:
    violations = list(check_region_totals(*totals))

    assert codes(violations) == [(7, "region_totals_mismatch")]
    assert isinstance(violations[0], Violation)
