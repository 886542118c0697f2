"""The pure rules of retirement and export (domain/retirement.py): the serial format, oldest
first allocation, one block per class, whole-tonne export plans, the state machines; and a
Hypothesis model of random retirements, exports and returns against per-class counters:
ranges never overlap, every split is contiguous, every sum holds."""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tanpuhui.domain.errors import ConflictError, InsufficientBalanceError, InvalidInputError
from tanpuhui.domain.market import Lot
from tanpuhui.domain.retirement import (
    TONNE,
    AssetClass,
    BlockStatus,
    Export,
    ExportStatus,
    block_violations,
    check_move,
    class_of,
    format_serial,
    movement_entry,
    number_blocks,
    parse_serial,
    plan_blocks,
    plan_export,
    take,
)
from tests.conftest import NOW

CLASSES = [
    ("co2e:mobility:420000:2026-11", "2nd"),
    ("co2e:mobility:110000:2026-10", "text"),
    ("co2e:food:510000:2026-11", "operator-set"),
]


def lot(i: int, grams: int, klass: int = 0) -> Lot:
    asset, quality = CLASSES[klass]
    return Lot(uuid.UUID(int=i + 1), asset, grams, NOW - timedelta(days=100 - i), quality)


def test_a_serial_names_its_class_and_range_and_parses_back() -> None:
    cls = class_of("co2e:mobility:420000:2026-11", "2nd")
    assert cls == AssetClass("TPH", "mobility", "420000", "2026-11", "Q2")
    serial = format_serial(cls, 1, 5_000)
    assert serial == "TPH-mobility-420000-202611-Q2-000000000001-000000005000"
    assert parse_serial(serial) == (cls, 1, 5_000)
    assert class_of("co2e:food:510000:2026-01", None).tier == "Q0"


@pytest.mark.parametrize(
    "bad",
    ["", "TPH-mobility-420000-202611-Q2-000000000005-000000000001", "TPH-x-1-2-Q2-1-2",
     "TPH-mobility-420000-202611-Q9-000000000001-000000000002"],
)  # fmt: skip
def test_a_malformed_serial_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse_serial(bad)
    assert refused.value.code == "invalid_serial"


def test_take_allocates_oldest_first_or_refuses() -> None:
    lots = [lot(2, 300), lot(0, 100), lot(1, 200)]
    assert [(x.reduction_id.int, x.grams) for x in take(lots, 250)] == [(1, 100), (2, 150)]
    with pytest.raises(InsufficientBalanceError) as refused:
        take(lots, 601)
    assert refused.value.details == {"available_grams": 600, "requested_grams": 601}


def test_one_block_per_class_whose_lineage_sums_to_it() -> None:
    taken = take([lot(0, 100, 0), lot(1, 50, 1), lot(2, 70, 0)], 220)
    plans = plan_blocks(taken)
    assert [(p.asset_class.group, p.asset_class.province, p.grams) for p in plans] == [
        ("mobility", "420000", 170), ("mobility", "110000", 50),
    ]  # fmt: skip
    blocks = number_blocks(
        plans, {p.asset_class.key: 11 for p in plans}, BlockStatus.RETIRED,
        [uuid.uuid4() for _ in plans],
    )  # fmt: skip
    assert [(b.start, b.end, b.grams) for b in blocks] == [(11, 180, 170), (11, 60, 50)]


def test_an_export_plan_takes_whole_tonnes_of_one_class_each() -> None:
    lots = [lot(0, TONNE // 2, 0), lot(1, TONNE, 1), lot(2, TONNE // 2 + 7, 0)]
    plans = plan_export(lots, 2)
    assert [(p.asset_class.province, p.grams) for p in plans] == [
        ("420000", TONNE), ("110000", TONNE),
    ]  # fmt: skip
    with pytest.raises(InsufficientBalanceError) as refused:
        plan_export(lots, 3)
    assert refused.value.details == {"available_tonnes": 2, "requested_tonnes": 3}


def test_block_and_export_moves_follow_their_state_machines() -> None:
    check_move("b", BlockStatus.PENDING_EXPORT, BlockStatus.EXPORTED)
    check_move("b", BlockStatus.RETURNED, BlockStatus.PENDING_EXPORT)
    for current, to in [
        (BlockStatus.RETIRED, BlockStatus.PENDING_EXPORT),
        (BlockStatus.EXPORTED, BlockStatus.RETURNED),
        (BlockStatus.PENDING_EXPORT, BlockStatus.PENDING_EXPORT),
    ]:
        with pytest.raises(ConflictError):
            check_move("b", current, to)
    pending = Export(uuid.uuid4(), uuid.uuid4(), "CCER", 1, ExportStatus.PENDING_EXPORT, None, NOW)
    done = pending.settled(ExportStatus.EXPORTED, "REF", NOW)
    assert (done.status, done.reference, done.marked_at) == (ExportStatus.EXPORTED, "REF", NOW)
    with pytest.raises(InvalidInputError):
        pending.settled(ExportStatus.EXPORTED, None, NOW)
    with pytest.raises(ConflictError) as late:
        done.settled(ExportStatus.RETURNED, None, NOW)
    assert late.value.code == "export_not_pending"


def test_a_movement_balances_and_keeps_reduction_ids() -> None:
    entry = movement_entry(uuid.uuid4(), "retirement", NOW, "enterprise:e", "retired:e",
                           [lot(0, 5), lot(1, 7)], "memo")  # fmt: skip
    assert {p.reduction_id for p in entry.postings} == {uuid.UUID(int=1), uuid.UUID(int=2)}
    assert sum(p.amount for p in entry.postings if p.account == "retired:e") == 12


def test_overlapping_or_short_ranges_are_reported() -> None:
    assert block_violations([("K", 1, 10, 10), ("K", 11, 20, 10), ("L", 1, 5, 5)]) == []
    found = block_violations([("K", 1, 10, 10), ("K", 10, 20, 11), ("K", 21, 30, 9)])
    assert [m.split()[0] for _, m in found] == ["overlaps", "has"]


# --- the model: random retirements, exports and returns -----------------------------------

_step = st.one_of(
    st.tuples(st.just("retire"), st.integers(1, 3 * TONNE)),
    st.tuples(st.just("export"), st.integers(1, 3)),
    st.tuples(st.just("return"), st.integers(0, 5)),
)


@settings(max_examples=60, deadline=None)
@given(
    holdings=st.lists(st.tuples(st.integers(1, 2 * TONNE), st.integers(0, 2)), min_size=1,
                      max_size=12),
    steps=st.lists(_step, max_size=15),
)  # fmt: skip
def test_random_retirements_exports_and_returns_never_overlap_and_always_sum(
    holdings: list[tuple[int, int]], steps: list[tuple[str, int]]
) -> None:
    held = {uuid.UUID(int=i + 1): lot(i, g, k) for i, (g, k) in enumerate(holdings)}
    counters: dict[str, int] = defaultdict(lambda: 1)
    issued: list[tuple[str, int, int, int]] = []
    pending: list[list[Lot]] = []
    retired = [0]

    def number(plans: list, status: BlockStatus) -> list:  # type: ignore[type-arg]
        starts = {}
        for p in plans:
            starts[p.asset_class.key] = counters[p.asset_class.key]
            counters[p.asset_class.key] += p.grams
        return number_blocks(plans, starts, status, [uuid.uuid4() for _ in plans])

    def give(lots: list[Lot], sign: int) -> None:
        for x in lots:
            held[x.reduction_id] = held[x.reduction_id]._replace(
                grams=held[x.reduction_id].grams + sign * x.grams
            )

    total = sum(x.grams for x in held.values())
    for kind, amount in steps:
        try:
            if kind == "retire":
                taken = take(held.values(), amount)
                blocks = number(plan_blocks(taken), BlockStatus.RETIRED)
                assert sum(b.grams for b in blocks) == amount
                retired[0] += amount
            elif kind == "export":
                blocks = number(plan_export(held.values(), amount), BlockStatus.PENDING_EXPORT)
                assert all(b.grams % TONNE == 0 for b in blocks)
                assert sum(b.grams for b in blocks) == amount * TONNE
                taken = [x for b in blocks for x in b.lots]
                pending.append(taken)
            else:
                if amount < len(pending):
                    give(pending.pop(amount), +1)  # a returned block comes back unchanged
                continue
        except InsufficientBalanceError:
            continue
        for b in blocks:
            assert sum(x.grams for x in b.lots) == b.grams == b.end - b.start + 1
            assert len({class_of(x.asset, x.quality) for x in b.lots}) == 1
            issued.append((b.asset_class.key, b.start, b.end, b.grams))
        give(taken, -1)
        assert all(x.grams >= 0 for x in held.values())
    assert block_violations(issued) == []
    by_class: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for key, start, end, _ in issued:
        by_class[key].append((start, end))
    for ranges in by_class.values():  # the class's numbers are handed out without gaps
        ranges.sort()
        assert ranges[0][0] == 1
        assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))
    locked = sum(x.grams for lots in pending for x in lots)
    assert sum(x.grams for x in held.values()) + retired[0] + locked == total  # nothing lost
