"""Taking a reduction's grams back along its lineage (domain/market.py `take_back`,
`correction_lineage`): the event holder first, then its buyers, the rest a shortfall; the
rollup change leaves every holder's lot shrunk by exactly what it gave."""

from __future__ import annotations

import uuid
from datetime import timedelta

from tanpuhui.domain.ledger import Entry, Posting
from tanpuhui.domain.market import correction_lineage, take_back
from tests.conftest import NOW

R = uuid.UUID(int=1)
ASSET = "co2e:mobility:420000:2026-11"


def test_the_event_holder_gives_first_then_the_buyers_by_account() -> None:
    lots = {"enterprise:b": 100, "person:p": 38, "enterprise:a": 50}
    assert take_back(120, "person:p", lots) == (
        [("person:p", 38), ("enterprise:a", 50), ("enterprise:b", 32)],
        0,
    )


def test_what_no_lot_can_give_is_a_shortfall() -> None:
    assert take_back(100, "person:p", {"person:p": 30, "enterprise:a": -5}) == (
        [("person:p", 30)],
        70,
    )
    assert take_back(10, "person:p", {}) == ([], 10)


def test_a_correction_moves_the_rollup_so_each_lot_shrinks_by_what_it_gave() -> None:
    entry = Entry(
        uuid.UUID(int=9),
        "correction",
        NOW - timedelta(hours=1),
        (
            Posting("issuance:c", ASSET, 100, R),
            Posting("person:p", ASSET, -38, R),
            Posting("enterprise:a", ASSET, -50, R),
            Posting("buffer:c", ASSET, -12, R),
        ),
    )
    # the event row drops by 100 g: the person's lot would drop by 100 unless its delta gets
    # back the 50 g the buyer gave; the buyer's delta loses them; the buffer is no holder
    assert correction_lineage(entry, {R: "person:p"}) == {
        ("enterprise:a", R, ASSET): -50,
        ("person:p", R, ASSET): 50,
    }
    assert correction_lineage(entry, {}) == {}
