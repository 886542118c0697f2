"""The versioned HTTP API (`/v1`): thin routes — authenticate, call one service, render."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from tanpuhui.api import schemas
from tanpuhui.api.errors import PROBLEM
from tanpuhui.api.security import bearer_person, context, read_body, signed_enterprise
from tanpuhui.api.tenancy import mask_foreign
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.parties import Enterprise, Person
from tanpuhui.services import views
from tanpuhui.services.access import bind_with_code, create_binding_code
from tanpuhui.services.catalogue import current_catalogue
from tanpuhui.services.events import get_event, outcome_feed
from tanpuhui.services.exclusions import declare_claimed_elsewhere
from tanpuhui.services.intake import check_batch_size, submit_events
from tanpuhui.services.parties import unbind_subject

router = APIRouter()
_encode = msgspec.json.Encoder().encode
Signed = Annotated[Enterprise, Depends(signed_enterprise)]
SubjectPath = Annotated[str, Path(pattern=r"^[\x21-\x7e]{1,128}$", description="subject id")]


def json_body(schema: str) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its JSON itself (signed: raw bytes)."""
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    return {"requestBody": {"required": True, "content": content}}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        s: {"model": schemas.Problem, "content": {PROBLEM: {}}, "description": "a problem"}
        for s in statuses
    }


def json_response(data: Any, status: int = 200) -> Response:
    return Response(_encode(data), status_code=status, media_type="application/json")


@router.post(
    "/v1/events",
    summary="Submit a batch of behaviour events",
    description="Signed. One outcome per event, in order. Idempotent by event id: retrying a "
    "batch returns the same outcomes and credits nothing new; a known event id with a "
    "different payload gets a per-event `conflict`.",
    response_model=schemas.BatchResult,
    responses=problems(401, 408, 413, 422, 429, 503),
    openapi_extra=json_body("EventBatch"),
)
async def post_events(request: Request, enterprise: Signed) -> Response:
    ctx = context(request)
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind not in ("application/json", ""):
        raise InvalidInputError("send the batch as application/json", code="unsupported_media_type")
    items = request.app.state.decoder.batch(request.state.body)
    if items is None:
        raise InvalidInputError(
            'the body must be a JSON object {"events": [...]}', code="invalid_request"
        )
    check_batch_size(len(items), ctx.limits)
    outcomes = await run_in_threadpool(submit_events, ctx, enterprise.id, items, source="api")
    summary = Counter(o.kind.value for o in outcomes)
    rendered = await mask_foreign(ctx, enterprise.id, [views.outcome_view(o) for o in outcomes])
    return json_response({"outcomes": rendered, "summary": dict(summary)})


@router.get(
    "/v1/events/{event_id:path}",
    summary="One of your events: its outcome, calculation trace and where its grams are now",
    response_model=schemas.EventDetail,
    responses=problems(401, 404, 429, 503),
)
async def read_event(
    request: Request,
    enterprise: Signed,
    event_id: Annotated[str, Path(pattern=r"^[\x21-\x7e]{1,128}$")],
) -> Response:
    ctx = context(request)
    view = await run_in_threadpool(get_event, ctx, enterprise.id, event_id)
    catalogue = await run_in_threadpool(current_catalogue, ctx)
    detail = views.event_detail(view, catalogue.catalogue)
    await mask_foreign(ctx, enterprise.id, [detail])
    return json_response(detail)


@router.get(
    "/v1/outcomes",
    summary="Your outcome feed, in commit order, for reconciliation",
    description="Cursor-paginated: pass `next_cursor` as `after` until it is null; later, "
    "poll again with the last `cursor` for what arrived since.",
    response_model=schemas.FeedPage,
    responses=problems(401, 422, 429, 503),
)
async def read_outcomes(
    request: Request,
    enterprise: Signed,
    after: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    ctx = context(request)
    page = await run_in_threadpool(outcome_feed, ctx, enterprise.id, after, limit)
    catalogue = (await run_in_threadpool(current_catalogue, ctx)).catalogue
    items = [views.event_detail(item, catalogue) for item in page.items]
    await mask_foreign(ctx, enterprise.id, items)
    return json_response({"items": items, "next_cursor": page.next_cursor, "cursor": page.cursor})


@router.post(
    "/v1/bindings",
    summary="Bind one of your subjects to a person, with the person's one-time code",
    description="The subject's pending reductions move to the person in the same transaction "
    "(re-checked against the person's own ledger for overlaps and daily caps).",
    response_model=schemas.BindingResult,
    responses=problems(401, 404, 408, 409, 413, 422, 429, 503),
    openapi_extra=json_body("BindingRequest"),
)
async def post_binding(request: Request, enterprise: Signed) -> Response:
    try:
        binding = msgspec.json.decode(request.state.body, type=_BindingBody)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidInputError(f"invalid binding request: {exc}", code="invalid_request") from None
    ctx = context(request)
    result = await run_in_threadpool(
        bind_with_code, ctx, enterprise.id, binding.subject, binding.code
    )
    answer = {
        "subject": result.binding.subject,
        "bound_at": result.binding.bound_at.isoformat(),
        "created": result.created,
        "moved_grams": result.moved_grams,
        "reversed_grams": result.reversed_grams,
        "reductions": [
            {
                "reduction_id": str(m.reduction_id),
                "resolution": m.resolution.value,
                "moved_grams": m.moved,
                "reversed_grams": m.reversed,
                "duplicate_of": str(m.duplicate_of) if m.duplicate_of else None,
            }
            for m in result.moves
        ],
    }
    await mask_foreign(ctx, enterprise.id, [answer])
    return json_response(answer, status=201 if result.created else 200)


class _BindingBody(msgspec.Struct, forbid_unknown_fields=True):
    subject: str
    code: str


@router.delete(
    "/v1/bindings/{subject:path}",
    summary="End a binding: the subject's new events go pending again; nothing moves back",
    response_model=schemas.Unbound,
    responses=problems(401, 404, 429, 503),
)
async def delete_binding(request: Request, enterprise: Signed, subject: SubjectPath) -> Response:
    ended = await run_in_threadpool(
        unbind_subject, context(request), enterprise.id, subject, f"enterprise:{enterprise.id}"
    )
    assert ended.ended_at is not None
    return json_response({"subject": ended.subject, "ended_at": ended.ended_at.isoformat()})


@router.post(
    "/v1/exclusions",
    summary="Declare your programme, or a meter or installation you may cite, claimed elsewhere",
    description="Signed. Events it covers are rejected `claimed_elsewhere` from then on. Each "
    "call adds one declaration (a retry adds an identical one, which changes nothing).",
    response_model=schemas.ExclusionDeclared,
    status_code=201,
    responses=problems(401, 403, 408, 413, 422, 429, 503),
    openapi_extra=json_body("ExclusionRequest"),
)
async def post_exclusion(request: Request, enterprise: Signed) -> Response:
    try:
        body = msgspec.json.decode(request.state.body, type=_ExclusionBody)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidInputError(f"invalid exclusion: {exc}", code="invalid_request") from None
    x = await run_in_threadpool(
        declare_claimed_elsewhere, context(request), body.key, body.mechanism,
        declared_by=enterprise.id, behaviours=body.behaviours, valid_from=body.valid_from,
        valid_to=body.valid_to, note=body.note,
    )  # fmt: skip
    answer = {
        "id": str(x.id), "key": x.key, "mechanism": x.mechanism, "behaviours": list(x.behaviours),
        "valid_from": x.valid_from, "valid_to": x.valid_to,
        "declared_at": x.declared_at.isoformat(), "note": x.note,
    }  # fmt: skip
    return json_response(answer, status=201)


_Behaviour = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_.]{1,64}$")]


class _ExclusionBody(msgspec.Struct, forbid_unknown_fields=True):
    """`schemas.ExclusionRequest`; the service checks the key and the period."""

    key: Annotated[str, msgspec.Meta(max_length=160)]
    mechanism: Literal["green_certificate", "ccer", "ets", "other_programme"]
    behaviours: Annotated[list[_Behaviour], msgspec.Meta(max_length=64)] = []
    valid_from: date | None = None
    valid_to: date | None = None
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


@router.post(
    "/v1/me/binding-codes",
    summary="(Person) Get a one-time code to bind your account at a scene enterprise",
    response_model=schemas.BindingCode,
    status_code=201,
    responses=problems(401, 408, 413, 429, 503),
)
async def post_binding_code(
    request: Request, person: Annotated[Person, Depends(bearer_person)]
) -> Response:
    await read_body(request)  # none expected; enforce the limit all the same
    code = await run_in_threadpool(create_binding_code, context(request), person.id)
    return json_response({"code": code.code, "expires_at": code.expires_at.isoformat()}, 201)


@router.get("/healthz", summary="Liveness", response_model=schemas.Health)
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get(
    "/readyz",
    summary="Readiness: the database answers and is migrated",
    response_model=schemas.Health,
    responses=problems(503),
)
async def readyz(request: Request) -> Response:
    from tanpuhui.api.errors import problem

    ready = await run_in_threadpool(request.app.state.ready)
    if not ready:
        return problem(503, "not_ready", "the database is not reachable or not migrated", "/readyz")
    return json_response({"status": "ok"})
