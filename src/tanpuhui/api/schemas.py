"""Request and response shapes, for validation of small bodies and for the OpenAPI document.

The batch endpoint parses its body with the fast decoder (adapters.event_codec) instead of
these models — each event is validated on its own so one bad event never fails the batch —
but documents it with them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tanpuhui.domain.intake import MAX_BATCH_EVENTS

Id = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,128}$")]
Decimal = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?$")] | float | int


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Evidence(_Doc):
    ref: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    issuer: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None


class Event(_Doc):
    """One behaviour, as the enterprise saw it (docs/events.md). Unknown fields are rejected."""

    event_id: Id = Field(description="unique per enterprise; the idempotency key")
    subject: Id = Field(description="the enterprise's own id for the person")
    behaviour: str = Field(description="a behaviour code from the catalogue, e.g. bike_share_ride")
    started_at: datetime = Field(description="ISO 8601 with a UTC offset")
    ended_at: datetime = Field(description="ISO 8601 with a UTC offset")
    quantity: dict[Literal["distance_km", "steps", "kwh", "weight_kg", "count"], Decimal] | None = (
        Field(default=None, description="decimal strings or numbers; unit in the key")
    )
    region: Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{5}$")] = Field(
        description="GB/T 2260 six-digit code"
    )
    evidence: Evidence | None = None


class EventBatch(_Doc):
    events: list[Event] = Field(
        max_length=MAX_BATCH_EVENTS,
        description="Up to 10,000 events. Each is validated on its own: an invalid one gets a "
        "`rejected` outcome and the rest are processed.",
    )


OutcomeKind = Literal[
    "credited", "capped", "duplicate", "rejected", "pending_binding", "conflict", "provisional"
]


class Outcome(BaseModel):
    index: int = Field(description="position in the batch (or -1 when read back)")
    event_id: str | None
    outcome: OutcomeKind
    grams: int | None = Field(default=None, description="credited grams CO2e")
    grams_cut: int | None = Field(default=None, description="grams the daily caps cut")
    methodology: str | None = None
    entry_id: str | None = None
    reduction_id: str | None = None
    duplicate_of: str | None = Field(
        default=None,
        description="the reduction it duplicates (or, for a merged day count, tops up)",
    )
    reason: str | None = Field(
        default=None,
        description="stable reason code when rejected; `merged` for a day count that credits "
        "only what it adds; `evidence_contested` for a duplicate kept for review",
    )
    message: str | None = None


class BatchResult(BaseModel):
    outcomes: list[Outcome]
    summary: dict[str, int]


class TraceFactor(BaseModel):
    role: str
    id: str
    value: str
    unit: str
    source: str
    confidence: str


class Trace(BaseModel):
    methodology: str
    content_hash: str | None
    model: str | None
    inputs: dict[str, str]
    factors: list[TraceFactor]
    exact_grams: str
    grams: int | None
    rounding: str


class EventDetail(BaseModel):
    event_id: str
    received_at: datetime
    outcome: Outcome
    event: dict[str, object] | None = Field(description="the event as understood")
    received: object | None = Field(default=None, description="a rejected event as received")
    trace: Trace | None
    now: dict[str, object] | None = Field(
        default=None, description="where its grams are now: account kind, state, resolution"
    )


class FeedPage(BaseModel):
    items: list[EventDetail]
    next_cursor: str | None = Field(
        description="pass as `after` for the next page; null when this page is the last one so far"
    )
    cursor: str | None = Field(description="where a later poll continues from")


class BindingRequest(_Doc):
    subject: Id
    code: Annotated[str, StringConstraints(min_length=8, max_length=9)] = Field(
        description="the person's one-time binding code, e.g. ABCD-2345"
    )


class BindingReduction(BaseModel):
    reduction_id: str
    resolution: Literal["moved", "capped", "duplicate"]
    moved_grams: int
    reversed_grams: int
    duplicate_of: str | None


class BindingResult(BaseModel):
    subject: str
    bound_at: datetime
    created: bool
    moved_grams: int
    reversed_grams: int
    reductions: list[BindingReduction]


class Unbound(BaseModel):
    subject: str
    ended_at: datetime


class BindingCode(BaseModel):
    code: str
    expires_at: datetime


class Health(BaseModel):
    status: Literal["ok"]


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str
