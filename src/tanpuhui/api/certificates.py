"""Leaderboards and certificates over HTTP (docs/certificates.md).

- `GET /v1/certificates/{serial}`: public, unauthenticated, rate-limited per client address;
  the certificate document (content, signature, key) and nothing else about anyone: 404
  `certificate_not_found`, 422 `invalid_serial`, 409 `certificate_altered`.
- `PUT /v1/me/display-name` (person bearer token): the display name and leaderboard opt-in.
- `GET /v1/leaderboards` and `POST /v1/certificates` (an operator's bearer token): a board,
  and certificates for its top N or a programme milestone.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from tanpuhui.api.routes import json_response, problems
from tanpuhui.api.security import (
    FailureLimiter,
    bearer_official,
    bearer_person,
    context,
    read_body,
)
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.leaderboard import MAX_TOP, BoardKind, BoardSpec
from tanpuhui.domain.officials import Official, OfficialKind
from tanpuhui.domain.parties import Person
from tanpuhui.services.certificates import (
    document,
    issue_leaderboard_certificates,
    issue_milestone_certificates,
    verify_certificate,
)
from tanpuhui.services.leaderboards import board_spec, board_view, leaderboard, set_display_name

router = APIRouter(tags=["certificates"])
M = TypeVar("M", bound=BaseModel)
Serial = Annotated[str, Path(max_length=40, description="a certificate serial")]


def lookup_limiter(per_minute: float, burst: float) -> FailureLimiter:
    """Public look-ups per client address: the failure limiter's token bucket, charged for
    every look-up (a verification page is read by people, not crawled)."""
    return FailureLimiter(per_minute, burst)


Operator = Annotated[Official, Depends(bearer_official(OfficialKind.OPERATOR))]
Bearer = Annotated[Person, Depends(bearer_person)]


class DisplayNameRequest(BaseModel):
    display_name: str | None = Field(default=None, max_length=64)
    opted_in: bool | None = None


class BoardRequest(BaseModel):
    kind: Literal["programme", "behaviour", "group"]
    code: str = Field(min_length=1, max_length=100)
    region: str | None = Field(default=None, pattern=r"^\d{6}$")
    first: date = Field(alias="from")
    last: date = Field(alias="to")


class IssueRequest(BaseModel):
    board: BoardRequest
    top: int = Field(default=10, ge=1, le=MAX_TOP)
    milestone_grams: int | None = Field(default=None, ge=1, description="programme boards only")


async def _body(request: Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await read_body(request))
    except ValidationError as exc:
        raise InvalidInputError(
            f"the body is not a {model.__name__}: {exc.errors()[0]['msg']}",
            code="invalid_request",
        ) from None


def _spec(board: BoardRequest) -> BoardSpec:
    return board_spec(BoardKind(board.kind), board.code, board.region, board.first, board.last)


@router.get(
    "/v1/certificates/{serial}",
    summary="(Public) Verify a certificate by its serial",
    description="No authentication; rate-limited per address. The certificate's signed content "
    "and signature, after checking the signature with the platform key.",
    responses=problems(404, 409, 422, 429),
)
async def get_certificate(request: Request, serial: Serial) -> Response:
    limiter: FailureLimiter = request.app.state.certificate_lookups
    address = request.client.host if request.client else "-"
    limiter.check(address)
    limiter.fail(address)  # every look-up takes a token
    ctx = context(request)
    cert = await run_in_threadpool(verify_certificate, ctx, serial)
    return json_response({"valid": True, **document(ctx, cert)})


@router.put(
    "/v1/me/display-name",
    summary="(Person) Choose your display name and opt in to or out of leaderboards",
    responses=problems(401, 404, 422),
)
async def put_display_name(request: Request, person: Bearer) -> Response:
    body = await _body(request, DisplayNameRequest)
    chosen = await run_in_threadpool(
        set_display_name, context(request), person.id, body.display_name, body.opted_in
    )
    return json_response({"display_name": chosen.name, "opted_in": chosen.opted_in})


@router.get(
    "/v1/leaderboards",
    summary="(Operator) A leaderboard: opted-in people by credited grams",
    responses=problems(401, 404, 422),
)
async def get_leaderboard(
    request: Request,
    _official: Operator,
    kind: Annotated[Literal["programme", "behaviour", "group"], Query()],
    code: Annotated[str, Query(min_length=1, max_length=100)],
    first: Annotated[date, Query(alias="from")],
    last: Annotated[date, Query(alias="to")],
    region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    top: Annotated[int, Query(ge=1, le=MAX_TOP)] = 10,
) -> Response:
    spec = board_spec(BoardKind(kind), code, region, first, last)
    board = await run_in_threadpool(leaderboard, context(request), spec, top)
    return json_response(board_view(board))


@router.post(
    "/v1/certificates",
    status_code=201,
    summary="(Operator) Issue certificates for a board's top N or a programme milestone",
    description="Idempotent: certificates already issued for the same award come back with "
    "`new: false`.",
    responses=problems(401, 404, 422),
)
async def post_certificates(request: Request, official: Operator) -> Response:
    body = await _body(request, IssueRequest)
    ctx, spec = context(request), _spec(body.board)
    if body.milestone_grams is not None:
        if spec.kind is not BoardKind.PROGRAMME or spec.region is not None:
            raise InvalidInputError(
                "a milestone is a programme's, without a region", code="invalid_request"
            )
        grams = body.milestone_grams
        issued = await run_in_threadpool(
            issue_milestone_certificates, ctx, spec.code, grams, spec.first, spec.last,
            f"operator:{official.id}",
        )  # fmt: skip
    else:
        issued = await run_in_threadpool(
            issue_leaderboard_certificates, ctx, spec, body.top, f"operator:{official.id}"
        )
    data: list[dict[str, Any]] = [{"new": i.new, **document(ctx, i.certificate)} for i in issued]
    return json_response({"certificates": data}, status=201)
