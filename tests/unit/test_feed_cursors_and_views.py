"""Feed cursors round-trip and refuse what is not one of theirs; outcome views render merged
day counts and contested evidence with what the API documents."""

from __future__ import annotations

import base64
import uuid

import pytest

from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.intake import Outcome, OutcomeKind
from tanpuhui.services.events import decode_cursor, encode_cursor
from tanpuhui.services.views import outcome_view

BATCH, ROW = uuid.UUID(int=1), uuid.UUID(int=2)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_cursor_names_the_enterprises_own_batch_and_event() -> None:
    assert decode_cursor(encode_cursor(BATCH, ROW)) == (BATCH, ROW)


def test_an_old_cursor_with_a_commit_number_is_still_read() -> None:
    assert decode_cursor(_b64((41).to_bytes(8, "big") + ROW.bytes)) == (41, ROW)


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!not base64!!!",
        _b64(b"short"),
        _b64(b"\x00" * 25),  # neither 24 nor 32 bytes
        _b64((2**63).to_bytes(8, "big") + ROW.bytes),  # beyond a signed 64-bit sequence
    ],
)
def test_a_malformed_cursor_is_invalid_cursor(cursor: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        decode_cursor(cursor)
    assert refused.value.code == "invalid_cursor"


def test_a_merged_day_count_shows_what_it_topped_up_and_why() -> None:
    topped_up = uuid.UUID(int=9)
    view = outcome_view(
        Outcome(0, "s-2", OutcomeKind.CREDITED, grams=5, duplicate_of=topped_up, reason="merged")
    )
    assert view["outcome"] == "credited"
    assert (view["grams"], view["duplicate_of"], view["reason"]) == (5, str(topped_up), "merged")


def test_a_credit_without_a_merge_names_no_original() -> None:
    view = outcome_view(Outcome(0, "r-1", OutcomeKind.CREDITED, grams=319))
    assert "duplicate_of" not in view
    assert "reason" not in view


def test_contested_evidence_is_a_duplicate_kept_for_review() -> None:
    first = uuid.UUID(int=3)
    view = outcome_view(
        Outcome(1, "m-2", OutcomeKind.DUPLICATE, duplicate_of=first, reason="evidence_contested")
    )
    assert (view["duplicate_of"], view["reason"]) == (str(first), "evidence_contested")
    plain = outcome_view(Outcome(1, "m-3", OutcomeKind.DUPLICATE, duplicate_of=first))
    assert "reason" not in plain
