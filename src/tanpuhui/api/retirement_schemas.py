"""Request and response shapes of the retirement and export routes
(api/retirement_routes.py) for OpenAPI."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

RequestId = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,128}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RetirementRequest(_Doc):
    """Retire grams the enterprise holds (oldest first)."""

    grams: int = Field(ge=1, description="grams to retire")
    beneficiary: Text = Field(description="the using entity the retirement is for")
    purpose: Text = Field(description="e.g. offsetting its 2026 scope 1-3 emissions")
    period: str | None = Field(default=None, description="YYYY, YYYY-MM or YYYY-MM/YYYY-MM")
    request_id: RequestId = Field(description="idempotency key")


class ExportRequest(_Doc):
    """Package whole tonnes of an enterprise's verified holdings for a registry."""

    enterprise: str = Field(description="the holding enterprise's id")
    tonnes: int = Field(ge=1, description="whole tonnes")
    registry: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ExportMark(_Doc):
    """The receiving registry's answer."""

    status: Literal["exported", "returned"]
    reference: Text | None = Field(default=None, description="the registry's reference")


class BlockClass(BaseModel):
    programme: str
    group: str
    province: str
    vintage: str
    tier: str


class LineageLine(BaseModel):
    reduction: str
    asset: str
    grams: int


class SerialBlock(BaseModel):
    serial: str = Field(description="TPH-<group>-<province>-<YYYYMM>-<tier>-<start>-<end>")
    start: int = Field(description="first serial number (inclusive)")
    end: int = Field(description="last serial number (inclusive)")
    grams: int
    status: Literal["retired", "pending_export", "exported", "returned"]
    class_: BlockClass = Field(alias="class")
    lineage: list[LineageLine]


class Retirement(BaseModel):
    id: str
    enterprise: str
    request_id: str
    grams: int
    beneficiary: str
    purpose: str
    period: str | None
    certificate: str = Field(
        description="the serial of the retirement's signed certificate (verify at /verify/{serial})"
    )
    entry: str
    created_at: str
    blocks: list[SerialBlock]
    replayed: bool


class RetirementList(BaseModel):
    items: list[Retirement]


class Export(BaseModel):
    id: str
    enterprise: str
    registry: str
    tonnes: int
    status: Literal["pending_export", "exported", "returned"]
    reference: str | None
    created_at: str
    marked_at: str | None
    blocks: list[SerialBlock]
    replayed: bool


REQUEST_BODIES: tuple[type[BaseModel], ...] = (RetirementRequest, ExportRequest, ExportMark)
