"""Decoding behaviour events from JSON bytes, fast, and without being crashed by any input.

A typed msgspec decoder checks the contract's structure in C (the wire shapes of
`adapters.wire`: exactly these fields, strings where strings belong, nested objects) and the
domain's `build_event` checks the values. Any event this fast path does not accept is decoded
generically instead and left to the domain's reference parser (`parse_event`), which names the
precise reason — so both paths apply one contract, and a test checks they agree on every input.

Limits (docs/events.md "Limits"), so that no input can make the decoder or a later step fail:
- an event that is not valid and nests deeper than `MAX_DEPTH` levels, or whose JSON is larger
  than `MAX_EVENT_BYTES`, is not decoded generically: it becomes a `too_deep` / `too_large`
  rejection of its own, and its neighbours are processed;
- a string or key holding a lone UTF-16 surrogate escape (`"\\ud800"`, which JSON's grammar
  admits but Unicode does not) makes *its* event an `invalid_unicode` rejection;
- a batch body nesting deeper than `MAX_BODY_DEPTH` anywhere, or with a top-level field besides
  its `events`, is refused whole (422 `too_deep` / `unknown_field`); a body without `events`
  is no batch at all (None).
Rejections made here carry no event id (the event could not be read safely): they are
answered by position, like a malformed line of a file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import msgspec

from tanpuhui.adapters.wire import Event, EventBatch
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.events import BehaviourEvent, Reason, Rejection, build_event
from tanpuhui.domain.regions import RegionCatalogue

#: Levels of objects and arrays one event may nest (a valid event needs two: itself and its
#: `quantity` or `evidence`).
MAX_DEPTH = 32
#: The JSON of an event that is not valid is read (and kept with its rejection) up to this size.
MAX_EVENT_BYTES = 64 * 1024
#: Nesting beyond this anywhere in a batch body refuses the body: well inside what the JSON
#: parsers read (about 1,000 levels, less the caller's stack), so the answer never depends on it.
MAX_BODY_DEPTH = 512

Decoded = BehaviourEvent | Rejection | object  # an event, an undecodable item, or a raw value

# JSON numbers with a fraction or exponent decode to exact Decimals, never to floats (so
# 3.42 stays 3.42, and 1e400 is a value to reject rather than an error).
_one = msgspec.json.Decoder(Event, float_hook=Decimal)
_many = msgspec.json.Decoder(list[Event], float_hook=Decimal)
_batch = msgspec.json.Decoder(EventBatch, float_hook=Decimal)
_any = msgspec.json.Decoder(float_hook=Decimal)
_top = msgspec.json.Decoder(dict[str, msgspec.Raw])
_items = msgspec.json.Decoder(list[msgspec.Raw])
_size = msgspec.json.Encoder()
_BATCH_FIELDS = frozenset(EventBatch.__struct_fields__)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNREADABLE = (msgspec.DecodeError, RecursionError)  # (ValidationError is a DecodeError)


class _TooDeepError(Exception):
    """Internal: the body nests beyond `MAX_BODY_DEPTH`."""


class EventDecoder:
    def __init__(self, regions: RegionCatalogue) -> None:
        self.regions = regions

    def _event(self, e: Event) -> BehaviourEvent | None:
        ev = e.evidence
        built = build_event(
            e.event_id, e.subject, e.behaviour, e.started_at, e.ended_at, e.region, e.quantity,
            ev.ref if ev else None, ev.issuer if ev else None, self.regions,
        )  # fmt: skip
        return built if isinstance(built, BehaviourEvent) else None

    def line(self, data: bytes | str) -> Decoded:
        """One JSON Lines line: an event, or the raw value, or a rejection of its own."""
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        try:
            return self._decoded(raw)
        except _TooDeepError:
            return _too_deep()

    def array(self, body: bytes) -> list[Decoded] | None:
        """A JSON array of events; None when the body is not a JSON array.
        Raises InvalidInputError (`too_deep`) for a body nested beyond `MAX_BODY_DEPTH`."""
        try:
            events = self._all_valid(_many.decode(body))
        except _UNREADABLE:
            events = None
        return _guarded(self._array_slowly, body) if events is None else events

    def batch(self, body: bytes) -> list[Decoded] | None:
        """An API batch `{"events": [...]}`; None when the body is not such an object.
        Raises InvalidInputError: `unknown_field` for a top-level field besides `events`,
        `too_deep` for a body nested beyond `MAX_BODY_DEPTH`."""
        try:
            events = self._all_valid(_batch.decode(body).events)
        except _UNREADABLE:
            events = None
        return _guarded(self._batch_slowly, body) if events is None else events

    def _all_valid(self, typed: list[Event]) -> list[Decoded] | None:
        """Every event built by the fast path, or None when one fails a value check (then the
        reference parser is to name the reason)."""
        events: list[Decoded] = []
        for e in typed:
            event = self._event(e)
            if event is None:
                return None
            events.append(event)
        return events

    def _batch_slowly(self, body: bytes) -> list[Decoded] | None:
        """Some events are off: split the batch into its events' JSON and decode one by one."""
        try:
            top = _top.decode(body)
        except msgspec.ValidationError:
            return None
        except msgspec.DecodeError:
            return self._python_batch(body) if _SURROGATE_ESCAPE.search(body) else None
        if "events" not in top:
            return None
        try:
            items = _items.decode(top["events"])
        except msgspec.DecodeError:
            return None
        _refuse_unknown_fields(top.keys())
        return [self._decoded(bytes(item)) for item in items]

    def _array_slowly(self, body: bytes) -> list[Decoded] | None:
        try:
            items = _items.decode(body)
        except msgspec.ValidationError:
            return None
        except msgspec.DecodeError:
            value = _python_json(body) if _SURROGATE_ESCAPE.search(body) else None
            return [self._python_item(v) for v in value] if isinstance(value, list) else None
        return [self._decoded(bytes(item)) for item in items]

    def _python_batch(self, body: bytes) -> list[Decoded] | None:
        """msgspec refuses a lone surrogate escape anywhere in the body; Python's parser reads
        it, so that only the event holding one is refused."""
        top = _python_json(body)
        if not isinstance(top, dict):
            return None
        events = top.get("events")
        if not isinstance(events, list):
            return None
        _refuse_unknown_fields(top.keys())
        return [self._python_item(item) for item in events]

    def _decoded(self, data: bytes) -> Decoded:
        """One event's JSON: the typed fast path, else the generic value (within the limits)."""
        try:
            event = self._event(_one.decode(data))
        except _UNREADABLE:
            event = None
        if event is not None:
            return event
        if len(data) > MAX_EVENT_BYTES:
            return _too_large(len(data))
        try:
            value: object = _any.decode(data)
        except RecursionError:
            raise _TooDeepError from None
        except msgspec.DecodeError as exc:
            return _undecodable(data, exc)
        return _within_depth(value)

    def _python_item(self, item: object) -> Decoded:
        """An item decoded by Python's parser (lone surrogates possible)."""
        invalid = _invalid_unicode(item)
        if invalid is not None:
            return invalid
        checked = _within_depth(item)
        if checked is not item:
            return checked
        size = len(_size.encode(item))
        return _too_large(size) if size > MAX_EVENT_BYTES else self.item(item)

    def item(self, item: object) -> Decoded:
        try:
            typed = msgspec.convert(item, Event)
        except msgspec.ValidationError:
            return item
        event = self._event(typed)
        return item if event is None else event


def decode_lines(decoder: EventDecoder, lines: Sequence[bytes]) -> list[Decoded]:
    return [decoder.line(line) for line in lines]


def _guarded(decode: Callable[[bytes], list[Decoded] | None], body: bytes) -> list[Decoded] | None:
    try:
        return decode(body)
    except (_TooDeepError, RecursionError):
        raise InvalidInputError(
            f"the body nests more than {MAX_BODY_DEPTH} levels of objects or arrays",
            code="too_deep",
        ) from None


def _refuse_unknown_fields(keys: Any) -> None:
    unknown = sorted(str(k) for k in keys if k not in _BATCH_FIELDS)
    if unknown:
        shown = ", ".join(repr(k[:32]) for k in unknown[:5])
        raise InvalidInputError(
            f'unknown batch field(s): {shown}; a batch is {{"events": [...]}}',
            code="unknown_field",
        )


def _undecodable(data: bytes, exc: msgspec.DecodeError) -> Decoded:
    """Not JSON for msgspec: a lone surrogate escape (an `invalid_unicode` rejection), or
    malformed JSON."""
    if _SURROGATE_ESCAPE.search(data):
        try:
            value = _python_json(data)
        except _TooDeepError:
            return _too_deep()
        invalid = None if value is _NOT_JSON else _invalid_unicode(value)
        if invalid is not None:
            return invalid
    return Rejection(Reason.MALFORMED_JSON, f"not a JSON value: {exc}")


def _invalid_unicode(value: object) -> Rejection | None:
    """An `invalid_unicode` rejection naming where `value` holds a lone surrogate, if it does."""
    where = _lone_surrogate(value)
    if where is None:
        return None
    return Rejection(
        Reason.INVALID_UNICODE,
        f"{where} holds a lone UTF-16 surrogate escape, which is no Unicode character",
        where,
    )


_NOT_JSON = object()


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _python_json(data: bytes) -> object:
    """Python's JSON parser, as strict as msgspec's except that it reads lone surrogates;
    `_NOT_JSON` when the data is not JSON at all."""
    try:
        return json.loads(
            data.decode("utf-8"), parse_float=Decimal, parse_constant=_refuse_constant
        )
    except RecursionError:
        raise _TooDeepError from None
    except ValueError:  # (JSONDecodeError, UnicodeDecodeError and too many digits are)
        return _NOT_JSON


def _depth(value: object, limit: int) -> int:
    """How many levels of objects and arrays `value` nests, counted up to `limit + 1`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            if level > deepest:
                deepest = level
                if deepest > limit:
                    return deepest
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _within_depth(value: object) -> Decoded:
    depth = _depth(value, MAX_BODY_DEPTH)
    if depth > MAX_BODY_DEPTH:
        raise _TooDeepError
    return _too_deep() if depth > MAX_DEPTH else value


def _lone_surrogate(value: object) -> str | None:
    """Where (`field.key`) a string or key of `value` holds a lone surrogate, if anywhere."""
    stack: list[tuple[object, str]] = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                return path or "the value"
        elif isinstance(node, dict):
            for key, child in node.items():
                if _SURROGATE.search(key):
                    return f"a key in {path or 'the event'}"
                stack.append((child, f"{path}.{key[:32]}" if path else key[:32]))
        elif isinstance(node, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(node))
    return None


def _too_deep() -> Rejection:
    return Rejection(
        Reason.TOO_DEEP,
        f"the event nests objects or arrays more than {MAX_DEPTH} levels deep "
        "(a valid event needs two)",
    )


def _too_large(size: int) -> Rejection:
    return Rejection(
        Reason.TOO_LARGE,
        f"the event is {size:,} bytes of JSON and not valid; at most "
        f"{MAX_EVENT_BYTES:,} bytes of an invalid event are read",
    )
