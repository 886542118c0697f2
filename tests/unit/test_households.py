"""The settlement order of held meter periods (domain/households.py)."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from tanpuhui.domain.households import Rank, settlement_rank, settlement_rounds

UTILITY = uuid.UUID(int=9)  # the meter's registered issuer, although its id is the largest
APPS = (uuid.UUID(int=1), uuid.UUID(int=2))

Report = tuple[uuid.UUID, str]  # (enterprise, event id)


def rank(report: Report) -> Rank:
    return settlement_rank(report[0], report[1], report[0] == UTILITY)


REPORTS: list[tuple[str, Report]] = [
    ("meter:A", (APPS[1], "a-1")),
    ("meter:A", (UTILITY, "z-9")),
    ("meter:A", (APPS[0], "b-1")),
    ("meter:B", (APPS[1], "c-1")),
    ("meter:B", (APPS[0], "d-2")),
    ("meter:B", (APPS[0], "d-1")),
]


def test_the_issuer_settles_first_then_the_smallest_enterprise_and_event_id() -> None:
    assert settlement_rounds(REPORTS, rank) == [
        [(UTILITY, "z-9"), (APPS[0], "d-1")],  # each meter's winner, the issuer first
        [(APPS[0], "b-1"), (APPS[0], "d-2")],
        [(APPS[1], "a-1"), (APPS[1], "c-1")],
    ]


@given(st.permutations(REPORTS))
def test_the_order_does_not_depend_on_the_order_of_arrival(
    arrived: list[tuple[str, Report]],
) -> None:
    assert settlement_rounds(arrived, rank) == settlement_rounds(REPORTS, rank)
