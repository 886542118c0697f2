"""The pure rules of the regional aggregates: periods, suppression, sample draws, rollup
deltas and the rollup check."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tanpuhui.domain.aggregates import (
    CITY,
    COUNTY,
    NATION,
    PROVINCE,
    Cell,
    Change,
    Counts,
    check_rollups,
    level_activity,
    level_deltas,
    level_of_bounds,
    parse_period,
    rollup_deltas,
    scope_bounds,
    suppress,
)
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.mrv import draw_sample

CELL = Cell("440305", "bike_share_ride", "mobility", uuid.UUID(int=1), "bike_share", "text")

counts = st.builds(
    Counts,
    st.integers(0, 10**6),
    st.integers(0, 10**3),
    st.integers(1, 30),
)


@given(st.lists(counts, min_size=1, max_size=8), st.integers(2, 15))
def test_no_cell_below_k_can_be_recovered_from_the_total(rows: list[Counts], k: int) -> None:
    """Before complementary suppression, a breakdown with one small row showed every other
    row, and the total minus them was that row."""
    total = Counts(
        sum(r.grams for r in rows), sum(r.events for r in rows), sum(r.persons for r in rows)
    )
    shown_total, shown = suppress(total, [(str(i), r) for i, r in enumerate(rows)], k)
    hidden = [key for key, f in shown if f.grams is None]
    for (key, f), r in zip(shown, rows, strict=True):
        if r.persons < k:
            assert f.grams is None, key
    if shown_total.grams is not None:
        assert len(hidden) != 1
    else:
        assert len(hidden) == len(rows)


def test_a_total_below_k_hides_everything() -> None:
    total, rows = suppress(Counts(100, 3, 3), [("a", Counts(100, 3, 3))], 10)
    assert total.grams is None and rows[0][1].persons is None


@pytest.mark.parametrize(
    ("text", "kind"), [("2026", "year"), ("2026-11", "month"), ("2026-11-03", "day")]
)
def test_periods_are_a_year_a_month_or_a_day(text: str, kind: str) -> None:
    assert parse_period(text).kind == kind


@pytest.mark.parametrize("text", ["2026-13", "2026-02-30", "26-11", "2026/11", "", "2026-1"])
def test_a_malformed_period_is_refused(text: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse_period(text)
    assert refused.value.code == "invalid_period"


def test_a_change_lands_in_its_day_month_and_year() -> None:
    deltas = rollup_deltas([Change("person:a", CELL, date(2026, 11, 3), 120, 1)])
    assert sorted(p for p, _ in deltas) == ["2026", "2026-11", "2026-11-03"]
    assert set(deltas.values()) == {(120, 1)}


def test_reductions_of_one_cell_are_one_row_whoever_holds_them() -> None:
    day = date(2026, 11, 3)
    deltas = rollup_deltas(
        [Change("person:a", CELL, day, 120, 1), Change("person:b", CELL, day, 30, 1)]
    )
    assert deltas[("2026-11-03", CELL)] == (150, 2)
    assert len(deltas) == 3


def test_a_change_lands_in_the_month_and_year_of_its_nation_province_city_and_county() -> None:
    changes = [Change("person:a", CELL, date(2026, 11, 3), 120, 1)]
    deltas = level_deltas(changes)
    assert set(deltas.values()) == {(120, 1)}
    assert {(level, code) for _, level, code, _ in deltas} == {
        (NATION, ""), (PROVINCE, CELL.region[:2] + "0000"), (CITY, CELL.region[:4] + "00"),
        (COUNTY, CELL.region),
    }  # fmt: skip
    assert {p for p, *_ in deltas} == {"2026", "2026-11"}  # days are read from the fine rows
    assert {g for *_, g in deltas} == {"", CELL.group}
    # a county over all groups only: 2 periods x (3 levels x 2 groups + 1)
    assert len(deltas) == 14
    assert {g for _, level, _, g in deltas if level == COUNTY} == {""}
    seen = level_activity([*changes, Change("person:a", CELL, date(2026, 11, 4), 5, 1)])
    # a person is new to a cell once, however often active; a county's first-seen rows are
    # the per-region rows of `activity_rows`
    assert len(seen) == 12
    assert {key[2:] for key in seen} == {k for k in deltas if k[1] != COUNTY}
    assert level_activity([Change("pending:x", CELL, date(2026, 11, 3), 120, 1)]) == set()


@pytest.mark.parametrize(
    ("scope", "found"),
    [(None, (NATION, "")), ("440000", (PROVINCE, "440000")), ("440300", (CITY, "440300")),
     ("440305", (COUNTY, "440305"))],
)  # fmt: skip
def test_the_level_of_a_scope(scope: str | None, found: tuple[int, str]) -> None:
    assert level_of_bounds(scope_bounds(scope)) == found


def test_the_rollup_check_names_the_cell_that_disagrees() -> None:
    credited = {("440305", "bike_share_ride", "2026-11-03"): 120}
    rolled = {
        ("440305", "bike_share_ride", "2026-11-03"): 120,
        ("440305", "bike_share_ride", "2026-11"): 120,
        ("440305", "bike_share_ride", "2026"): 119,
    }
    (violation,) = check_rollups(credited, rolled)
    assert (violation.code, violation.subject) == (
        "region_rollup_mismatch",
        "440305/bike_share_ride/2026",
    )


def test_a_sample_is_reproducible_from_its_seed_whatever_the_order() -> None:
    ids = [uuid.UUID(int=i) for i in range(100)]
    first = draw_sample(ids, 42, 10)
    assert first == draw_sample(list(reversed(ids)), 42, 10)
    assert first != draw_sample(ids, 43, 10)
    assert len(draw_sample(ids[:3], 42, 10)) == 3
