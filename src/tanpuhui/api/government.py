"""Government and verifier endpoints.

`/v1/government/…`: regional aggregates for a government account, scoped to its region — a
region outside it is 403 `out_of_scope`, an unknown one 404 `unknown_region` — as JSON, CSV,
XLSX and the monthly PDF report. Bearer token of a government account (`tanpuhui government
add`); only suppressed aggregates, never a person.

`/v1/mrv/batches/…`: the operator creates an issuance batch (a methodology's in a region and
month, or a scene enterprise's of a month); a verifier reviews it (show, sample, approve,
reject). Each state change a verifier makes is a statement signed with its Ed25519 key
(`{"statement": …, "signature": …}`: docs/government.md), checked and stored by the platform.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from tanpuhui.adapters.exports import report_pdf, stats_csv, stats_xlsx
from tanpuhui.api.routes import json_response, problems
from tanpuhui.api.security import bearer_official, bearer_token, context, guarded, read_body
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.officials import Official, OfficialKind
from tanpuhui.services.aggregates import RegionalStats, monthly_report, regional_stats
from tanpuhui.services.mrv import (
    SignedStatement,
    approve_batch,
    create_batch,
    reject_batch,
    sample_batch,
    show_batch,
)
from tanpuhui.services.officials import authenticate_official, record_export

router = APIRouter()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


Government = Annotated[Official, Depends(bearer_official(OfficialKind.GOVERNMENT))]
Region = Annotated[
    str | None,
    Query(pattern=r"^\d{6}$", description="a region code inside yours (default: yours)"),
]
Period = Annotated[
    str, Query(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$", description="2026, 2026-11 or 2026-11-03")
]
By = Annotated[
    str | None,
    Query(pattern=r"^(region|group|behaviour|enterprise|methodology|quality)$"),
]


class StatsRow(BaseModel):
    key: str
    label: str
    grams: int | None = Field(description="null: suppressed (fewer than k persons)")
    events: int | None
    persons: int | None


class Stats(BaseModel):
    region: str | None
    region_name: str
    period: str
    by: str | None
    min_persons: int = Field(description="k: cells with fewer active persons are suppressed")
    grams: int | None
    events: int | None
    persons: int | None
    rows: list[StatsRow]


async def _stats(
    request: Request, official: Official, region: str | None, period: str, by: str | None,
    behaviour: str | None, group: str | None,
) -> RegionalStats:  # fmt: skip
    filters = {k: v for k, v in (("behaviour", behaviour), ("group", group)) if v is not None}
    return await run_in_threadpool(
        lambda: regional_stats(
            context(request),
            region=region or official.region,
            period=period,
            by=by,
            filters=filters,
            scope=official.region,
        )
    )


_Q: dict[str, Any] = {"responses": problems(401, 403, 404, 422, 429, 503)}
Behaviour = Annotated[str | None, Query(max_length=64)]
Group = Annotated[str | None, Query(max_length=64)]


@router.get(
    "/v1/government/stats",
    summary="(Government) Aggregated reductions of your region or a region inside it",
    response_model=Stats,
    **_Q,
)
async def get_stats(
    request: Request, official: Government, period: Period, region: Region = None,
    by: By = None, behaviour: Behaviour = None, group: Group = None,
) -> Response:  # fmt: skip
    stats = await _stats(request, official, region, period, by, behaviour, group)
    return json_response(stats.to_json())


async def _exported(request: Request, official: Official, name: str, stats: RegionalStats) -> None:
    params = {"region": stats.region, "period": stats.period, "by": stats.by}
    await run_in_threadpool(record_export, context(request), official, name, params)


def _file(content: bytes, media: str, name: str) -> Response:
    headers = {"content-disposition": f'attachment; filename="{name}"'}
    return Response(content, media_type=media, headers=headers)


def _media(media: str) -> dict[str, Any]:
    return {"responses": {200: {"content": {media: {}}, "description": "the file"}}}


@router.get(
    "/v1/government/stats.csv",
    summary="(Government) The same aggregates as CSV",
    response_class=Response,
    **_Q,
    openapi_extra=_media("text/csv"),
)
async def get_stats_csv(
    request: Request, official: Government, period: Period, region: Region = None,
    by: By = None, behaviour: Behaviour = None, group: Group = None,
) -> Response:  # fmt: skip
    stats = await _stats(request, official, region, period, by, behaviour, group)
    name = f"stats-{stats.region or 'national'}-{stats.period}.csv"
    await _exported(request, official, name, stats)
    return _file(stats_csv(stats), "text/csv; charset=utf-8", name)


@router.get(
    "/v1/government/stats.xlsx",
    summary="(Government) The same aggregates as an XLSX workbook",
    response_class=Response,
    **_Q,
    openapi_extra=_media(XLSX),
)
async def get_stats_xlsx(
    request: Request, official: Government, period: Period, region: Region = None,
    by: By = None, behaviour: Behaviour = None, group: Group = None,
) -> Response:  # fmt: skip
    stats = await _stats(request, official, region, period, by, behaviour, group)
    name = f"stats-{stats.region or 'national'}-{stats.period}.xlsx"
    await _exported(request, official, name, stats)
    return _file(await run_in_threadpool(stats_xlsx, stats), XLSX, name)


@router.get(
    "/v1/government/report.pdf",
    summary="(Government) The monthly report of a region as PDF",
    response_class=Response,
    **_Q,
    openapi_extra=_media("application/pdf"),
)
async def get_report(
    request: Request,
    official: Government,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="2026-11")],
    region: Region = None,
) -> Response:
    ctx = context(request)
    report = await run_in_threadpool(
        lambda: monthly_report(
            ctx, region=region or official.region, month=month, scope=official.region
        )
    )
    pdf = await run_in_threadpool(report_pdf, report)
    name = f"report-{report.month.region or 'national'}-{month}.pdf"
    await _exported(request, official, name, report.month)
    return _file(pdf, "application/pdf", name)


# --- verifiers: MRV review over HTTP ------------------------------------------------------


async def verifier_token(request: Request) -> str:
    """The bearer token of a verifier account, authenticated before anything else is read
    (a 401 comes before any validation of the request); the services check it again."""
    token = bearer_token(request)
    ctx = context(request)

    async def authenticate() -> str:
        await run_in_threadpool(authenticate_official, ctx, token, OfficialKind.VERIFIER)
        return token or ""

    return await guarded(request, authenticate)


VerifierToken = Annotated[str, Depends(verifier_token)]
BatchId = Annotated[uuid.UUID, Path(description="the issuance batch")]


class SignedStatementBody(BaseModel):
    statement: str = Field(
        max_length=8000,
        description="the canonical JSON statement of the action (sorted keys, no spaces): v, "
        "batch, action, actor (verifier:ID), at (now, ISO 8601), report_sha256 and "
        "members_sha256 (from GET the batch), and the action's comment, or seed and size",
    )
    signature: str = Field(
        max_length=200,
        description="base64 Ed25519 over 'tanpuhui mrv statement v1\\n' + statement, by the "
        "verifier's key",
    )

    def signed(self) -> SignedStatement:
        return SignedStatement(self.statement, self.signature)


class BatchRequest(BaseModel):
    month: str = Field(pattern=r"^\d{4}-\d{2}$", description="2026-11")
    methodology: str | None = Field(default=None, max_length=80, description="code@version")
    region: str | None = Field(default=None, pattern=r"^\d{6}$")
    enterprise: uuid.UUID | None = Field(default=None, description="a scene enterprise's batch")


M = TypeVar("M", bound=BaseModel)


async def _body(request: Request, model: type[M]) -> M:
    """The JSON body, read after authentication (an anonymous caller gets 401, not 422)."""
    try:
        return model.model_validate_json(await read_body(request))
    except ValidationError as exc:
        raise InvalidInputError(
            f"the body is not a {model.__name__}: {exc.errors()[0]['msg']}",
            code="invalid_request",
        ) from None


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    content = {"application/json": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": content}}


@router.post(
    "/v1/mrv/batches",
    status_code=201,
    summary="(Operator) Create an issuance batch: a methodology's in a region and month, or a "
    "scene enterprise's of a month",
    responses=problems(401, 404, 409, 413, 422, 429, 503),
    openapi_extra=_schema(BatchRequest),
)
async def post_batch(
    request: Request, official: Annotated[Official, Depends(bearer_official(OfficialKind.OPERATOR))]
) -> Response:
    ctx = context(request)
    body = await _body(request, BatchRequest)
    batch = await run_in_threadpool(
        lambda: create_batch(
            ctx, body.methodology, body.region, body.month, official.actor, body.enterprise
        )
    )
    return json_response(await run_in_threadpool(show_batch, ctx, batch.id), status=201)


@router.get(
    "/v1/mrv/batches/{batch_id}",
    summary="(Verifier) An issuance batch: its monitoring report, sample and decision",
    responses=problems(401, 404, 422, 429, 503),
)
async def get_batch(request: Request, batch_id: BatchId, token: VerifierToken) -> Response:
    return json_response(await run_in_threadpool(show_batch, context(request), batch_id))


@router.post(
    "/v1/mrv/batches/{batch_id}/sample",
    summary="(Verifier) Draw a seeded sample and recompute it with the engine",
    responses=problems(401, 404, 409, 413, 422, 429, 503),
    openapi_extra=_schema(SignedStatementBody),
)
async def post_sample(request: Request, batch_id: BatchId, token: VerifierToken) -> Response:
    ctx = context(request)
    body = await _body(request, SignedStatementBody)
    drawn = await run_in_threadpool(sample_batch, ctx, batch_id, token, body.signed())
    shown = await run_in_threadpool(show_batch, ctx, batch_id)
    return json_response({"seed": shown["sample_seed"], "sample": drawn})


@router.post(
    "/v1/mrv/batches/{batch_id}/approve",
    summary="(Verifier) Approve: the batch's reductions become verified",
    responses=problems(401, 404, 409, 413, 422, 429, 503),
    openapi_extra=_schema(SignedStatementBody),
)
async def post_approve(request: Request, batch_id: BatchId, token: VerifierToken) -> Response:
    ctx = context(request)
    body = await _body(request, SignedStatementBody)
    await run_in_threadpool(approve_batch, ctx, batch_id, token, body.signed())
    return json_response(await run_in_threadpool(show_batch, ctx, batch_id))


@router.post(
    "/v1/mrv/batches/{batch_id}/reject",
    summary="(Verifier) Reject: the reductions are reversed; the buffer covers grams sold",
    responses=problems(401, 404, 409, 413, 422, 429, 503),
    openapi_extra=_schema(SignedStatementBody),
)
async def post_reject(request: Request, batch_id: BatchId, token: VerifierToken) -> Response:
    ctx = context(request)
    body = await _body(request, SignedStatementBody)
    covered = await run_in_threadpool(reject_batch, ctx, batch_id, token, body.signed())
    shown = await run_in_threadpool(show_batch, ctx, batch_id)
    return json_response({**shown, "buffer_grams": covered})
