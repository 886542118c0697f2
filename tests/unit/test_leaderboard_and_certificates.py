"""The pure rules of leaderboards and certificates: ranking among opted-in people only, in one
deterministic order whatever the input order; region scopes; serials and their check
character; canonical certificate content."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tanpuhui.domain.certificates import (
    ALPHABET,
    CertificateKind,
    build_content,
    canonical,
    format_grams,
    make_serial,
    parse_content,
    read_serial,
)
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.leaderboard import (
    Tally,
    check_display_name,
    pseudonymous_key,
    rank,
    scope_prefix,
)

T0 = datetime(2026, 6, 3, 8, tzinfo=UTC)


def tally(who: str, grams: int, minutes: int = 0) -> Tally:
    return Tally(f"person:{who}", grams, T0 + timedelta(minutes=minutes))


def test_only_opted_in_people_are_ranked_and_the_ranks_have_no_gap() -> None:
    tallies = [tally("a", 900), tally("b", 800), tally("c", 700), tally("d", 0)]
    names = {"person:a": "A", "person:c": "C", "person:d": "D"}  # b opted out
    assert [(p.rank, p.display_name, p.grams) for p in rank(tallies, names, 10)] == [
        (1, "A", 900),
        (2, "C", 700),
    ]  # d has nothing to show
    assert [p.display_name for p in rank(tallies, names, 1)] == ["A"]


def test_equal_grams_go_to_who_got_there_first_then_the_pseudonymous_key() -> None:
    tallies = [tally("late", 500, 30), tally("early", 500, 10), tally("x", 500, 20)]
    tallies += [tally("y", 500, 20)]
    names = {t.holder: t.holder for t in tallies}
    shown = [p.holder for p in rank(tallies, names, 10)]
    xy = sorted(["person:x", "person:y"], key=pseudonymous_key)
    assert shown == ["person:early", *xy, "person:late"]


@given(
    st.lists(st.tuples(st.integers(1, 3), st.integers(0, 2)), min_size=1, max_size=12).flatmap(
        lambda rows: st.permutations(list(enumerate(rows)))
    )
)
def test_the_order_does_not_depend_on_the_input_order(
    rows: list[tuple[int, tuple[int, int]]],
) -> None:
    tallies = [tally(str(i), grams * 100, minutes) for i, (grams, minutes) in rows]
    names = {t.holder: t.holder for t in tallies}
    ranked = [p.holder for p in rank(tallies, names, 100)]
    assert ranked == [p.holder for p in rank(sorted(tallies, key=lambda t: t.holder), names, 100)]
    assert [p.rank for p in rank(tallies, names, 100)] == list(range(1, len(tallies) + 1))


def test_region_scopes_are_code_prefixes_of_their_level() -> None:
    assert scope_prefix("420000") == "42"
    assert scope_prefix("420100") == "4201"
    assert scope_prefix("420106") == "420106"
    for bad in ("42", "4201060", "abcdef", ""):
        with pytest.raises(InvalidInputError):
            scope_prefix(bad)


def test_display_names_are_trimmed_and_bounded() -> None:
    assert check_display_name("  骑行   达人 ") == "骑行 达人"
    for bad in ("", "   ", "x" * 33, "tab\u0007bell"):
        with pytest.raises(InvalidInputError):
            check_display_name(bad)


def test_a_serial_reads_back_and_its_check_character_catches_a_change() -> None:
    serial = make_serial(CertificateKind.RETIREMENT, date(2026, 6, 3), 1023, 2**50 - 1)
    assert serial.startswith("TPH-R20260603-1023-")
    parts = read_serial(serial)
    assert (parts.kind, parts.day, parts.shard) == (
        CertificateKind.RETIREMENT,
        date(2026, 6, 3),
        1023,
    )
    wrong = next(c for c in ALPHABET if c != serial[-1])
    for bad in (
        serial[:-1] + wrong,
        serial.lower(),
        serial + "0",
        "TPH-X20260603-0001-0000000000A",
    ):
        with pytest.raises(InvalidInputError) as refused:
            read_serial(bad)
        assert refused.value.code == "invalid_serial"


def content() -> dict[str, object]:
    serial = make_serial(CertificateKind.LEADERBOARD, date(2026, 6, 3), 7, 42)
    return build_content(
        serial, CertificateKind.LEADERBOARD, "骑行达人", "rank 1", 957, "2026-06-03",
        "tanpuhui", "2026-06-03T10:00:00+08:00", {"rank": "1"},
    )  # fmt: skip


def test_content_is_canonical_utf8_json_and_only_canonical_bytes_parse() -> None:
    body = canonical(content())
    assert "骑行达人".encode() in body and b" " not in body.replace(b"rank 1", b"")
    assert parse_content(body) == content()
    for bad in (body.replace(b'{"achievement"', b'{ "achievement"'), b"[]", b"\xff"):
        with pytest.raises(InvalidInputError):
            parse_content(bad)
    with pytest.raises(InvalidInputError):
        parse_content(canonical({**content(), "grams": True}))
    with pytest.raises(InvalidInputError):
        parse_content(canonical({**content(), "extra": "x"}))


def test_grams_for_people_never_round_up() -> None:
    assert format_grams(957) == "957 g CO₂e"
    assert format_grams(1999) == "1.9 kg CO₂e"
    assert format_grams(1_234_567) == "1,234.5 kg CO₂e"
