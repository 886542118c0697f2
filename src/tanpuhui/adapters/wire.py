"""The wire contract: the event, batch, outcome and problem shapes, defined once.

msgspec Structs, because one definition then serves every consumer: the fast decoder
(`adapters.event_codec`) decodes with `Event`/`EventBatch`, the OpenAPI document takes its
JSON Schema from `components()` (`msgspec.json.schema_components`), and `tanpuhui docs events`
generates the tables of docs/events.md from the same schema. The *value* rules stay in the
domain, which may import only the stdlib: the id, behaviour and region patterns, the quantity
keys and their meanings, the reason codes and theirs are read from there, never restated.

Invariants (tests/unit/test_wire_contract.py): `Event`'s fields and requiredness are the
domain's `FIELDS`/`REQUIRED`, `Evidence`'s are `EVIDENCE_FIELDS`; the quantity keys in the
schema are `QUANTITY_KEYS`; every `Reason` is described. Structure is checked by msgspec in C,
values only by the domain (`build_event`), so the two never disagree about what is valid.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from tanpuhui.domain.events import (
    BEHAVIOUR_PATTERN,
    ID_PATTERN,
    REASON_MEANINGS,
    REGION_PATTERN,
)
from tanpuhui.domain.intake import MAX_BATCH_EVENTS, OutcomeKind
from tanpuhui.domain.quantity import DECIMAL_PATTERN, QUANTITIES

REF_TEMPLATE = "#/components/schemas/{name}"


def _doc(description: str, **schema: Any) -> msgspec.Meta:
    """Documentation only: constraints go in `extra_json_schema`, so msgspec does not also
    enforce them (the domain does, with the precise reason)."""
    return msgspec.Meta(description=description, extra_json_schema=schema or None)


def _quantity_schema() -> dict[str, Any]:
    number = {"anyOf": [{"type": "string", "pattern": f"^{DECIMAL_PATTERN}$"}, {"type": "number"}]}
    return {
        "properties": {
            key: {**number, "description": meaning} for key, meaning in QUANTITIES.items()
        },
        "additionalProperties": False,
    }


def _reason_list() -> str:
    return "; ".join(f"`{r.value}`: {meaning}" for r, meaning in REASON_MEANINGS.items())


class Evidence(msgspec.Struct, forbid_unknown_fields=True):
    """The real-world proof of a behaviour: an order, invoice, card-tap or meter-reading id."""

    ref: Annotated[str, _doc("the id of the proof", minLength=1, maxLength=256)]
    issuer: Annotated[
        Annotated[str, msgspec.Meta(extra_json_schema={"minLength": 1, "maxLength": 128})] | None,
        _doc(
            "the real-world party that issued `ref`, as `<namespace>:<name>` (docs/events.md, "
            "Evidence); without it the ref is your own. Two entitled parties reporting the "
            "same `(issuer, ref)` for the same behaviour are one behaviour"
        ),
    ] = None


class Event(msgspec.Struct, forbid_unknown_fields=True):
    """One behaviour, as the enterprise saw it. Unknown fields are rejected, not ignored."""

    event_id: Annotated[
        str,
        _doc(
            "unique per enterprise: the idempotency key. 1–128 printable ASCII characters, "
            "no spaces",
            pattern=f"^{ID_PATTERN}$",
        ),
    ]
    subject: Annotated[
        str,
        _doc(
            "the enterprise's own id for the person (same rules). Bound to a person, or "
            "credited to the subject's pending account until it is",
            pattern=f"^{ID_PATTERN}$",
        ),
    ]
    behaviour: Annotated[
        str,
        _doc(
            "a behaviour code of the catalogue (`tanpuhui methodology list`), e.g. "
            "`bike_share_ride`, `metro_ride`, `walking_steps`, `household_electricity_saved`",
            pattern=f"^{BEHAVIOUR_PATTERN}$",
        ),
    ]
    started_at: Annotated[
        str,
        _doc(
            "ISO 8601 timestamp **with a UTC offset** (`+08:00` or `Z`), between "
            "0001-01-03 and 9999-12-28 UTC",
            format="date-time",
        ),
    ]
    ended_at: Annotated[
        str, _doc("ISO 8601 timestamp with a UTC offset, like `started_at`", format="date-time")
    ]
    region: Annotated[
        str,
        _doc(
            "a six-digit GB/T 2260 code (county level where known, e.g. `440305` 南山区)",
            pattern=f"^{REGION_PATTERN}$",
        ),
    ]
    quantity: Annotated[
        Annotated[dict[str, Any], msgspec.Meta(extra_json_schema=_quantity_schema())] | None,
        _doc(
            "an object of decimal strings or JSON numbers, the unit in the key (the quantity "
            "keys below). What a behaviour needs is set by its methodology; other quantities "
            "may ride along"
        ),
    ] = None
    evidence: Annotated[
        Evidence | None,
        _doc(
            "the order, invoice, card-tap or meter-reading id that proves the behaviour, and "
            'who issued it: `{"ref": "…", "issuer": "…"}`'
        ),
    ] = None


class EventBatch(msgspec.Struct, forbid_unknown_fields=True):
    """A batch: `events` is the only field (another one is refused, 422 `unknown_field`)."""

    events: Annotated[
        list[Event],
        _doc(
            f"Up to {MAX_BATCH_EVENTS:,} events. Each is validated on its own: an invalid one "
            "gets a `rejected` outcome and the rest are processed.",
            maxItems=MAX_BATCH_EVENTS,
        ),
    ]


class Outcome(msgspec.Struct, omit_defaults=True):
    """What became of one event."""

    index: Annotated[int, _doc("position in the batch (or -1 when read back)")]
    event_id: Annotated[
        str | None, _doc("null when the item had no readable event id (it is answered by index)")
    ]
    outcome: OutcomeKind
    grams: Annotated[int | None, _doc("credited grams CO2e")] = None
    grams_cut: Annotated[int | None, _doc("grams the daily caps cut")] = None
    methodology: Annotated[str | None, _doc("code@version that quantified it")] = None
    entry_id: str | None = None
    reduction_id: str | None = None
    duplicate_of: Annotated[
        str | None,
        _doc(
            "the reduction it duplicates (or, for a merged day count, tops up): its id when it "
            "is one of your own events, else an opaque `other-…` reference, stable for you and "
            "different for every other tenant"
        ),
    ] = None
    reason: Annotated[
        str | None,
        msgspec.Meta(
            description="stable reason code when rejected — "
            f"{_reason_list()}; on a duplicate, `merged` for a day count that credits only what "
            "it adds and `evidence_contested` for one kept for review"
        ),
    ] = None
    message: Annotated[str | None, _doc("what was wrong, for a person to read")] = None


class BatchResult(msgspec.Struct):
    """One outcome per event of the batch, in order, and their count per outcome."""

    outcomes: list[Outcome]
    summary: dict[str, int]


class Problem(msgspec.Struct):
    """An RFC 9457 problem: every error the API answers. Extension members may follow
    (`limit`, `problems`, `retry_after_s`, `errors`)."""

    type: Annotated[str, _doc("`urn:tanpuhui:problem:{code}`")]
    title: str
    status: int
    detail: Annotated[str, _doc("what went wrong, for a person to read")]
    code: Annotated[str, _doc("the stable machine-readable code (docs/api.md)")]
    instance: Annotated[str, _doc("the request path")]


#: The shapes the OpenAPI document takes from here (their nested shapes come along).
SHAPES: tuple[type[msgspec.Struct], ...] = (EventBatch, BatchResult, Problem)


def components() -> dict[str, dict[str, Any]]:
    """The JSON Schemas of the wire shapes by name, with `$ref`s into the OpenAPI components."""
    _, schemas = msgspec.json.schema_components(SHAPES, ref_template=REF_TEMPLATE)
    return schemas
