"""Request and response shapes for the OpenAPI document.

The wire contract — the event, the batch, the outcome and the problem — is defined once, as
msgspec Structs in `adapters.wire`; the batch endpoint decodes with them (adapters.event_codec)
and the OpenAPI document takes their JSON Schema from there (`components()`). FastAPI can only
name pydantic models in a route, so each wire shape has a pydantic *stand-in* here that carries
no fields of its own: its JSON Schema is the wire shape's. The other shapes, which only the API
has, are pydantic models.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, StringConstraints
from pydantic_core import CoreSchema

from tanpuhui.adapters import wire
from tanpuhui.api import market_schemas, retirement_schemas
from tanpuhui.domain.events import ID_PATTERN

Id = Annotated[str, StringConstraints(pattern=f"^{ID_PATTERN}$")]


def components() -> dict[str, dict[str, Any]]:
    """The schemas the OpenAPI document takes from the wire contract, by name."""
    return wire.components()


class WireShape(BaseModel):
    """A stand-in FastAPI can name: its JSON Schema is the wire shape of the same name."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return dict(components()[cls.__name__])


class EventBatch(WireShape):
    """`adapters.wire.EventBatch`."""


class Outcome(WireShape):
    """`adapters.wire.Outcome`."""


class BatchResult(WireShape):
    """`adapters.wire.BatchResult`."""


class Problem(WireShape):
    """`adapters.wire.Problem`."""


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    quality: str | None = Field(default=None, description="lowest confidence of the factors used")
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
    resolution: Literal["moved", "capped", "duplicate", "too_frequent"]
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


Mechanism = Literal["green_certificate", "ccer", "ets", "other_programme"]


class ExclusionRequest(_Doc):
    """What an enterprise declares claimed under another mechanism (domain/exclusions.py)."""

    key: Annotated[
        str, StringConstraints(pattern=r"^(meter|installation|enterprise):\S", max_length=160)
    ] = Field(
        description="enterprise:<your id> (your own programme), or meter:<id> / installation:<id> "
        "of an issuer you are authorised to cite"
    )
    mechanism: Mechanism
    behaviours: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.]{1,64}$")]] = Field(
        default=[], max_length=64, description="only these behaviours; empty: every behaviour"
    )
    valid_from: date | None = Field(default=None, description="first day covered (inclusive)")
    valid_to: date | None = Field(default=None, description="first day no longer covered")
    note: Annotated[str, StringConstraints(max_length=500)] = ""


class ExclusionDeclared(BaseModel):
    id: str
    key: str
    mechanism: Mechanism
    behaviours: list[str]
    valid_from: date | None
    valid_to: date | None
    declared_at: datetime
    note: str


class Health(BaseModel):
    status: Literal["ok"]


#: The request bodies of the routes that read their own JSON (signed routes hash the raw bytes):
#: each is named by `routes.json_body` and must be a component of the OpenAPI document.
REQUEST_BODIES: tuple[type[BaseModel], ...] = (
    BindingRequest,
    ExclusionRequest,
    *market_schemas.REQUEST_BODIES,
    *retirement_schemas.REQUEST_BODIES,
)
