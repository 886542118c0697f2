"""Behaviour events as enterprises report them, and their validation into typed events.

The contract (docs/events.md): one JSON object per event with exactly the fields in `FIELDS`;
unknown fields are rejected, not ignored. `parse_event` returns either a `BehaviourEvent` or a
`Rejection` carrying a stable `Reason` code — never raises for bad input, so one bad event
never stops a batch. The value rules live here once (the id, behaviour and region patterns,
the quantity keys, the reason codes and their meanings, the instants the platform can
represent); the wire shapes built from them are in `adapters.wire`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple, cast

from tanpuhui.domain.quantity import QUANTITY_KEYS, parse_decimal
from tanpuhui.domain.regions import RegionCatalogue


class Reason(StrEnum):
    """Stable reason codes of a rejected event (the API and files show them verbatim)."""

    MALFORMED_JSON = "malformed_json"
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_FIELD = "unknown_field"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"
    INVALID_TIMESTAMP = "invalid_timestamp"
    NAIVE_TIMESTAMP = "naive_timestamp"
    INVALID_QUANTITY = "invalid_quantity"
    NEGATIVE_QUANTITY = "negative_quantity"
    INVALID_REGION = "invalid_region"
    UNKNOWN_BEHAVIOUR = "unknown_behaviour"
    NO_METHODOLOGY = "no_methodology"
    NO_FACTOR = "no_factor"
    QUANTITY_MISMATCH = "quantity_mismatch"
    ENDS_BEFORE_START = "ends_before_start"
    IN_FUTURE = "in_future"
    OUTSIDE_CLAIM_WINDOW = "outside_claim_window"
    OUT_OF_BOUNDS = "out_of_bounds"
    IMPLAUSIBLE_SPEED = "implausible_speed"
    ZERO_REDUCTION = "zero_reduction"
    TOO_DEEP = "too_deep"
    TOO_LARGE = "too_large"
    INVALID_UNICODE = "invalid_unicode"
    ISSUER_NOT_ENTITLED = "issuer_not_entitled"  # evidence of an issuer it may not cite
    #: more claims of the behaviour within the window than its methodology allows
    TOO_FREQUENT = "too_frequent"
    CLAIMED_ELSEWHERE = "claimed_elsewhere"  # in the exclusion register (exclusions.py)


#: When each reason is given: docs/events.md and the OpenAPI document are generated from this.
REASON_MEANINGS: dict[Reason, str] = {
    Reason.MALFORMED_JSON: "a line or item is not JSON (files), or a CSV row has the wrong "
    "number of cells",
    Reason.NOT_AN_OBJECT: "the item is not a JSON object",
    Reason.UNKNOWN_FIELD: "a field (or CSV column) not in the contract",
    Reason.MISSING_FIELD: "a required field is absent or null",
    Reason.WRONG_TYPE: "a field has the wrong JSON type",
    Reason.INVALID_VALUE: "`event_id`/`subject` not 1–128 printable ASCII; evidence text too "
    "long or not printable",
    Reason.INVALID_TIMESTAMP: "not ISO 8601, an impossible UTC offset, or an instant outside "
    "0001-01-03 … 9999-12-28 (UTC)",
    Reason.NAIVE_TIMESTAMP: "a timestamp without a UTC offset",
    Reason.INVALID_QUANTITY: "an unknown quantity key, or not a plain decimal number",
    Reason.NEGATIVE_QUANTITY: "a quantity below zero",
    Reason.INVALID_REGION: "not a GB/T 2260 code",
    Reason.UNKNOWN_BEHAVIOUR: "no methodology covers the behaviour code",
    Reason.NO_METHODOLOGY: "none in effect for that day and region",
    Reason.NO_FACTOR: "the methodology has no factor for that day and region",
    Reason.QUANTITY_MISMATCH: "the quantity the methodology multiplies is missing",
    Reason.ENDS_BEFORE_START: "`ended_at` is before `started_at`",
    Reason.IN_FUTURE: "it ends more than 5 minutes after the server's time",
    Reason.OUTSIDE_CLAIM_WINDOW: "older than the methodology's claim window",
    Reason.OUT_OF_BOUNDS: "a quantity or the duration is outside the methodology's bounds",
    Reason.IMPLAUSIBLE_SPEED: "faster than the mode allows",
    Reason.ZERO_REDUCTION: "it quantifies to less than one gram",
    Reason.TOO_DEEP: "the event nests objects or arrays deeper than the decoder reads",
    Reason.TOO_LARGE: "the event's JSON is larger than the decoder reads",
    Reason.INVALID_UNICODE: "a string (or key) holds a lone UTF-16 surrogate escape such as "
    "`\\ud800`, which is no Unicode character",
    Reason.ISSUER_NOT_ENTITLED: "the evidence names a registered issuer this enterprise may not "
    "cite",
    Reason.TOO_FREQUENT: "more claims of the behaviour within the methodology's window than it "
    "allows",
    Reason.CLAIMED_ELSEWHERE: "the meter, installation or programme is in the exclusion register "
    "for that day (claimed under green certificates, CCER or an ETS sector)",
}


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    message: str
    field: str | None = None


class Evidence(NamedTuple):
    """A reference to the real-world proof (order, invoice, card tap) of a behaviour.

    `issuer` names who issued `ref` (defaults to the reporting enterprise), so that two parties
    reporting the same order name the same (issuer, ref) and are caught as one behaviour.
    """

    ref: str
    issuer: str | None = None


class BehaviourEvent(NamedTuple):
    """A validated event. (A NamedTuple, not a dataclass: one is built per event on the hot
    path, and tuples are several times cheaper to construct; it is just as immutable.)"""

    event_id: str
    subject: str
    behaviour: str
    started_at: datetime  # timezone-aware
    ended_at: datetime  # timezone-aware
    quantities: Mapping[str, Decimal]
    region: str
    evidence: Evidence | None
    payload_hash: bytes

    @property
    def duration_s(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()


FIELDS = frozenset(
    {"event_id", "subject", "behaviour", "started_at", "ended_at", "quantity", "region", "evidence"}
)
REQUIRED = ("event_id", "subject", "behaviour", "started_at", "ended_at", "region")
EVIDENCE_FIELDS = frozenset({"ref", "issuer"})
#: The value patterns (full match), also published in the OpenAPI schema.
ID_PATTERN = r"[\x21-\x7e]{1,128}"  # printable ASCII, no spaces
BEHAVIOUR_PATTERN = r"[a-z][a-z0-9_]{0,63}"
REGION_PATTERN = r"[1-9][0-9]{5}"
_ID = re.compile(ID_PATTERN)
_CODE = re.compile(BEHAVIOUR_PATTERN)
_REGION = re.compile(REGION_PATTERN)
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_QUANTITY = Decimal("1e9")
_MAX_OFFSET = timedelta(hours=14)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The instants the contract accepts: two days inside the calendar's ends, so that every one
#: converts to any UTC offset within ±14 h (the platform's zone included) and its local day has
#: a day on either side — no later step can overflow on an instant the contract accepted.
EARLIEST = datetime(1, 1, 3, tzinfo=UTC)
LATEST = datetime(9999, 12, 28, 23, 59, 59, 999999, tzinfo=UTC)
_EDGE_YEARS = ("0001", "9999")  # ISO 8601 as fromisoformat reads it starts with the year
_MICROSECOND = timedelta(microseconds=1)


def valid_id(text: str) -> bool:
    """An event id or subject: 1-128 printable ASCII characters, no spaces."""
    return bool(_ID.fullmatch(text))


def event_id_of(raw: object) -> str | None:
    """The event id of a raw event when it has a well-formed one (to key its outcome)."""
    if isinstance(raw, Mapping):
        value = raw.get("event_id")
        if isinstance(value, str) and _ID.fullmatch(value):
            return value
    return None


def parse_event(raw: object, regions: RegionCatalogue) -> BehaviourEvent | Rejection:
    """Validate one raw event (a decoded JSON value) against the contract."""
    if not isinstance(raw, Mapping):
        return Rejection(Reason.NOT_AN_OBJECT, "an event must be a JSON object")
    if not raw.keys() <= FIELDS:
        unknown = sorted(str(k) for k in raw if k not in FIELDS)
        return Rejection(
            Reason.UNKNOWN_FIELD, f"unknown field(s): {', '.join(unknown)}", unknown[0]
        )
    values = [raw.get(name) for name in REQUIRED]
    if None in values or not all(type(v) is str for v in values):
        for name, value in zip(REQUIRED, values, strict=True):
            if value is None:
                return Rejection(Reason.MISSING_FIELD, f"{name} is required", name)
            if not isinstance(value, str):
                return Rejection(Reason.WRONG_TYPE, f"{name} must be a string", name)
    event_id, subject, behaviour, started_text, ended_text, region = cast(list[str], values)
    quantity = raw.get("quantity")
    if quantity is not None and not isinstance(quantity, Mapping):
        return Rejection(Reason.WRONG_TYPE, "quantity must be an object", "quantity")
    evidence = raw.get("evidence")
    if evidence is not None:
        if not isinstance(evidence, Mapping):
            return Rejection(Reason.WRONG_TYPE, "evidence must be an object", "evidence")
        if not evidence.keys() <= EVIDENCE_FIELDS:
            unknown = sorted(str(k) for k in evidence if k not in EVIDENCE_FIELDS)
            return Rejection(
                Reason.UNKNOWN_FIELD,
                f"unknown evidence field(s): {', '.join(unknown)}",
                "evidence",
            )
        ref, issuer = evidence.get("ref"), evidence.get("issuer")
        if not isinstance(ref, str) or (issuer is not None and not isinstance(issuer, str)):
            return Rejection(
                Reason.INVALID_VALUE, "evidence.ref and evidence.issuer must be strings", "evidence"
            )
        return build_event(
            event_id, subject, behaviour, started_text, ended_text, region, quantity, ref,
            issuer, regions,
        )  # fmt: skip
    return build_event(
        event_id, subject, behaviour, started_text, ended_text, region, quantity, None, None,
        regions,
    )  # fmt: skip


def build_event(
    event_id: str,
    subject: str,
    behaviour: str,
    started_text: str,
    ended_text: str,
    region: str,
    quantity: Mapping[str, object] | None,
    evidence_ref: str | None,
    evidence_issuer: str | None,
    regions: RegionCatalogue,
) -> BehaviourEvent | Rejection:
    """The value checks of the contract, on fields already known to have the right types.
    Every decoder (the reference `parse_event`, the adapters' typed fast path) ends here."""
    if not _ID.fullmatch(event_id):
        return Rejection(
            Reason.INVALID_VALUE, "event_id must be 1-128 printable ASCII characters", "event_id"
        )
    if not _ID.fullmatch(subject):
        return Rejection(
            Reason.INVALID_VALUE, "subject must be 1-128 printable ASCII characters", "subject"
        )
    if not _CODE.fullmatch(behaviour):
        return Rejection(
            Reason.UNKNOWN_BEHAVIOUR, f"{behaviour[:64]!r} is not a behaviour code", "behaviour"
        )
    started = _parse_timestamp(started_text, "started_at")
    if isinstance(started, Rejection):
        return started
    ended = _parse_timestamp(ended_text, "ended_at")
    if isinstance(ended, Rejection):
        return ended
    if region not in regions or not _REGION.fullmatch(region):
        return Rejection(
            Reason.INVALID_REGION, f"{region[:16]!r} is not a GB/T 2260 region code", "region"
        )
    quantities = _parse_quantities(quantity)
    if isinstance(quantities, Rejection):
        return quantities
    evidence = None
    if evidence_ref is not None:
        if not 1 <= len(evidence_ref) <= 256 or not _text_ok(evidence_ref):
            return Rejection(
                Reason.INVALID_VALUE,
                "evidence.ref must be 1-256 printable characters",
                "evidence",
            )
        if evidence_issuer is not None and (
            not 1 <= len(evidence_issuer) <= 128 or not _text_ok(evidence_issuer)
        ):
            return Rejection(
                Reason.INVALID_VALUE,
                "evidence.issuer must be 1-128 printable characters",
                "evidence",
            )
        evidence = Evidence(evidence_ref, evidence_issuer)
    return BehaviourEvent(
        event_id,
        subject,
        behaviour,
        started,
        ended,
        quantities,
        region,
        evidence,
        _payload_hash(subject, behaviour, started, ended, quantities, region, evidence),
    )


def _text_ok(text: str) -> bool:
    """Printable and valid Unicode: no control characters, no lone surrogates."""
    return text.isprintable() and (text.isascii() or _SURROGATE.search(text) is None)


def _parse_timestamp(value: str, name: str) -> datetime | Rejection:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return Rejection(
            Reason.INVALID_TIMESTAMP, f"{name} is not an ISO 8601 timestamp: {value[:40]!r}", name
        )
    offset = parsed.utcoffset()
    if offset is None:
        return Rejection(Reason.NAIVE_TIMESTAMP, f"{name} must carry a UTC offset", name)
    if not -_MAX_OFFSET <= offset <= _MAX_OFFSET:
        return Rejection(Reason.INVALID_TIMESTAMP, f"{name} has an impossible UTC offset", name)
    # Only a local year 1 or 9999 can lie outside (a cheap test first: this is the hot path);
    # comparing aware datetimes cannot overflow.
    if value[:4] in _EDGE_YEARS and not EARLIEST <= parsed <= LATEST:
        return Rejection(
            Reason.INVALID_TIMESTAMP,
            f"{name} {value[:40]!r} is outside the instants the platform can represent "
            "(0001-01-03T00:00:00Z to 9999-12-28T23:59:59.999999Z)",
            name,
        )
    return parsed


def _parse_quantities(value: Mapping[str, object] | None) -> dict[str, Decimal] | Rejection:
    if not value:
        return {}
    result: dict[str, Decimal] = {}
    for key, raw_number in value.items():
        if key not in QUANTITY_KEYS:
            return Rejection(
                Reason.INVALID_QUANTITY,
                f"unknown quantity {str(key)[:32]!r} (known: {', '.join(sorted(QUANTITY_KEYS))})",
                f"quantity.{key}",
            )
        number = parse_decimal(raw_number)
        if number is None:
            return Rejection(
                Reason.INVALID_QUANTITY,
                f"quantity.{key} must be a decimal string or number",
                f"quantity.{key}",
            )
        if number < 0:
            return Rejection(
                Reason.NEGATIVE_QUANTITY, f"quantity.{key} must not be negative", f"quantity.{key}"
            )
        if number > MAX_QUANTITY:
            return Rejection(
                Reason.OUT_OF_BOUNDS, f"quantity.{key} is absurdly large", f"quantity.{key}"
            )
        result[key] = number
    return result


def _payload_hash(
    subject: str,
    behaviour: str,
    started: datetime,
    ended: datetime,
    quantities: Mapping[str, Decimal],
    region: str,
    evidence: Evidence | None,
) -> bytes:
    """A digest of the event's meaning: equal for the same event however it was spelled."""
    if len(quantities) == 1:  # the common case, spelled as the general one below
        ((key, value),) = quantities.items()
        amounts = f"{key}={value.normalize()}"
    else:
        amounts = ",".join(f"{k}={v.normalize()}" for k, v in sorted(quantities.items()))
    text = (
        f"{subject}\x1e{behaviour}\x1e{_instant(started)}\x1e{_instant(ended)}\x1e"
        f"{amounts}\x1e{region}"
        f"\x1e{'' if evidence is None else f'{evidence.issuer or chr(0)}{chr(31)}{evidence.ref}'}"
    )
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _instant(moment: datetime) -> int:
    """An exact, offset-independent rendering of an instant: microseconds since the epoch."""
    return (moment - _EPOCH) // _MICROSECOND


def raw_payload_hash(raw: object) -> bytes:
    """A digest of a raw event that failed validation (so a replay of it is recognised)."""
    text = repr(_canonical(raw))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _canonical(value: object) -> object:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _canonical(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_canonical(v) for v in value)
    return value
