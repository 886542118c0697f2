"""The fast msgspec decoding path agrees with the domain's reference parser on every input.

The contract: for any JSON text, `EventDecoder.line` returns either a `BehaviourEvent` equal to
`parse_event(json.loads(text))`, or the generically decoded value (equal to `json.loads(text)`)
for the reference parser to reject with its precise reason; malformed JSON is a
`malformed_json` rejection. `.array` does the same item by item for a JSON array.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tanpuhui.adapters import event_codec
from tanpuhui.adapters.event_codec import EventDecoder, decode_lines
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.events import (
    FIELDS,
    BehaviourEvent,
    Reason,
    Rejection,
    parse_event,
    raw_payload_hash,
)
from tanpuhui.domain.regions import RegionCatalogue
from tests.builders import event
from tests.conftest import CST, NOW

HYPOTHESIS = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])

# --- strategies: valid events from the builder, then mutated ------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)

timestamps = st.sampled_from(
    [
        "2026-11-17T13:18:00+08:00",
        "2026-11-17T05:18:00Z",
        "2026-11-17T05:18:00.123456+00:00",
        "2026-11-17 13:18:00+08:00",
        "20261117T131800+0800",
        "2026-11-17T13:18:00",  # naive
        "2026-11-17",  # a date
        "2026-11-17T13:18:00+15:00",  # impossible offset
        "2026-11-17T13:18:00+14:00",
        "2026-02-30T00:00:00+08:00",  # no such day
        "9999-12-31T23:50:00+00:00",  # the calendar's ends: not convertible to every offset
        "0001-01-01T00:10:00+05:00",
        "9999-12-28T23:59:59.999999+00:00",  # the last instant the contract accepts
        "0001-01-03T00:00:00Z",  # the first
        "yesterday",
        "",
    ]
)
regions_codes = st.sampled_from(
    ["420106", "420100", "510502", "110101", "440305", "999999", "42010", "042010", "", "Wuhan"]
)
behaviours = st.sampled_from(
    ["bike_share_ride", "walking_steps", "metro_ride", "Bike", "bike-ride", "", "x" * 70]
)
ids_text = st.sampled_from(["e-1", "", "e 1", "e" * 128, "e" * 129, "张三", "u\t1"]) | st.text(
    max_size=6
)
quantity_keys = st.sampled_from(["distance_km", "steps", "kwh", "weight_kg", "count", "speed"])
quantity_values = (
    st.sampled_from(
        ["3.42", "0", "-0", "-1", "1e3", "1e16", "NaN", "Infinity", "", "abc", "1000000001"]
    )
    | st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str)
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.none()
)
quantities = st.dictionaries(quantity_keys, quantity_values, max_size=3)
evidences = (
    st.none()
    | st.just({"ref": "order-1"})
    | st.builds(lambda ref, issuer: {"ref": ref, "issuer": issuer}, st.text(max_size=9), st.text())
)
junk_evidences = st.fixed_dictionaries(
    {"ref": st.text(max_size=10) | st.integers()},
    optional={"issuer": st.none() | st.text(max_size=5) | st.integers(), "url": st.text()},
)


valid_events = st.builds(
    event,
    subject=st.sampled_from(["u-1", "u-2", "~!x"]),
    region=st.sampled_from(["420106", "510502", "440305", "110000"]),
    quantity=st.sampled_from(
        [{"distance_km": "3.42"}, {"distance_km": 3.42}, {"steps": 10_000, "count": 1}, {}]
    ),
    evidence=st.sampled_from([None, {"ref": "order-1"}, {"ref": "tap-2", "issuer": "metro"}]),
)


@st.composite
def raw_events(draw: st.DrawFn) -> Any:
    """A builder event, sometimes valid, usually mutated in a few ways."""
    raw: dict[str, Any] = event(
        event_id=draw(st.sampled_from(["e-1", "ride-42"])),
        subject=draw(st.sampled_from(["u-1", "subject-7"])),
        region=draw(st.sampled_from(["420106", "510502", "440305"])),
        quantity=draw(st.sampled_from([{"distance_km": "3.42"}, {"steps": 10_000}]) | quantities),
        evidence=draw(evidences | junk_evidences),
    )
    mutations = draw(
        st.lists(
            st.sampled_from(
                [
                    "remove",
                    "add",
                    "retype",
                    "timestamp",
                    "region",
                    "behaviour",
                    "ids",
                    "nested",
                    "null",
                ]
            ),
            max_size=2,
        )
    )
    for mutation in mutations:
        if mutation == "remove" and raw:
            raw.pop(draw(st.sampled_from(sorted(raw))))
        elif mutation == "add":
            raw[draw(st.text(max_size=8).filter(lambda k: k not in FIELDS))] = draw(json_values)
        elif mutation == "retype":
            raw[draw(st.sampled_from(sorted(FIELDS)))] = draw(json_values)
        elif mutation == "timestamp":
            raw[draw(st.sampled_from(["started_at", "ended_at"]))] = draw(timestamps)
        elif mutation == "region":
            raw["region"] = draw(regions_codes)
        elif mutation == "behaviour":
            raw["behaviour"] = draw(behaviours)
        elif mutation == "ids":
            raw[draw(st.sampled_from(["event_id", "subject"]))] = draw(ids_text)
        elif mutation == "nested":
            raw[draw(st.sampled_from(["quantity", "evidence"]))] = draw(
                st.dictionaries(st.text(max_size=8), json_values, max_size=3) | json_values
            )
        elif mutation == "null":
            raw[draw(st.sampled_from(sorted(FIELDS)))] = None
    if draw(st.integers(min_value=1, max_value=20)) == 7:
        return draw(json_values)  # now and then not an event at all
    return raw


def assert_agrees(got: object, text: bytes, regions: RegionCatalogue) -> None:
    """`got` is the reference parser's event, or the generic value it will parse itself.
    (JSON numbers with a fraction are read as exact Decimals on both sides.)"""
    reference_input = json.loads(text, parse_float=Decimal)
    expected = parse_event(reference_input, regions)
    if isinstance(got, BehaviourEvent):
        assert isinstance(expected, BehaviourEvent), f"fast path accepted what {expected} rejects"
        assert got == expected
        assert got.payload_hash == expected.payload_hash
        assert got.started_at.utcoffset() == expected.started_at.utcoffset()
        assert got.ended_at.utcoffset() == expected.ended_at.utcoffset()
    else:
        assert not isinstance(got, Rejection), f"valid JSON was rejected: {got}"
        assert got == reference_input
        # Falling back is for the reference parser to name a reason, not to lose good events.
        assert isinstance(expected, Rejection), "the fast path fell back on a valid event"


@contextmanager
def slow_path_spy() -> Iterator[list[str]]:
    """Records every use of the generic (slow) decoding path: the generic msgspec decoder and
    the decoder's fallback methods. A fast-path test asserts the record stays empty."""
    calls: list[str] = []
    generic = event_codec._any

    class Generic:
        def decode(self, data: bytes) -> Any:
            calls.append("generic decode")
            return generic.decode(data)

    def spying(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def spy(self: EventDecoder, *args: Any) -> Any:
            calls.append(name)
            return method(self, *args)

        return spy

    fallbacks = {
        name: spying(name, getattr(EventDecoder, name))
        for name in ("_batch_slowly", "_array_slowly", "_python_item", "item")
    }
    with patch.object(event_codec, "_any", Generic()), patch.multiple(EventDecoder, **fallbacks):
        yield calls


def test_the_slow_path_spy_sees_a_fallback(regions: RegionCatalogue) -> None:
    """The spy itself works: an invalid event is decoded generically, and the spy says so."""
    bad = json.dumps(event(region="999999")).encode()

    with slow_path_spy() as slow:
        EventDecoder(regions).line(bad)
        EventDecoder(regions).array(b"[" + bad + b"]")

    assert slow == ["generic decode", "_array_slowly", "generic decode"]


@HYPOTHESIS
@given(raw=raw_events())
def test_line_decodes_like_the_reference_parser(raw: Any, regions: RegionCatalogue) -> None:
    text = json.dumps(raw).encode()

    assert_agrees(EventDecoder(regions).line(text), text, regions)


@HYPOTHESIS
@given(raw=raw_events())
def test_line_accepts_str_and_compact_or_pretty_json_alike(
    raw: Any, regions: RegionCatalogue
) -> None:
    decoder = EventDecoder(regions)
    compact = json.dumps(raw, separators=(",", ":"), ensure_ascii=False)
    pretty = json.dumps(raw, indent=2)

    assert_agrees(decoder.line(compact), compact.encode(), regions)
    assert_agrees(decoder.line(pretty.encode()), pretty.encode(), regions)


@HYPOTHESIS
@given(raws=st.lists(raw_events(), max_size=6))
def test_array_decodes_every_item_like_the_reference_parser(
    raws: list[Any], regions: RegionCatalogue
) -> None:
    body = json.dumps(raws).encode()

    decoded = EventDecoder(regions).array(body)

    assert decoded is not None
    assert len(decoded) == len(raws)
    for item, raw in zip(decoded, raws, strict=True):
        assert_agrees(item, json.dumps(raw).encode(), regions)


@HYPOTHESIS
@given(raws=st.lists(valid_events, min_size=1, max_size=5))
def test_an_array_of_valid_events_takes_the_fast_path_whole(
    raws: list[Any], regions: RegionCatalogue
) -> None:
    """(It passed with the fast path disabled: the slow path gives the same events. Now the
    spy shows that no event was decoded generically.)"""
    with slow_path_spy() as slow:
        decoded = EventDecoder(regions).array(json.dumps(raws).encode())
        batch = EventDecoder(regions).batch(json.dumps({"events": raws}).encode())

    assert slow == []
    assert batch == decoded
    assert decoded is not None
    assert all(isinstance(item, BehaviourEvent) for item in decoded)
    assert decoded == [parse_event(raw, regions) for raw in raws]


def test_one_bad_item_does_not_send_its_neighbours_to_the_slow_path(
    regions: RegionCatalogue,
) -> None:
    good, bad = event(event_id="good"), event(event_id="bad", region="999999")

    decoded = EventDecoder(regions).array(json.dumps([good, bad, good]).encode())

    assert decoded is not None
    first, second, third = decoded
    assert isinstance(first, BehaviourEvent) and isinstance(third, BehaviourEvent)
    assert second == bad
    assert parse_event(second, regions) == Rejection(
        Reason.INVALID_REGION, "'999999' is not a GB/T 2260 region code", "region"
    )


@pytest.mark.parametrize("body", [b'{"event_id": "e-1"}', b"42", b'"events"', b"null"])
def test_array_is_none_for_json_that_is_not_an_array(body: bytes, regions: RegionCatalogue) -> None:
    assert EventDecoder(regions).array(body) is None


@pytest.mark.parametrize("body", [b"[", b'[{"event_id": "e-1"', b"[1,]", b"", b"[NaN]"])
def test_array_is_none_for_malformed_json(body: bytes, regions: RegionCatalogue) -> None:
    assert EventDecoder(regions).array(body) is None


def test_an_empty_array_is_an_empty_batch(regions: RegionCatalogue) -> None:
    assert EventDecoder(regions).array(b"[]") == []


def test_duplicate_keys_take_the_last_value_as_json_loads_does(regions: RegionCatalogue) -> None:
    text = json.dumps(event(subject="u-1"))[:-1] + ', "subject": "u-2"}'

    got = EventDecoder(regions).line(text.encode())

    assert isinstance(got, BehaviourEvent)
    assert got == parse_event(json.loads(text, parse_float=Decimal), regions)
    assert got.subject == "u-2"


def test_decode_lines_keeps_one_item_per_line(regions: RegionCatalogue) -> None:
    lines = [json.dumps(event()).encode(), b"{", json.dumps([1]).encode()]

    first, second, third = decode_lines(EventDecoder(regions), lines)

    assert isinstance(first, BehaviourEvent)
    assert isinstance(second, Rejection) and second.reason == Reason.MALFORMED_JSON
    assert third == [1]


# --- malformed JSON -------------------------------------------------------------------------

MALFORMED = [
    b"",
    b" ",
    b"{",
    b'{"event_id": "e-1"',
    b'{"event_id": "e-1",',
    b'{"event_id": "e-1", "subject": "u-1"',
    b"not json",
    b'"unterminated',
    b"{'event_id': 'e-1'}",
    b"NaN",
    b"Infinity",
    b"\xff\xfe",
    b'{"quantity": {"distance_km": NaN}}',
    b'{"a": "\\ud800", "b": NaN}',  # a lone surrogate does not make malformed JSON readable
]

#: Malformed lines where the typed decoder first meets a wrong type, then the generic decode of
#: the same bytes raises instead of returning the malformed_json rejection.
MALFORMED_AFTER_A_TYPE_ERROR = [
    b'{"event_id": 5, ',
    b'{"colour": "green",',
    b"[1, 2",
    b"[1,]",
    b'{"a": 1,}',
    b'{"event_id": "e-1"} trailing',
    b"42 43",
]


@pytest.mark.parametrize("line", MALFORMED)
def test_malformed_json_is_a_malformed_json_rejection(
    line: bytes, regions: RegionCatalogue
) -> None:
    got = EventDecoder(regions).line(line)

    assert isinstance(got, Rejection)
    assert got.reason == Reason.MALFORMED_JSON
    assert got.message.startswith("not a JSON value")


@pytest.mark.parametrize("line", MALFORMED_AFTER_A_TYPE_ERROR)
def test_malformed_json_after_a_wrong_type_is_a_malformed_json_rejection(
    line: bytes, regions: RegionCatalogue
) -> None:
    got = EventDecoder(regions).line(line)

    assert isinstance(got, Rejection)
    assert got.reason == Reason.MALFORMED_JSON


@settings(deadline=None, max_examples=100)
@given(raw=raw_events(), cut=st.integers(min_value=0))
def test_a_truncated_line_is_malformed_or_decodes_like_the_reference(
    raw: Any, cut: int, regions: RegionCatalogue
) -> None:
    text = json.dumps(raw).encode()
    truncated = text[: cut % len(text)]

    got = EventDecoder(regions).line(truncated)
    try:
        json.loads(truncated)
    except ValueError:
        assert isinstance(got, Rejection) and got.reason == Reason.MALFORMED_JSON
    else:
        assert_agrees(got, truncated, regions)


def test_a_quantity_beyond_float_range_is_rejected_not_raised(regions: RegionCatalogue) -> None:
    text = json.dumps(event(quantity={"distance_km": "X"})).replace('"X"', "1e400")

    got = EventDecoder(regions).line(text.encode())

    assert isinstance(got, Rejection) or parse_event(got, regions).reason in (
        Reason.INVALID_QUANTITY,
        Reason.MALFORMED_JSON,
    )


def test_a_number_beyond_float_range_does_not_lose_the_batch(regions: RegionCatalogue) -> None:
    good = json.dumps(event(event_id="good"))
    bad = json.dumps(event(event_id="bad", quantity={"distance_km": "X"})).replace('"X"', "1e400")

    decoded = EventDecoder(regions).array(f"[{good}, {bad}]".encode())

    assert decoded is not None and len(decoded) == 2


def test_the_builders_default_event_takes_the_fast_path(regions: RegionCatalogue) -> None:
    """(It passed with the fast path disabled; now the spy shows no generic decoding.)"""
    raw = event(start=NOW.astimezone(CST))

    with slow_path_spy() as slow:
        got = EventDecoder(regions).line(json.dumps(raw).encode())

    assert slow == []
    assert isinstance(got, BehaviourEvent)
    assert got == parse_event(raw, regions)


# --- limits: depth, size, lone surrogates, the batch's own fields (issue 15) -----------------


def nested(levels: int) -> Any:
    """A value nesting `levels` objects and arrays, built without recursion."""
    value: Any = 1
    for i in range(levels):
        value = {"n": value} if i % 2 else [value]
    return value


def deep_text(levels: int) -> str:
    """The JSON of `nested(levels)`, for depths json.dumps cannot write."""
    return "[" * levels + "1" + "]" * levels


def batch_of(*items: str) -> bytes:
    return ('{"events": [' + ", ".join(items) + "]}").encode()


def with_field(raw: dict[str, Any], name: str, value_json: str) -> str:
    return json.dumps(raw)[:-1] + f', "{name}": {value_json}}}'


def test_an_event_nested_500_levels_deep_is_rejected_alone(regions: RegionCatalogue) -> None:
    """Issue 15 item 4: about 500 levels inside one event gave a 500 for the whole batch (a
    RecursionError hashing the rejected event). Now that event is `too_deep`, the rest stand."""
    good = json.dumps(event(event_id="good"))
    deep = with_field(event(event_id="deep"), "junk", deep_text(500))

    decoded = EventDecoder(regions).batch(batch_of(good, deep, good))

    assert decoded is not None
    first, second, third = decoded
    assert isinstance(first, BehaviourEvent) and isinstance(third, BehaviourEvent)
    assert isinstance(second, Rejection) and second.reason == Reason.TOO_DEEP
    assert "more than 32 levels" in second.message


@pytest.mark.parametrize("levels", [31, 32])
def test_nesting_within_the_limit_is_left_to_the_reference_parser(
    levels: int, regions: RegionCatalogue
) -> None:
    raw = event(junk=nested(levels - 1))  # the event itself is one level

    (got,) = EventDecoder(regions).batch(json.dumps({"events": [raw]}).encode()) or [None]

    assert got == json.loads(json.dumps(raw), parse_float=Decimal)
    assert parse_event(got, regions).reason == Reason.UNKNOWN_FIELD


def test_one_level_past_the_limit_is_too_deep(regions: RegionCatalogue) -> None:
    raw = event(junk=nested(32))

    (got,) = EventDecoder(regions).batch(json.dumps({"events": [raw]}).encode()) or [None]

    assert isinstance(got, Rejection) and got.reason == Reason.TOO_DEEP


@pytest.mark.parametrize("levels", [600, 5_000, 200_000])
def test_a_body_nested_beyond_the_parsers_is_refused_whole(
    levels: int, regions: RegionCatalogue
) -> None:
    """(5,000 levels raised RecursionError out of the decoder: a 500.)"""
    body = batch_of(json.dumps(event()), with_field(event(), "junk", deep_text(levels)))

    with pytest.raises(InvalidInputError) as refused:
        EventDecoder(regions).batch(body)

    assert refused.value.code == "too_deep"
    with pytest.raises(InvalidInputError):
        EventDecoder(regions).array(body[len('{"events": ') : -1])


@pytest.mark.parametrize("levels", [40, 5_000, 30_000])
def test_a_line_nested_too_deep_is_a_rejection(levels: int, regions: RegionCatalogue) -> None:
    got = EventDecoder(regions).line(with_field(event(), "junk", deep_text(levels)))

    assert isinstance(got, Rejection) and got.reason == Reason.TOO_DEEP


def test_a_deep_quantity_value_does_not_crash_the_typed_path(regions: RegionCatalogue) -> None:
    """`quantity` is an open object for the typed decoder: its values nest as deep as sent."""
    raw = json.dumps(event())[:-1] + ', "quantity": {"distance_km": ' + deep_text(2_000) + "}}"

    with pytest.raises(InvalidInputError):
        EventDecoder(regions).batch(batch_of(raw))
    got = EventDecoder(regions).line(raw)

    assert isinstance(got, Rejection) and got.reason == Reason.TOO_DEEP


def test_an_invalid_event_over_the_size_limit_is_too_large(regions: RegionCatalogue) -> None:
    good = json.dumps(event(event_id="good"))
    big = json.dumps(event(event_id="big", note="x" * 70_000))
    small = json.dumps(event(event_id="small", note="x" * 9_000))  # issue 15 item 1's size

    decoded = EventDecoder(regions).batch(batch_of(good, big, small)) or []

    assert isinstance(decoded[0], BehaviourEvent)
    assert isinstance(decoded[1], Rejection) and decoded[1].reason == Reason.TOO_LARGE
    assert parse_event(decoded[2], regions).reason == Reason.UNKNOWN_FIELD
    line = EventDecoder(regions).line(big)
    assert isinstance(line, Rejection) and line.reason == Reason.TOO_LARGE


def test_a_valid_event_is_valid_whatever_its_size(regions: RegionCatalogue) -> None:
    """The size limit bounds what is read of an invalid event; both paths accept a valid one
    padded with whitespace (so the fast and the slow path still agree)."""
    padded = json.dumps(event(event_id="padded")).replace(", ", "," + " " * 20_000)
    bad = json.dumps(event(event_id="bad", region="999999"))

    alone = EventDecoder(regions).line(padded)
    (mixed, _) = EventDecoder(regions).batch(batch_of(padded, bad)) or [None, None]

    assert isinstance(alone, BehaviourEvent) and alone == mixed


LONE = '"order-\\ud800"'  # the JSON text of a string holding a lone surrogate escape


def test_a_lone_surrogate_rejects_only_its_event(regions: RegionCatalogue) -> None:
    """Issue 15 item 10: one `\\ud800` anywhere made the whole batch a 422 saying the body was
    not `{"events": [...]}`. Now only its event is rejected, and the message says why."""
    good = json.dumps(event(event_id="good"))
    bad = json.dumps(event(event_id="bad", evidence={"ref": "X"})).replace('"X"', LONE)
    wrong = json.dumps(event(event_id="wrong", region="999999"))

    decoded = EventDecoder(regions).batch(batch_of(good, bad, wrong)) or []

    assert len(decoded) == 3 and isinstance(decoded[0], BehaviourEvent)
    assert decoded[1] == Rejection(
        Reason.INVALID_UNICODE,
        "evidence.ref holds a lone UTF-16 surrogate escape, which is no Unicode character",
        "evidence.ref",
    )
    assert parse_event(decoded[2], regions).reason == Reason.INVALID_REGION


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"\\udc00": 1}', "a key in the event"),
        ('{"quantity": {"distance_km": ["\\udbff"]}}', "quantity.distance_km[0]"),
        ('"\\ud800"', "the value"),
    ],
)
def test_a_lone_surrogate_is_named_where_it_is(
    text: str, where: str, regions: RegionCatalogue
) -> None:
    got = EventDecoder(regions).line(text)

    assert isinstance(got, Rejection) and got.reason == Reason.INVALID_UNICODE
    assert got.field == where
    (in_batch,) = EventDecoder(regions).batch(batch_of(text)) or [None]
    assert in_batch == got


def test_a_surrogate_pair_is_one_character_not_a_rejection(regions: RegionCatalogue) -> None:
    raw = json.dumps(event(evidence={"ref": "order-😀"}))  # json.dumps writes \ud83d\ude00

    got = EventDecoder(regions).line(raw)

    assert isinstance(got, BehaviourEvent) and got.evidence == ("order-😀", None)


def test_a_lone_surrogate_in_a_malformed_body_leaves_it_malformed(
    regions: RegionCatalogue,
) -> None:
    assert EventDecoder(regions).batch(b'{"events": [{"a": "\\ud800"}, NaN]}') is None
    assert EventDecoder(regions).batch(b'{"events": [{"a": "\\ud800"}') is None


def test_a_batch_with_a_field_besides_events_is_refused(regions: RegionCatalogue) -> None:
    """Issue 15 item 10: `{"events": [...], "foo": 1}` was accepted silently."""
    body = json.dumps({"events": [event()], "foo": 1}).encode()

    with pytest.raises(InvalidInputError) as refused:
        EventDecoder(regions).batch(body)

    assert refused.value.code == "unknown_field"
    assert "'foo'" in refused.value.message
    lone = b'{"events": [{"a": "\\ud800"}], "foo": 1}'
    with pytest.raises(InvalidInputError, match="unknown batch field"):
        EventDecoder(regions).batch(lone)


@pytest.mark.parametrize(
    "body", [b'{"evnts": []}', b'{"events": 1, "foo": 2}', b"[]", b"{", b"null", b'"\\ud800"']
)
def test_batch_is_none_for_what_is_not_a_batch(body: bytes, regions: RegionCatalogue) -> None:
    """(A body without a list of `events` is no batch: `invalid_request`, not `unknown_field`.)"""
    assert EventDecoder(regions).batch(body) is None


# --- no input crashes the decoder ---------------------------------------------------------

hostile_strings = st.sampled_from(
    ['"\\ud800"', '"\\udfff x"', '"\\ud83d\\ude00"', '"\\u0000"', '"ok"', "1e400", "-0", "NaN"]
)


def json_object(pairs: list[tuple[str, str]]) -> str:
    """An object's JSON text from (key, value) texts; a key that is not a string is `"k"`."""
    return (
        "{"
        + ",".join(f"{k if k.startswith(QUOTE) else QUOTE + 'k' + QUOTE}:{v}" for k, v in pairs)
        + "}"
    )


QUOTE = '"'
hostile_values = st.recursive(
    hostile_strings | st.integers(min_value=-(10**30), max_value=10**30).map(str),
    lambda children: (
        st.lists(children, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]")
        | st.lists(st.tuples(hostile_strings, children), max_size=3).map(json_object)
        | st.integers(min_value=1, max_value=2_000).map(lambda n: "[" * n + "]" * n)
    ),
    max_leaves=8,
)


@st.composite
def hostile_batches(draw: st.DrawFn) -> bytes:
    items = draw(st.lists(st.one_of(hostile_values, raw_events().map(json.dumps)), max_size=4))
    extra = draw(st.lists(st.sampled_from(['"foo": 1', '"events": []']), max_size=1))
    top = ", ".join(['"events": [' + ", ".join(items) + "]", *extra])
    text = "{" + top + "}"
    return draw(st.sampled_from([text, text[: len(text) // 2], "[" + text + "]"])).encode()


@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(body=hostile_batches() | st.binary(max_size=64))
def test_no_body_makes_the_decoder_raise_anything_but_a_refusal(
    body: bytes, regions: RegionCatalogue
) -> None:
    decoder = EventDecoder(regions)
    try:
        items = decoder.batch(body)
    except InvalidInputError as refused:
        assert refused.code in ("too_deep", "unknown_field")
    else:
        for item in items or []:
            if not isinstance(item, BehaviourEvent | Rejection):
                # what intake does with it: the reference parser names a reason, the
                # rejected event's digest is taken — neither may raise
                assert isinstance(parse_event(item, regions), Rejection)
                raw_payload_hash(item)
    got = decoder.line(body)
    assert isinstance(got, BehaviourEvent | Rejection) or parse_event(got, regions)
