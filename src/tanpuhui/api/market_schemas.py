"""Request and response shapes of the market routes (api/market_routes.py) for OpenAPI."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

RequestId = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,128}$")]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OfferRequest(_Doc):
    """A platform enterprise's offer: points of a programme per kg, or coupons from a pool."""

    budget_grams: int = Field(ge=1, description="total grams the offer buys")
    points_per_kg: int | None = Field(default=None, ge=1)
    programme: str | None = Field(default=None, description="the points programme's code")
    coupons: list[str] = Field(default=[], description="the coupon pool: one code per sale")
    min_grams: int = Field(default=1, ge=1, description="the least a sale may sell")
    max_per_person_grams: int | None = Field(default=None, ge=1)
    groups: list[str] = Field(default=[], description="accepted behaviour groups; [] = all")
    regions: list[str] = Field(default=[], description="accepted province codes; [] = all")
    vintages: list[str] = Field(default=[], description="accepted vintage months YYYY-MM")
    min_quality: Literal["text", "2nd", "derived", "operator-set"] | None = None
    valid_until: datetime | None = None
    hold_minutes: int | None = Field(
        default=None, ge=1, description="sales are holds that expire after this many minutes"
    )


class SaleRequest(_Doc):
    offer_id: str
    grams: int = Field(ge=1)
    request_id: RequestId = Field(description="idempotency key: the same id returns the same sale")


class Offer(BaseModel):
    id: str
    enterprise_id: str
    status: Literal["open", "paused", "closed"]
    budget_grams: int
    remaining_grams: int
    incentive: dict[str, Any]
    accepts: dict[str, Any]
    min_grams: int
    max_per_person_grams: int | None
    valid_from: datetime
    valid_until: datetime | None
    hold_minutes: int | None


class Lot(BaseModel):
    reduction_id: str
    asset: str
    grams: int
    started_at: datetime


class Sale(BaseModel):
    id: str
    offer_id: str
    person_id: str
    enterprise_id: str
    request_id: str
    status: Literal["completed", "held", "confirmed", "voided", "expired"]
    grams: int
    incentive: dict[str, Any]
    entry_id: str | None
    created_at: datetime
    expires_at: datetime | None
    settled_at: datetime | None
    replayed: bool
    lots: list[Lot] = Field(description="the reductions behind the grams, oldest first")


class HoldingClass(BaseModel):
    asset: str
    grams: int
    lots: list[Lot]


class Holdings(BaseModel):
    account: str
    classes: list[HoldingClass]


class MyLedger(BaseModel):
    account: str
    total_grams: int
    balances: dict[str, int]
    reductions: list[dict[str, Any]]
    points: dict[str, int]
    holds: list[Sale]
    sales: list[Sale]


class OfferList(BaseModel):
    items: list[Offer]


class SaleList(BaseModel):
    items: list[Sale]


class RedemptionRequest(_Doc):
    code: Annotated[str, StringConstraints(min_length=8, max_length=9)] = Field(
        description="the person's one-time code, e.g. ABCD-2345 (POST /v1/me/binding-codes)"
    )
    programme: str
    points: int = Field(ge=1)
    request_id: RequestId = Field(description="idempotency key: the same id, the same answer")


class RedemptionResult(BaseModel):
    id: str
    merchant_id: str
    request_id: str
    person_id: str
    programme: str
    points: int
    entry_id: str
    created_at: datetime
    replayed: bool


REQUEST_BODIES: tuple[type[BaseModel], ...] = (OfferRequest, SaleRequest, RedemptionRequest)
