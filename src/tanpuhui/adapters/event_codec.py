"""Decoding behaviour events from JSON bytes, fast.

A typed msgspec decoder checks the contract's structure in C (exactly these fields, strings
where strings belong, nested objects) and the domain's `build_event` checks the values. Any
event this fast path does not accept is decoded generically instead and left to the domain's
reference parser (`parse_event`), which names the precise reason — so both paths apply one
contract, and a test checks they agree on every input.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec

from tanpuhui.domain.events import BehaviourEvent, Reason, Rejection, build_event
from tanpuhui.domain.regions import RegionCatalogue


class _Evidence(msgspec.Struct, forbid_unknown_fields=True):
    ref: str
    issuer: str | None = None


class _Event(msgspec.Struct, forbid_unknown_fields=True):
    event_id: str
    subject: str
    behaviour: str
    started_at: str
    ended_at: str
    region: str
    quantity: dict[str, Any] | None = None
    evidence: _Evidence | None = None


Decoded = BehaviourEvent | Rejection | object  # an event, an undecodable item, or a raw value


class _Batch(msgspec.Struct):
    events: list[_Event]


class _AnyBatch(msgspec.Struct):
    events: list[Any]


# JSON numbers with a fraction or exponent decode to exact Decimals, never to floats (so
# 3.42 stays 3.42, and 1e400 is a value to reject rather than an error).
_one = msgspec.json.Decoder(_Event, float_hook=Decimal)
_many = msgspec.json.Decoder(list[_Event], float_hook=Decimal)
_batch = msgspec.json.Decoder(_Batch, float_hook=Decimal)
_any_batch = msgspec.json.Decoder(_AnyBatch, float_hook=Decimal)
_any = msgspec.json.Decoder(float_hook=Decimal)


class EventDecoder:
    def __init__(self, regions: RegionCatalogue) -> None:
        self.regions = regions

    def _event(self, e: _Event) -> BehaviourEvent | None:
        ev = e.evidence
        built = build_event(
            e.event_id, e.subject, e.behaviour, e.started_at, e.ended_at, e.region, e.quantity,
            ev.ref if ev else None, ev.issuer if ev else None, self.regions,
        )  # fmt: skip
        return built if isinstance(built, BehaviourEvent) else None

    def line(self, data: bytes | str) -> Decoded:
        """One JSON Lines line: an event, or the raw value, or a malformed-JSON rejection."""
        try:
            event = self._event(_one.decode(data))
        except msgspec.DecodeError:  # (ValidationError is a DecodeError)
            event = None
        if event is not None:
            return event
        try:
            value: object = _any.decode(data)
        except msgspec.DecodeError as exc:
            return Rejection(Reason.MALFORMED_JSON, f"not a JSON value: {exc}")
        return value

    def array(self, body: bytes) -> list[Decoded] | None:
        """A JSON array of events (one API batch); None when the body is not a JSON array."""
        try:
            typed = _many.decode(body)
        except msgspec.ValidationError:
            return self._mixed(body)
        except msgspec.DecodeError:
            return None
        events: list[Decoded] = []
        for e in typed:
            event = self._event(e)
            if event is None:  # a value check fails: the reference parser names the reason
                return self._mixed(body)
            events.append(event)
        return events

    def batch(self, body: bytes) -> list[Decoded] | None:
        """An API batch `{"events": [...]}`; None when the body is not such an object."""
        try:
            typed = _batch.decode(body)
        except msgspec.ValidationError:
            typed = None
        except msgspec.DecodeError:
            return None
        if typed is not None:
            events: list[Decoded] = []
            for e in typed.events:
                event = self._event(e)
                if event is None:
                    break
                events.append(event)
            else:
                return events
        try:
            loose = _any_batch.decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        return [self.item(item) for item in loose.events]

    def _mixed(self, body: bytes) -> list[Decoded] | None:
        """Some items are off: decode generically and take the fast path item by item."""
        try:
            items = _any.decode(body)
        except msgspec.DecodeError:
            return None
        if not isinstance(items, list):
            return None
        return [self.item(item) for item in items]

    def item(self, item: object) -> Decoded:
        try:
            typed = msgspec.convert(item, _Event)
        except msgspec.ValidationError:
            return item
        event = self._event(typed)
        return item if event is None else event


def decode_lines(decoder: EventDecoder, lines: Sequence[bytes]) -> list[Decoded]:
    return [decoder.line(line) for line in lines]
