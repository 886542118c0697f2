"""Intake, the two pure phases: `prepare_batch` (no state) and `decide_batch` (given state).

Unless a test says otherwise the event is the builders' default: a 3.42 km Wuhan shared-bike
ride, 13:18-13:30 Beijing time on the day of NOW, quantified with cycling.shared_bike.wuhan@2 to
319 g (3.42 km × 93.3 g/km = 319.086, rounded down). The mobility group tolerates 120 s of
overlap and caps a person's day at 10,000 g (groups.yaml).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tanpuhui.domain.checks import check_claims
from tanpuhui.domain.claims import Claim
from tanpuhui.domain.decision import decide_batch
from tanpuhui.domain.events import Reason, Rejection
from tanpuhui.domain.evidence import IssuerRights, evidence_fingerprint
from tanpuhui.domain.intake import (
    BatchDecision,
    Candidate,
    IntakeState,
    OutcomeKind,
    PreparedBatch,
    Refused,
    StoredOutcome,
    prepare_batch,
)
from tanpuhui.domain.ledger import Entry, pending_account, person_account
from tanpuhui.domain.methodology import Catalogue
from tanpuhui.domain.regions import RegionCatalogue
from tests.builders import event, steps
from tests.conftest import CST, NOW
from tests.unit.domain_builders import at, claim, id_source, parsed, with_methodology_cap

BIKES = uuid.UUID("0190a000-0000-7000-8000-0000000000b1")
MAPS = uuid.UUID("0190a000-0000-7000-8000-0000000000a2")
ALICE = uuid.UUID("0190a000-0000-7000-8000-00000000a11c")
BOB = uuid.UUID("0190a000-0000-7000-8000-000000000b0b")
ALICE_ACCOUNT = person_account(ALICE)
TODAY = NOW.astimezone(CST).date()
RIDE_START = at(13, 18)
WUHAN_BIKE = "cycling.shared_bike.wuhan@2"
ASSET = f"co2e:mobility:420000:{TODAY:%Y-%m}"


def ride(
    event_id: str = "ride-1", *, start: datetime = RIDE_START, subject: str = "u-1", **kw: Any
) -> dict[str, Any]:
    return event(event_id=event_id, subject=subject, start=start, **kw)


def prepare(
    raws: Sequence[object],
    catalogue: Catalogue,
    regions: RegionCatalogue,
    enterprise: uuid.UUID = BIKES,
) -> PreparedBatch:
    return prepare_batch(enterprise, raws, catalogue, regions, NOW, CST)


def decide(batch: PreparedBatch, state: IntakeState | None = None) -> BatchDecision:
    return decide_batch(batch, state or IntakeState(), id_source(), NOW)


def bound(**more: Any) -> IntakeState:
    """State in which subject u-1 of the enterprise is bound to Alice."""
    return IntakeState(bindings={"u-1": ALICE}, **more)


def stored(decision: BatchDecision) -> dict[str, StoredOutcome]:
    """What the repository would answer as `existing` after storing a decision."""
    return {r.event_id: StoredOutcome(r.payload_hash, r.outcome) for r in decision.records}


def assert_balanced(entry: Entry) -> None:
    totals: dict[str, int] = defaultdict(int)
    for p in entry.postings:
        totals[p.asset] += p.amount
    assert set(totals.values()) == {0}


# --- phase 1: prepare_batch -----------------------------------------------------------------


def test_a_valid_ride_is_quantified_into_a_candidate(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    (item,) = prepare([ride()], catalogue, regions).items

    assert isinstance(item, Candidate)
    assert item.quantification.methodology.key == WUHAN_BIKE
    assert item.quantification.grams == 319
    assert (item.group.code, item.day, item.asset) == ("mobility", TODAY, ASSET)
    assert item.fingerprint is None


def test_a_day_of_luzhou_walking_is_164_grams(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    (item,) = prepare([steps()], catalogue, regions).items

    assert isinstance(item, Candidate)
    # 10,000 steps = 20 blocks of 500 × 8.2 g (Luzhou 绿芽积分, methodology-facts.md)
    assert (item.quantification.methodology.key, item.quantification.grams) == (
        "walking.luzhou@1",
        164,
    )
    assert item.asset == f"co2e:walking:510000:{TODAY - timedelta(days=1):%Y-%m}"


def test_the_day_and_vintage_are_local_to_the_operators_time_zone(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    # 2026-10-31 16:10 UTC is already 1 November in Beijing.
    raw = ride(start=datetime.fromisoformat("2026-10-31T16:10:00+00:00"))

    (item,) = prepare([raw], catalogue, regions).items

    assert isinstance(item, Candidate)
    assert item.day == date(2026, 11, 1)
    assert item.asset == "co2e:mobility:420000:2026-11"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(ride(behaviour="teleportation"), Reason.UNKNOWN_BEHAVIOUR, id="unknown"),
        pytest.param(
            ride(behaviour="metro_ride", region="510502"), Reason.NO_METHODOLOGY, id="no metro"
        ),
        pytest.param(
            ride(behaviour="metro_ride", region="440304", quantity={"count": "1"}),
            Reason.QUANTITY_MISMATCH,
            id="metro without distance",
        ),
        pytest.param(ride(minutes=6), Reason.IMPLAUSIBLE_SPEED, id="34.2 km/h on a bike"),
        pytest.param(ride(region="999999"), Reason.INVALID_REGION, id="bad region"),
        pytest.param(
            ride(start=NOW - timedelta(days=31)), Reason.OUTSIDE_CLAIM_WINDOW, id="too old"
        ),
    ],
)
def test_an_event_that_cannot_be_credited_is_refused_with_its_reason(
    raw: dict[str, Any], reason: Reason, catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    (item,) = prepare([raw], catalogue, regions).items

    assert isinstance(item, Refused)
    assert item.rejection.reason == reason
    assert item.event_id == "ride-1"


def test_an_undecodable_item_is_refused_without_an_event_id(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    malformed = Rejection(Reason.MALFORMED_JSON, "not a JSON value")

    batch = prepare([malformed, ride()], catalogue, regions)
    decision = decide(batch, bound())

    assert batch.items[0] == Refused(0, None, malformed, b"", None)
    first, second = decision.outcomes
    assert (first.kind, first.event_id, first.reason) == (
        OutcomeKind.REJECTED,
        None,
        "malformed_json",
    )
    assert second.kind == OutcomeKind.CREDITED
    assert [r.event_id for r in decision.records] == ["ride-1"]  # no id, nothing to key it by


def test_the_batch_names_the_state_it_needs(catalogue: Catalogue, regions: RegionCatalogue) -> None:
    raws = [
        ride("b", subject="u-2", evidence={"ref": "order-7"}),
        ride("a", start=at(9)),
        ride("c", region="999999"),
        {"event_id": "d", "oops": 1},
    ]

    batch = prepare(raws, catalogue, regions)

    assert batch.event_ids() == ["a", "b", "c", "d"]
    assert batch.subjects() == ["u-1", "u-2"]
    assert len(batch.fingerprints()) == 1
    (scope,) = batch.claim_scopes(catalogue)
    assert scope.group == "mobility"
    assert scope.days == [TODAY]
    skew = timedelta(seconds=catalogue.groups["mobility"].clock_skew_s)
    reach = timedelta(seconds=catalogue.max_duration_s["mobility"])
    assert scope.since == at(9) - reach - skew
    assert scope.until == RIDE_START + timedelta(minutes=12) + skew + timedelta(microseconds=1)


# --- phase 2: crediting, holders and the issuance entry -------------------------------------


def test_a_ride_of_a_bound_subject_is_credited_to_the_person(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    decision = decide(prepare([ride()], catalogue, regions), bound())

    (outcome,) = decision.outcomes
    (record,) = decision.records
    entry = decision.entry
    assert entry is not None
    assert (outcome.kind, outcome.grams, outcome.grams_cut) == (OutcomeKind.CREDITED, 319, 0)
    assert outcome.methodology == WUHAN_BIKE
    assert outcome.reduction_id == record.id
    assert outcome.entry_id == entry.id
    assert record.holder == ALICE_ACCOUNT
    assert entry.postings == (
        (ALICE_ACCOUNT, ASSET, 319, record.id),
        ("issuance:cycling.shared_bike.wuhan", ASSET, -319, None),
    )
    assert decision.balance_deltas == {
        (ALICE_ACCOUNT, ASSET): 319,
        ("issuance:cycling.shared_bike.wuhan", ASSET): -319,
    }
    assert decision.region_deltas == {("420106", "mobility", TODAY): 319}
    assert decision.replaced == []


def test_a_ride_of_an_unbound_subject_waits_in_the_pending_account(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    decision = decide(prepare([ride()], catalogue, regions))

    (outcome,) = decision.outcomes
    (record,) = decision.records
    assert (outcome.kind, outcome.grams) == (OutcomeKind.PENDING_BINDING, 319)
    assert record.holder == pending_account(BIKES, "u-1")
    assert decision.entry is not None
    assert decision.entry.postings[0].account == f"pending:{BIKES}:u-1"


def test_the_issuance_entry_balances_and_its_lines_carry_the_reduction_ids(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    raws = [
        ride("r-1"),
        ride("r-2", subject="u-2"),
        steps(event_id="s-1"),
        steps(event_id="s-2", subject="u-2"),
        event(event_id="p-1", behaviour="clean_plate", region="510502", quantity={}),
    ]

    decision = decide(prepare(raws, catalogue, regions), bound())

    entry = decision.entry
    assert entry is not None
    assert_balanced(entry)
    credited = {r.id: r for r in decision.records if r.outcome.grams > 0}
    holder_lines = [p for p in entry.postings if p.reduction_id is not None]
    assert {p.reduction_id for p in holder_lines} == set(credited)
    for p in holder_lines:
        record = credited[p.reduction_id]  # type: ignore[index]
        assert (p.account, p.amount) == (record.holder, record.outcome.grams)
        assert record.outcome.entry_id == entry.id
    issuance = {(p.account, p.asset): p.amount for p in entry.postings if p.reduction_id is None}
    walking = f"co2e:walking:510000:{TODAY - timedelta(days=1):%Y-%m}"
    assert issuance == {
        ("issuance:cycling.shared_bike.wuhan", ASSET): -638,
        ("issuance:walking.luzhou", walking): -328,
        ("issuance:clean_plate.luzhou", f"co2e:food:510000:{TODAY:%Y-%m}"): -144,
    }


def test_a_batch_with_nothing_credited_has_no_entry(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    decision = decide(prepare([ride(region="999999")], catalogue, regions))

    assert decision.entry is None
    assert decision.balance_deltas == {}
    assert [o.kind for o in decision.outcomes] == [OutcomeKind.REJECTED]


def test_499_steps_quantify_to_zero_and_are_rejected_without_a_ledger_line(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    decision = decide(prepare([steps(count=499)], catalogue, regions), bound())

    (outcome,) = decision.outcomes
    assert (outcome.kind, outcome.reason, outcome.grams, outcome.entry_id) == (
        OutcomeKind.REJECTED,
        "zero_reduction",
        0,
        None,
    )
    assert decision.entry is None
    assert decision.records[0].holder is None


# --- replay and conflicts -------------------------------------------------------------------


def test_a_replayed_event_returns_the_stored_outcome_and_credits_nothing(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    first = decide(prepare([ride()], catalogue, regions), bound())

    again = decide(
        prepare([ride("other", start=at(9)), ride()], catalogue, regions),
        bound(existing=stored(first)),
    )

    replayed = again.outcomes[1]
    assert replayed == first.outcomes[0]._replace(position=1, replayed=True)
    assert [r.event_id for r in again.records] == ["other"]
    assert again.balance_deltas[(ALICE_ACCOUNT, ASSET)] == 319  # "other" only


def test_the_same_payload_spelled_differently_is_a_replay(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    first = decide(prepare([ride()], catalogue, regions), bound())
    respelled = ride(quantity={"distance_km": 3.42})  # a JSON number, and UTC "Z" times
    respelled["started_at"] = f"{RIDE_START.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z"
    respelled["ended_at"] = (
        f"{RIDE_START.astimezone(UTC) + timedelta(minutes=12):%Y-%m-%dT%H:%M:%S}Z"
    )

    again = decide(prepare([respelled], catalogue, regions), bound(existing=stored(first)))

    assert again.outcomes[0].replayed
    assert again.records == []
    assert again.entry is None


def test_a_changed_payload_under_a_known_event_id_is_a_conflict(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    first = decide(prepare([ride()], catalogue, regions), bound())

    again = decide(
        prepare([ride(quantity={"distance_km": "5"})], catalogue, regions),
        bound(existing=stored(first)),
    )

    (outcome,) = again.outcomes
    assert (outcome.kind, outcome.reason, outcome.event_id) == (
        OutcomeKind.CONFLICT,
        "conflict",
        "ride-1",
    )
    assert again.records == []
    assert again.entry is None


def test_a_stored_rejection_replayed_unchanged_is_the_same_rejection(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    first = decide(prepare([ride(region="999999")], catalogue, regions))

    again = decide(
        prepare([ride(region="999999")], catalogue, regions), bound(existing=stored(first))
    )

    (outcome,) = again.outcomes
    assert (outcome.kind, outcome.reason, outcome.replayed) == (
        OutcomeKind.REJECTED,
        "invalid_region",
        True,
    )
    assert again.replaced == []


def test_a_stored_rejection_can_be_corrected(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    first = decide(prepare([ride(minutes=6)], catalogue, regions), bound())  # too fast
    assert first.outcomes[0].reason == "implausible_speed"

    corrected = decide(prepare([ride()], catalogue, regions), bound(existing=stored(first)))

    (outcome,) = corrected.outcomes
    assert (outcome.kind, outcome.grams, outcome.replayed) == (OutcomeKind.CREDITED, 319, False)
    assert corrected.replaced == ["ride-1"]
    assert [r.event_id for r in corrected.records] == ["ride-1"]


def test_the_same_event_twice_in_one_batch_is_credited_once(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    decision = decide(prepare([ride(), ride()], catalogue, regions), bound())

    first, second = decision.outcomes
    assert first.kind == OutcomeKind.CREDITED
    assert second == first._replace(position=1, replayed=True)
    assert len(decision.records) == 1
    assert decision.balance_deltas[(ALICE_ACCOUNT, ASSET)] == 319


def test_one_event_id_with_two_payloads_in_one_batch_is_a_conflict(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    decision = decide(
        prepare([ride(), ride(quantity={"distance_km": "2"})], catalogue, regions), bound()
    )

    assert [o.kind for o in decision.outcomes] == [OutcomeKind.CREDITED, OutcomeKind.CONFLICT]


def test_a_rejection_is_not_corrected_within_the_same_batch(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    decision = decide(prepare([ride(minutes=6), ride()], catalogue, regions), bound())

    assert [o.kind for o in decision.outcomes] == [OutcomeKind.REJECTED, OutcomeKind.CONFLICT]
    assert decision.replaced == []


# --- duplicates: evidence and overlap -------------------------------------------------------


def test_the_same_evidence_twice_is_one_behaviour(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    raws = [
        ride("r-1", evidence={"ref": "order-7"}),
        ride("r-2", subject="u-2", start=at(9), evidence={"ref": "order-7"}),
    ]

    decision = decide(prepare(raws, catalogue, regions), bound())

    first, second = decision.outcomes
    assert first.kind == OutcomeKind.CREDITED
    assert (second.kind, second.duplicate_of, second.grams) == (
        OutcomeKind.DUPLICATE,
        first.reduction_id,
        0,
    )
    assert second.methodology == WUHAN_BIKE
    assert decision.balance_deltas == {
        (ALICE_ACCOUNT, ASSET): 319,
        ("issuance:cycling.shared_bike.wuhan", ASSET): -319,
    }


def test_evidence_already_claimed_in_storage_is_a_duplicate_of_that_claim(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    raw = ride(evidence={"ref": "card-tap-1", "issuer": "wuhan-metro"})
    batch = prepare([raw], catalogue, regions)
    (candidate,) = batch.candidates()
    original = uuid.UUID(int=77)
    assert candidate.fingerprint is not None

    decision = decide(batch, bound(evidence={candidate.fingerprint: original}))

    assert decision.outcomes[0].kind == OutcomeKind.DUPLICATE
    assert decision.outcomes[0].duplicate_of == original
    assert decision.entry is None


def test_two_entitled_enterprises_naming_a_registered_issuer_share_a_fingerprint() -> None:
    """Issue 15 item 3: before, any enterprise naming any issuer shared its fingerprints, so
    one tenant could pre-empt or probe another's evidence. Now only a registered issuer is
    matched across enterprises, and only from those entitled to cite it."""
    ev = parsed(ride(evidence={"ref": "card-tap-1", "issuer": "card:wuhan-tong"}))
    own = parsed(ride(evidence={"ref": "card-tap-1"}))
    registered = frozenset({"card:wuhan-tong"})
    entitled = IssuerRights(registered, registered)

    assert evidence_fingerprint(BIKES, ev, entitled) == evidence_fingerprint(MAPS, ev, entitled)
    # nobody registered it: each enterprise's claim is its own, invisible to the other
    assert evidence_fingerprint(BIKES, ev) != evidence_fingerprint(MAPS, ev)
    assert evidence_fingerprint(BIKES, own) != evidence_fingerprint(MAPS, own)
    assert evidence_fingerprint(BIKES, parsed(ride())) is None
    refused = evidence_fingerprint(MAPS, ev, IssuerRights(registered))
    assert isinstance(refused, Rejection) and refused.reason is Reason.ISSUER_NOT_ENTITLED
    # the issuer's own references need not name it
    assert evidence_fingerprint(BIKES, own, IssuerRights(registered, own="card:wuhan-tong")) == (
        evidence_fingerprint(MAPS, ev, entitled)
    )


@pytest.mark.parametrize(
    ("overlap_s", "kind"),
    [
        (-181, OutcomeKind.CREDITED),  # ends 181 s before the ride: beyond the 180 s skew
        (-180, OutcomeKind.DUPLICATE),  # within the clocks' tolerance: the same trip
        (1, OutcomeKind.DUPLICATE),  # any overlap is the same trip (was: credited up to 120 s)
        (120, OutcomeKind.DUPLICATE),
        (12 * 60, OutcomeKind.DUPLICATE),
    ],
)
def test_an_overlap_or_a_gap_within_the_clock_skew_is_a_duplicate_of_the_earlier_claim(
    overlap_s: int, kind: OutcomeKind, catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    # A stored 10-minute claim (say the map app's navigation) ending `overlap_s` into the ride.
    end = RIDE_START + timedelta(seconds=overlap_s)
    earlier = claim(end - timedelta(minutes=10), 10, claim_id=uuid.UUID(int=5))

    decision = decide(
        prepare([ride()], catalogue, regions), bound(claims={ALICE_ACCOUNT: [earlier]})
    )

    (outcome,) = decision.outcomes
    assert outcome.kind == kind
    assert outcome.duplicate_of == (earlier.id if kind == OutcomeKind.DUPLICATE else None)


def test_overlapping_rides_within_one_batch_credit_the_first(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    raws = [ride("bike"), ride("nav", start=RIDE_START + timedelta(minutes=5))]

    decision = decide(prepare(raws, catalogue, regions), bound())

    first, second = decision.outcomes
    assert first.kind == OutcomeKind.CREDITED
    assert (second.kind, second.duplicate_of) == (OutcomeKind.DUPLICATE, first.reduction_id)


def test_overlaps_are_compared_per_holder_and_per_group(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    raws = [
        ride("alice"),
        ride("bob", subject="u-2"),  # another person
        event(event_id="meal", behaviour="clean_plate", region="420106", start=RIDE_START),
    ]

    decision = decide(prepare(raws, catalogue, regions), bound())

    assert [o.kind for o in decision.outcomes] == [
        OutcomeKind.CREDITED,
        OutcomeKind.PENDING_BINDING,
        OutcomeKind.CREDITED,
    ]


# --- caps -----------------------------------------------------------------------------------


def test_the_daily_group_cap_credits_in_part_then_nothing(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    morning = claim(at(8), 30, grams=9_900)  # 100 g left of the 10,000 g mobility cap
    raws = [ride("r-1"), ride("r-2", start=at(14))]

    decision = decide(prepare(raws, catalogue, regions), bound(claims={ALICE_ACCOUNT: [morning]}))

    first, second = decision.outcomes
    assert (first.kind, first.grams, first.grams_cut) == (OutcomeKind.CAPPED, 100, 219)
    assert (second.kind, second.grams, second.grams_cut) == (OutcomeKind.CAPPED, 0, 319)
    assert (second.entry_id, second.reduction_id) == (None, None)
    assert decision.balance_deltas[(ALICE_ACCOUNT, ASSET)] == 100
    assert decision.records[1].holder is None


def test_yesterdays_claims_do_not_count_against_todays_cap(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    yesterday = claim(at(8, day=TODAY - timedelta(days=1)), 30, grams=10_000)

    decision = decide(
        prepare([ride()], catalogue, regions), bound(claims={ALICE_ACCOUNT: [yesterday]})
    )

    assert decision.outcomes[0].kind == OutcomeKind.CREDITED


def test_the_methodology_cap_credits_in_part_then_nothing(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    capped = with_methodology_cap(catalogue, WUHAN_BIKE, 500)
    metro = claim(at(7), 30, grams=400, behaviour="metro_ride")  # another behaviour: not counted
    raws = [ride("r-1", start=at(9)), ride("r-2", start=at(10)), ride("r-3", start=at(11))]

    decision = decide(prepare(raws, capped, regions), bound(claims={ALICE_ACCOUNT: [metro]}))

    assert [(o.kind, o.grams, o.grams_cut) for o in decision.outcomes] == [
        (OutcomeKind.CREDITED, 319, 0),
        (OutcomeKind.CAPPED, 181, 138),  # 500 − 319
        (OutcomeKind.CAPPED, 0, 319),
    ]


def test_the_tighter_of_group_and_methodology_caps_applies(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    capped = with_methodology_cap(catalogue, WUHAN_BIKE, 5_000)
    morning = claim(at(7), 30, grams=9_800, behaviour="metro_ride")

    decision = decide(prepare([ride()], capped, regions), bound(claims={ALICE_ACCOUNT: [morning]}))

    assert (decision.outcomes[0].grams, decision.outcomes[0].grams_cut) == (200, 119)


def test_caps_of_a_pending_subject_are_its_own(
    catalogue: Catalogue, regions: RegionCatalogue
) -> None:
    pending = pending_account(BIKES, "u-1")
    morning = claim(at(8), 30, grams=9_900)

    as_pending = decide(
        prepare([ride()], catalogue, regions), IntakeState(claims={pending: [morning]})
    )
    as_person = decide(prepare([ride()], catalogue, regions), bound(claims={pending: [morning]}))

    (outcome,) = as_pending.outcomes
    # Capped in part, but the kind says where the grams wait; grams_cut says what was cut.
    assert (outcome.kind, outcome.grams, outcome.grams_cut) == (
        OutcomeKind.PENDING_BINDING,
        100,
        219,
    )
    assert (as_person.outcomes[0].kind, as_person.outcomes[0].grams) == (OutcomeKind.CREDITED, 319)


# --- invariants over random batches ---------------------------------------------------------


@settings(deadline=None, max_examples=40)
@given(
    rides=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=12),  # event id (repeats are replays/conflicts)
            st.sampled_from(["u-1", "u-2"]),
            st.integers(min_value=0, max_value=10 * 60),  # start, minutes after 05:00
            st.integers(min_value=2, max_value=90),  # minutes
            st.sampled_from(["1.5", "3.42", "9.9", "25"]),  # km
            st.sampled_from([None, "order-1", "order-2"]),
        ),
        max_size=14,
    ),
    cap=st.sampled_from([None, 700, 2_000]),
)
def test_any_batch_gets_one_outcome_per_event_and_keeps_the_invariants(
    rides: list[tuple[int, str, int, int, str, str | None]],
    cap: int | None,
    catalogue: Catalogue,
    regions: RegionCatalogue,
) -> None:
    if cap is not None:
        catalogue = with_methodology_cap(catalogue, WUHAN_BIKE, cap)
    raws = [
        ride(
            f"r-{n}",
            subject=subject,
            start=at(5) + timedelta(minutes=offset),
            minutes=minutes,
            quantity={"distance_km": km},
            evidence=None if ref is None else {"ref": ref},
        )
        for n, subject, offset, minutes, km, ref in rides
    ]

    decision = decide(prepare(raws, catalogue, regions), bound())

    assert [o.position for o in decision.outcomes] == list(range(len(raws)))
    assert len({r.event_id for r in decision.records}) == len(decision.records)
    credited = [r for r in decision.records if r.outcome.grams > 0]
    claims: dict[str, list[Claim]] = defaultdict(list)
    for r in credited:
        assert r.event is not None and r.holder is not None and r.candidate is not None
        claims[r.holder].append(
            Claim(
                r.id,
                "mobility",
                r.event.behaviour,
                r.event.started_at,
                r.event.ended_at,
                r.candidate.day,
                r.outcome.grams,
            )
        )
        assert r.outcome.grams + r.outcome.grams_cut == r.candidate.quantification.grams
    caps = {} if cap is None else {"bike_share_ride": cap}
    assert list(check_claims(claims, catalogue.groups, caps)) == []
    fingerprints = [r.candidate.fingerprint for r in credited if r.candidate.fingerprint]
    assert len(fingerprints) == len(set(fingerprints))
    if decision.entry is not None:
        assert_balanced(decision.entry)
        holder_total = sum(p.amount for p in decision.entry.postings if p.reduction_id)
        assert holder_total == sum(r.outcome.grams for r in credited)
    else:
        assert credited == []
