"""The ledger: entries balance per asset, the hash chain sees every change, ids are UUIDv7."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tanpuhui.adapters.system as system
from tanpuhui.adapters.system import Uuid7Source
from tanpuhui.domain.checkpoint import entry_digest, entry_leaves
from tanpuhui.domain.errors import LedgerError, UnbalancedEntryError
from tanpuhui.domain.ids import uuid7, uuid7_time_ms
from tanpuhui.domain.ledger import (
    Entry,
    Posting,
    account_kind,
    balance_deltas,
    co2e_asset,
    is_holder,
    issuance_account,
    issuance_entry,
    pending_account,
    person_account,
)
from tests.conftest import CST, NOW

ENTRY = uuid.UUID(int=1)
PERSON = uuid.UUID("0190a000-0000-7000-8000-000000000001")
BIKES = uuid.UUID("0190a000-0000-7000-8000-0000000000b1")
MOBILITY_HUBEI = "co2e:mobility:420000:2026-11"
FOOD_SICHUAN = "co2e:food:510000:2026-11"
R1, R2, R3 = (uuid.UUID(int=100 + i) for i in range(3))


def test_accounts_and_assets_are_named_by_kind() -> None:
    assert person_account(PERSON) == f"person:{PERSON}"
    assert pending_account(BIKES, "u-1") == f"pending:{BIKES}:u-1"
    assert issuance_account("cycling.shared_bike.wuhan") == "issuance:cycling.shared_bike.wuhan"
    assert co2e_asset("mobility", "420000", NOW.date()) == MOBILITY_HUBEI
    assert account_kind(pending_account(BIKES, "a:b")) == "pending"
    assert is_holder(person_account(PERSON)) and is_holder(pending_account(BIKES, "u-1"))
    assert not is_holder(issuance_account("x"))


# --- entries --------------------------------------------------------------------------------


def test_a_balanced_entry_is_built() -> None:
    entry = Entry(
        ENTRY,
        "issuance",
        NOW,
        (
            Posting(person_account(PERSON), MOBILITY_HUBEI, 319, R1),
            Posting(issuance_account("bike"), MOBILITY_HUBEI, -319),
        ),
    )

    assert balance_deltas(entry) == {
        (person_account(PERSON), MOBILITY_HUBEI): 319,
        ("issuance:bike", MOBILITY_HUBEI): -319,
    }


@pytest.mark.parametrize(
    "postings",
    [
        pytest.param((Posting("person:a", MOBILITY_HUBEI, 319),), id="one side only"),
        pytest.param(
            (Posting("person:a", MOBILITY_HUBEI, 319), Posting("issuance:x", MOBILITY_HUBEI, -318)),
            id="off by a gram",
        ),
        pytest.param(
            (Posting("person:a", MOBILITY_HUBEI, 100), Posting("issuance:x", FOOD_SICHUAN, -100)),
            id="balanced in total, not per asset",
        ),
    ],
)
def test_an_unbalanced_entry_is_refused(postings: tuple[Posting, ...]) -> None:
    with pytest.raises(UnbalancedEntryError) as raised:
        Entry(ENTRY, "issuance", NOW, postings)

    assert raised.value.code == "unbalanced_entry"
    assert isinstance(raised.value, LedgerError)
    assert raised.value.details["imbalance"]


@pytest.mark.parametrize(
    "postings",
    [
        pytest.param((), id="no postings"),
        pytest.param(
            (Posting("person:a", MOBILITY_HUBEI, 0), Posting("issuance:x", MOBILITY_HUBEI, 0)),
            id="zero amounts",
        ),
        pytest.param(
            (
                Posting("person:a", MOBILITY_HUBEI, 5),
                Posting("person:b", MOBILITY_HUBEI, 0),
                Posting("issuance:x", MOBILITY_HUBEI, -5),
            ),
            id="one zero amount",
        ),
        pytest.param(
            (Posting("person:a", MOBILITY_HUBEI, 1.5), Posting("issuance:x", MOBILITY_HUBEI, -1.5)),  # type: ignore[arg-type]
            id="fractional grams",
        ),
    ],
)
def test_an_entry_without_non_zero_integer_postings_is_refused(
    postings: tuple[Posting, ...],
) -> None:
    with pytest.raises(UnbalancedEntryError):
        Entry(ENTRY, "issuance", NOW, postings)


def test_issuance_entry_balances_every_asset_per_methodology() -> None:
    alice, bob = person_account(PERSON), pending_account(BIKES, "u-2")
    credits = [
        (Posting(alice, MOBILITY_HUBEI, 319, R1), "cycling.shared_bike.wuhan"),
        (Posting(bob, MOBILITY_HUBEI, 136, R2), "cycling.shared_bike.wuhan"),
        (Posting(alice, FOOD_SICHUAN, 144, R3), "clean_plate.luzhou"),
    ]

    entry = issuance_entry(ENTRY, NOW, credits, memo="batch 1")

    assert entry.kind == "issuance"
    assert entry.postings[:3] == tuple(p for p, _ in credits)
    assert entry.postings[3:] == (
        Posting("issuance:clean_plate.luzhou", FOOD_SICHUAN, -144),
        Posting("issuance:cycling.shared_bike.wuhan", MOBILITY_HUBEI, -455),
    )
    per_asset: dict[str, int] = defaultdict(int)
    for p in entry.postings:
        per_asset[p.asset] += p.amount
    assert set(per_asset.values()) == {0}


@settings(deadline=None, max_examples=100)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["person:a", "person:b", f"pending:{BIKES}:u-9"]),
            st.sampled_from([MOBILITY_HUBEI, FOOD_SICHUAN, "co2e:walking:510000:2026-10"]),
            st.integers(min_value=1, max_value=10**9),
            st.sampled_from(["m.one", "m.two"]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_any_set_of_credits_makes_a_balanced_issuance_entry(
    lines: list[tuple[str, str, int, str]],
) -> None:
    credits = [(Posting(a, asset, g, uuid.uuid4()), code) for a, asset, g, code in lines]

    entry = issuance_entry(ENTRY, NOW, credits)

    deltas = balance_deltas(entry)
    for asset in {asset for _, asset, _, _ in lines}:
        assert sum(v for (_, a), v in deltas.items() if a == asset) == 0
    holders = sum(v for (acc, _), v in deltas.items() if is_holder(acc))
    assert holders == sum(g for _, _, g, _ in lines)
    assert all(v < 0 for (acc, _), v in deltas.items() if not is_holder(acc))


# --- the hash chain -------------------------------------------------------------------------

POSTINGS = (
    Posting(person_account(PERSON), MOBILITY_HUBEI, 319, R1),
    Posting(pending_account(BIKES, "u-2"), MOBILITY_HUBEI, 136, R2),
    Posting("issuance:cycling.shared_bike.wuhan", MOBILITY_HUBEI, -455),
)
BASE = {"id": ENTRY, "kind": "issuance", "created_at": NOW, "postings": POSTINGS, "memo": ""}


@dataclass(frozen=True)
class Stored:
    """An entry as stored: the digest is computed over whatever is there, balanced or not."""

    id: uuid.UUID
    kind: str
    created_at: datetime
    postings: tuple[Posting, ...]
    memo: str


def hashed(**changes: object) -> bytes:
    return entry_digest(Stored(**{**BASE, **changes}))  # type: ignore[arg-type]


def with_posting(index: int, **changes: object) -> tuple[Posting, ...]:
    postings = list(POSTINGS)
    postings[index] = postings[index]._replace(**changes)
    return tuple(postings)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"id": uuid.UUID(int=2)}, id="entry id"),
        pytest.param({"memo": "m"}, id="memo"),
        pytest.param({"kind": "binding"}, id="kind"),
        pytest.param({"created_at": NOW + timedelta(microseconds=1)}, id="time +1 µs"),
        pytest.param({"postings": with_posting(0, amount=320)}, id="an amount"),
        pytest.param({"postings": with_posting(0, account="person:x")}, id="an account"),
        pytest.param({"postings": with_posting(2, asset=FOOD_SICHUAN)}, id="an asset"),
        pytest.param({"postings": with_posting(1, reduction_id=R3)}, id="a reduction id"),
        pytest.param({"postings": with_posting(1, reduction_id=None)}, id="a lost reduction id"),
        pytest.param({"postings": POSTINGS[:2]}, id="a posting removed"),
        pytest.param({"postings": (*POSTINGS, POSTINGS[0])}, id="a posting repeated"),
    ],
)
def test_entry_digest_changes_when_any_field_or_posting_changes(changes: dict[str, object]) -> None:
    assert hashed(**changes) != hashed()


@settings(deadline=None, max_examples=30)
@given(st.permutations(POSTINGS))
def test_entry_digest_does_not_depend_on_posting_order(postings: list[Posting]) -> None:
    assert hashed(postings=tuple(postings)) == hashed()


def test_entry_digest_does_not_depend_on_the_offset_the_time_is_written_in() -> None:
    assert hashed(created_at=NOW.astimezone(CST)) == hashed()


def test_entry_digest_is_a_sha256_digest() -> None:
    assert len(hashed()) == 32


# --- ids ------------------------------------------------------------------------------------


@settings(deadline=None, max_examples=200)
@given(
    ms=st.integers(min_value=0, max_value=(1 << 48) - 1),
    bits=st.integers(min_value=0, max_value=(1 << 74) - 1),
)
def test_uuid7_is_a_valid_version_7_uuid_carrying_its_time(ms: int, bits: int) -> None:
    made = uuid7(ms, bits)

    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert uuid7_time_ms(made) == ms
    assert uuid.UUID(str(made)) == made  # the same as one parsed the standard way
    assert hash(uuid.UUID(str(made))) == hash(made)


@settings(deadline=None, max_examples=200)
@given(
    a=st.tuples(st.integers(0, (1 << 48) - 1), st.integers(0, (1 << 74) - 1)),
    b=st.tuples(st.integers(0, (1 << 48) - 1), st.integers(0, (1 << 74) - 1)),
)
def test_uuid7_orders_by_time_then_by_its_random_bits(
    a: tuple[int, int], b: tuple[int, int]
) -> None:
    if a == b:
        assert uuid7(*a) == uuid7(*b)
    else:
        assert (uuid7(*a) < uuid7(*b)) == (a < b)


@pytest.mark.parametrize("ms", [-1, 1 << 48])
def test_uuid7_refuses_a_time_out_of_range(ms: int) -> None:
    with pytest.raises(ValueError, match="unix_ms"):
        uuid7(ms, 0)


def test_uuid7_source_is_strictly_monotonic() -> None:
    source = Uuid7Source()

    ids = [source.new() for _ in range(20_000)]

    assert all(a < b for a, b in pairwise(ids))
    assert {i.version for i in ids} == {7}
    assert len(set(ids)) == len(ids)


def test_uuid7_source_stays_monotonic_when_the_clock_goes_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    readings = iter([5_000, 5_000, 4_000, 3_000, 5_000, 6_000])
    monkeypatch.setattr(system.time, "time_ns", lambda: next(readings) * 1_000_000)
    source = Uuid7Source()

    ids = [source.new() for _ in range(6)]

    assert all(a < b for a, b in pairwise(ids))
    assert [uuid7_time_ms(i) for i in ids] == [5_000, 5_000, 5_000, 5_000, 5_000, 6_000]


def test_uuid7_source_borrows_the_next_millisecond_after_4096_ids_in_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(system.time, "time_ns", lambda: 7_000_000)  # the clock stands still
    source = Uuid7Source()

    ids = [source.new() for _ in range(3 * 4096)]

    assert all(a < b for a, b in pairwise(ids))
    assert uuid7_time_ms(ids[0]) == 7
    assert uuid7_time_ms(ids[-1]) > 7


def test_entry_digest_and_leaf_bytes_are_pinned() -> None:
    """Stored logs were hashed with exactly these bytes: a faster implementation must not
    change one of them (or every existing ledger would fail verification)."""

    entry_id = uuid.UUID("0192f0c8-0000-7000-8000-000000000001")
    reduction = uuid.UUID("0192f0c8-0000-7000-8000-0000000000aa")
    created = datetime(2026, 11, 17, 15, 30, tzinfo=CST)
    postings = (
        Posting("person:p-1", "co2e:mobility:440000:2026-11", 319, reduction),
        Posting("issuance:cycling", "co2e:mobility:440000:2026-11", -319),
    )
    head = f"{entry_id}|issuance|2026-11-17T07:30:00.000000+00:00|4:memo\n"
    digest = hashlib.sha256(
        b"tanpuhui/entry/v1\n"
        + head.encode()
        + b"issuance:cycling|co2e:mobility:440000:2026-11|-319|\n"
        + f"person:p-1|co2e:mobility:440000:2026-11|319|{reduction}\n".encode()
    ).digest()
    entry = Entry(entry_id, "issuance", created, postings, "memo")
    assert entry_digest(entry) == digest
    (leaf,) = entry_leaves(entry, 1024)
    assert (
        leaf.data
        == (
            f"tanpuhui/leaf/v1\n{head}{digest.hex()}\n"
            f"person:p-1|co2e:mobility:440000:2026-11|319|{reduction}\n"
        ).encode()
    )
