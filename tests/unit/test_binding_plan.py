"""Binding: a subject's pending reductions move to the person under the intake rules.

Pending reductions are Wuhan bike rides of 319 g (3.42 km × 93.3 g/km) unless a test says
otherwise; in the mobility group claims up to 180 s apart are one trip, and a day is capped at
10,000 g.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tanpuhui.domain.binding import BindingPlan, Move, PendingReduction, Resolution, plan_binding
from tanpuhui.domain.checks import check_claims
from tanpuhui.domain.claims import Claim
from tanpuhui.domain.ledger import Entry, Posting, pending_account, person_account
from tanpuhui.domain.methodology import Catalogue
from tests.conftest import CST, NOW
from tests.unit.domain_builders import at, claim, with_methodology_cap

BIKES = uuid.UUID("0190a000-0000-7000-8000-0000000000b1")
ALICE = uuid.UUID("0190a000-0000-7000-8000-00000000a11c")
PENDING = pending_account(BIKES, "u-1")
PERSON = person_account(ALICE)
ENTRY = uuid.UUID("0190a000-0000-7000-8000-00000000e001")
TODAY = NOW.astimezone(CST).date()
ASSET = f"co2e:mobility:420000:{TODAY:%Y-%m}"
ISSUANCE = "issuance:cycling.shared_bike.wuhan"


def pending(
    start: datetime,
    minutes: float = 12,
    *,
    grams: int = 319,
    n: int = 1,
    methodology: str = "cycling.shared_bike.wuhan@2",
) -> PendingReduction:
    return PendingReduction(
        id=uuid.UUID(int=1000 + n),
        behaviour="bike_share_ride",
        group="mobility",
        methodology=methodology,
        started_at=start,
        ended_at=start + timedelta(minutes=minutes),
        day=start.astimezone(CST).date(),
        grams=grams,
        asset=ASSET,
        region="420106",
    )


def plan(
    reductions: list[PendingReduction], person_claims: list[Claim], catalogue: Catalogue
) -> BindingPlan:
    return plan_binding(PENDING, PERSON, reductions, person_claims, catalogue, ENTRY, NOW)


def assert_balanced(entry: Entry) -> None:
    totals: dict[str, int] = defaultdict(int)
    for p in entry.postings:
        totals[p.asset] += p.amount
    assert set(totals.values()) == {0}


def test_a_pending_reduction_moves_whole_to_the_person(catalogue: Catalogue) -> None:
    r = pending(at(9))

    result = plan([r], [], catalogue)

    assert result.moves == [Move(r.id, Resolution.MOVED, 319, 0)]
    assert result.entry is not None
    assert result.entry.kind == "binding"
    assert result.entry.postings == (
        Posting(PENDING, ASSET, -319, r.id),
        Posting(PERSON, ASSET, 319, r.id),
    )
    assert result.region_deltas == {}


def test_a_reduction_over_the_persons_daily_cap_moves_in_part(catalogue: Catalogue) -> None:
    r = pending(at(9))
    morning = claim(at(7), 30, grams=9_900)  # 100 g left of the 10,000 g mobility cap

    result = plan([r], [morning], catalogue)

    assert result.moves == [Move(r.id, Resolution.CAPPED, 100, 219)]
    assert result.entry is not None
    assert_balanced(result.entry)
    assert result.entry.postings == (
        Posting(PENDING, ASSET, -319, r.id),
        Posting(PERSON, ASSET, 100, r.id),
        Posting(ISSUANCE, ASSET, 219, r.id),  # the excess goes back to issuance
    )
    assert result.region_deltas == {("420106", "mobility", TODAY): -219}


def test_a_reduction_with_no_room_left_is_reversed_whole(catalogue: Catalogue) -> None:
    r = pending(at(9))

    result = plan([r], [claim(at(7), 30, grams=10_000)], catalogue)

    assert result.moves == [Move(r.id, Resolution.CAPPED, 0, 319)]
    assert result.entry is not None
    assert result.entry.postings == (
        Posting(PENDING, ASSET, -319, r.id),
        Posting(ISSUANCE, ASSET, 319, r.id),
    )


def test_a_duplicate_of_an_existing_person_claim_is_reversed_naming_it(
    catalogue: Catalogue,
) -> None:
    # The person's map app already claimed this trip (the same 13:18-13:30 ride).
    existing = claim(at(13, 17), 14, claim_id=uuid.UUID(int=5))
    r = pending(at(13, 18))

    result = plan([r], [existing], catalogue)

    assert result.moves == [Move(r.id, Resolution.DUPLICATE, 0, 319, existing.id)]
    assert result.entry is not None
    assert_balanced(result.entry)
    assert result.entry.postings == (
        Posting(PENDING, ASSET, -319, r.id),
        Posting(ISSUANCE, ASSET, 319, r.id),
    )
    assert result.region_deltas == {("420106", "mobility", TODAY): -319}


def test_a_claim_farther_away_than_the_clock_skew_is_not_a_duplicate(
    catalogue: Catalogue,
) -> None:
    existing = claim(at(13, 2), 12, claim_id=uuid.UUID(int=9))  # ends 13:14, 4 min before
    near = claim(at(13, 3), 12, claim_id=uuid.UUID(int=10))  # ends 13:15, 3 min before
    r = pending(at(13, 18))

    assert plan([r], [existing], catalogue).moves[0].resolution == Resolution.MOVED
    (move,) = plan([r], [near], catalogue).moves
    assert (move.resolution, move.duplicate_of) == (Resolution.DUPLICATE, near.id)


def test_pending_reductions_are_settled_in_time_order(catalogue: Catalogue) -> None:
    later = pending(at(13, 20), n=1)  # reported first, but starts later
    earlier = pending(at(13, 18), n=2)

    result = plan([later, earlier], [], catalogue)

    assert [m.reduction_id for m in result.moves] == [earlier.id, later.id]
    assert result.moves[1] == Move(later.id, Resolution.DUPLICATE, 0, 319, earlier.id)


def test_the_methodology_cap_applies_on_binding(catalogue: Catalogue) -> None:
    capped = with_methodology_cap(catalogue, "cycling.shared_bike.wuhan@2", 500)
    rides = [pending(at(9), n=1), pending(at(10), n=2), pending(at(11), n=3)]

    result = plan(rides, [], capped)

    assert [(m.resolution, m.moved, m.reversed) for m in result.moves] == [
        (Resolution.MOVED, 319, 0),
        (Resolution.CAPPED, 181, 138),
        (Resolution.CAPPED, 0, 319),
    ]
    assert result.entry is not None
    assert_balanced(result.entry)


def test_nothing_pending_makes_no_entry(catalogue: Catalogue) -> None:
    result = plan([], [claim(at(9))], catalogue)

    assert result == BindingPlan(None, [], {})


@settings(deadline=None, max_examples=40)
@given(
    rides=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=14 * 60),  # start, minutes after 06:00
            st.integers(min_value=2, max_value=60),
            st.integers(min_value=1, max_value=4_000),
        ),
        max_size=10,
    ),
    existing=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=14 * 60),
            st.integers(min_value=2, max_value=60),
            st.integers(min_value=1, max_value=4_000),
        ),
        max_size=4,
    ),
)
def test_any_binding_balances_loses_nothing_and_keeps_the_invariants(
    rides: list[tuple[int, int, int]],
    existing: list[tuple[int, int, int]],
    catalogue: Catalogue,
) -> None:
    reductions = [
        pending(at(6) + timedelta(minutes=s), m, grams=g, n=i) for i, (s, m, g) in enumerate(rides)
    ]
    person_claims = [claim(at(6) + timedelta(minutes=s), m, grams=g) for s, m, g in existing]
    # What the person holds is itself consistent (intake kept it so).
    assume(not list(check_claims({PERSON: person_claims}, catalogue.groups, {})))

    result = plan(reductions, person_claims, catalogue)

    assert len(result.moves) == len(reductions)
    for move, r in zip(
        result.moves, sorted(reductions, key=lambda r: (r.started_at, r.id)), strict=True
    ):
        assert move.reduction_id == r.id
        assert move.moved + move.reversed == r.grams  # nothing is lost silently
    if reductions:
        assert result.entry is not None
        assert_balanced(result.entry)
        out = sum(p.amount for p in result.entry.postings if p.account == PENDING)
        assert out == -sum(r.grams for r in reductions)
    by_id = {r.id: r for r in reductions}
    held = person_claims + [
        Claim(
            m.reduction_id,
            "mobility",
            "bike_share_ride",
            by_id[m.reduction_id].started_at,
            by_id[m.reduction_id].ended_at,
            by_id[m.reduction_id].day,
            m.moved,
        )
        for m in result.moves
        if m.moved
    ]
    assert list(check_claims({PERSON: held}, catalogue.groups, {})) == []
    assert sum(result.region_deltas.values()) == -sum(m.reversed for m in result.moves)


def test_a_pending_step_count_is_merged_with_the_persons_count_of_that_day(
    catalogue: Catalogue,
) -> None:
    """Hole 2 at binding: before, both apps' counts of one day were kept in full."""
    theirs = claim(at(22), 0, grams=164, group="walking", behaviour="walking_steps")
    walk = replace(
        pending(at(23), 0, grams=246, methodology="walking.luzhou@1"),
        group="walking",
        behaviour="walking_steps",
    )
    same = replace(walk, id=uuid.UUID(int=77), grams=100)

    (move,) = plan([walk], [theirs], catalogue).moves
    assert (move.resolution, move.moved, move.reversed) == (Resolution.CAPPED, 82, 164)
    (dup,) = plan([same], [theirs], catalogue).moves
    assert (dup.resolution, dup.duplicate_of, dup.reversed) == (
        Resolution.DUPLICATE,
        theirs.id,
        100,
    )


def test_a_plate_too_soon_after_the_persons_own_is_reversed_too_frequent(
    catalogue: Catalogue,
) -> None:
    """At most one clean plate per person within two hours: before, binding moved a pending
    plate 10 minutes after the person's own lunch plate as a credit (449 g twice)."""
    lunch = claim(at(12), 20, grams=449, group="food", behaviour="clean_plate")
    asset = f"co2e:food:110000:{TODAY:%Y-%m}"
    plate = replace(
        pending(at(12, 10), 20, grams=449, methodology="clean_plate.beijing@2"),
        behaviour="clean_plate", group="food", asset=asset, region="110101",
    )  # fmt: skip
    dinner = replace(plate, id=uuid.UUID(int=2000), started_at=at(18), ended_at=at(18, 20))

    result = plan([plate, dinner], [lunch], catalogue)

    assert result.moves == [
        Move(plate.id, Resolution.TOO_FREQUENT, 0, 449),
        Move(dinner.id, Resolution.MOVED, 449, 0),
    ]
    assert result.entry is not None
    assert_balanced(result.entry)
    assert result.entry.postings[:2] == (
        Posting(PENDING, asset, -449, plate.id),
        Posting("issuance:clean_plate.beijing", asset, 449, plate.id),
    )
    assert result.region_deltas == {("110101", "food", TODAY): -449}
