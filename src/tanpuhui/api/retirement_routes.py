"""Retirement and carbon-market export over HTTP (issue 13 item 5): thin routes —
authenticate, call one service, render with services/retirement_views.py (the same JSON the
CLI prints).

Platform enterprises (signed): retire grams they hold, list and read their retirements (another
enterprise's are not found). The operator (bearer token of an operator official): create an
export, mark it exported or returned, fetch its file (CSV or JSON).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from tanpuhui.api import retirement_schemas as rs
from tanpuhui.api.bodies import decode_body, parse_id
from tanpuhui.api.routes import json_body, json_response, problems
from tanpuhui.api.security import bearer_official, context, read_body, signed_enterprise
from tanpuhui.domain.errors import InvalidInputError, NotFoundError
from tanpuhui.domain.officials import Official, OfficialKind
from tanpuhui.domain.parties import Enterprise
from tanpuhui.domain.retirement import ExportStatus, RetirementRequest
from tanpuhui.services.export import create_export, export_csv, export_file, mark_export
from tanpuhui.services.retirement import get_retirement, retire_reductions, retirements_of
from tanpuhui.services.retirement_views import export_view, retirement_view

router = APIRouter()
Signed = Annotated[Enterprise, Depends(signed_enterprise)]


Operator = Annotated[Official, Depends(bearer_official(OfficialKind.OPERATOR))]


class _RetireBody(msgspec.Struct, forbid_unknown_fields=True):
    """`retirement_schemas.RetirementRequest`; the service checks the values."""

    grams: int
    beneficiary: str
    purpose: str
    request_id: str
    period: str | None = None


class _ExportBody(msgspec.Struct, forbid_unknown_fields=True):
    enterprise: str
    tonnes: int
    registry: str


class _MarkBody(msgspec.Struct, forbid_unknown_fields=True):
    status: Literal["exported", "returned"]
    reference: str | None = None


@router.post(
    "/v1/retirements",
    summary="(Platform) Retire grams I hold: serial-numbered blocks that never move again",
    description="Signed; the enterprise needs the platform role. The grams are allocated "
    "oldest first; the answer names the blocks (`serial`, `start`, `end`) and the retirement "
    "certificate's serial (`certificate`). Idempotent by `request_id` (200 when replayed).",
    response_model=rs.Retirement,
    status_code=201,
    responses=problems(401, 403, 404, 408, 409, 413, 422, 429, 503),
    openapi_extra=json_body("RetirementRequest"),
)
async def post_retirement(request: Request, enterprise: Signed) -> Response:
    body = decode_body(request.state.body, _RetireBody, "retirement")
    asked = RetirementRequest(body.grams, body.beneficiary, body.purpose, body.period)
    result = await run_in_threadpool(
        retire_reductions, context(request), enterprise.id, asked, body.request_id
    )
    return json_response(retirement_view(result), status=200 if result.replayed else 201)


@router.get(
    "/v1/retirements",
    summary="(Platform) My retirements, newest first",
    response_model=rs.RetirementList,
    responses=problems(401, 429, 503),
)
async def read_retirements(request: Request, enterprise: Signed) -> Response:
    found = await run_in_threadpool(retirements_of, context(request), enterprise.id)
    return json_response({"items": [retirement_view(r) for r in found]})


@router.get(
    "/v1/retirements/{retirement_id}",
    summary="(Platform) One of my retirements with its blocks",
    response_model=rs.Retirement,
    responses=problems(401, 404, 422, 429, 503),
)
async def read_retirement(request: Request, enterprise: Signed, retirement_id: str) -> Response:
    rid = parse_id(retirement_id, "a retirement")
    result = await run_in_threadpool(get_retirement, context(request), rid)
    if result.retirement.enterprise_id != enterprise.id:
        raise NotFoundError(f"no retirement {retirement_id}")
    return json_response(retirement_view(result))


@router.post(
    "/v1/exports",
    summary="(Operator) Package an enterprise's verified holdings into whole-tonne blocks",
    description="The blocks are `pending_export` and their grams locked until marked.",
    response_model=rs.Export,
    status_code=201,
    responses=problems(401, 404, 408, 409, 413, 422, 429, 503),
    openapi_extra=json_body("ExportRequest"),
)
async def post_export(request: Request, official: Operator) -> Response:
    body = decode_body(await read_body(request), _ExportBody, "export")
    ent = parse_id(body.enterprise, "an enterprise")
    result = await run_in_threadpool(
        create_export, context(request), ent, body.tonnes, body.registry, f"operator:{official.id}"
    )
    return json_response(export_view(result), status=201)


@router.post(
    "/v1/exports/{export_id}/mark",
    summary="(Operator) Record the registry's answer: exported (with its reference) or returned",
    response_model=rs.Export,
    responses=problems(401, 404, 408, 409, 413, 422, 429, 503),
    openapi_extra=json_body("ExportMark"),
)
async def post_export_mark(request: Request, official: Operator, export_id: str) -> Response:
    body = decode_body(await read_body(request), _MarkBody, "mark")
    to = ExportStatus(body.status)
    if to is ExportStatus.RETURNED and body.reference is not None:
        raise InvalidInputError("a reference goes with exported", code="invalid_request")
    result = await run_in_threadpool(
        mark_export, context(request), parse_id(export_id, "an export"), to, body.reference,
        f"operator:{official.id}",
    )  # fmt: skip
    return json_response(export_view(result))


@router.get(
    "/v1/exports/{export_id}/file",
    summary="(Operator) The export file for the receiving registry (CSV or JSON)",
    responses={
        200: {"content": {"text/csv": {}, "application/json": {}}, "description": "the file"},
        **problems(401, 404, 422, 429, 503),
    },
)
async def read_export_file(
    request: Request,
    official: Operator,
    export_id: str,
    format: Annotated[Literal["csv", "json"], Query()] = "csv",
) -> Response:
    data = await run_in_threadpool(export_file, context(request), parse_id(export_id, "an export"))
    if format == "json":
        return json_response(data)
    name = f"export-{data['export']}.csv"
    return Response(
        export_csv(data),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
