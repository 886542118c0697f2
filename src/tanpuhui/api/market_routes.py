"""The market over HTTP (issue 11 item 5): thin routes — authenticate, call one service, render
with services/market_views.py (the same JSON the CLI prints).

Persons (bearer token): their ledger with points and holds, the offers they can sell to, sell,
their sales. Platform enterprises (signed): create, pause, resume and close offers, list their
offers and sales, confirm or void holds, their holdings by class with lineage. An enterprise
sees only its own offers, sales and holds (another's are not found).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from tanpuhui.api import market_schemas as ms
from tanpuhui.api.bodies import decode_body, parse_id
from tanpuhui.api.routes import json_body, json_response, problems
from tanpuhui.api.security import bearer_person, context, read_body, signed_enterprise
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.ledger import enterprise_account, person_account
from tanpuhui.domain.market import OfferStatus, SaleStatus
from tanpuhui.domain.methodology import Confidence
from tanpuhui.domain.parties import Enterprise, Person
from tanpuhui.services import market_views as mv
from tanpuhui.services import views
from tanpuhui.services.ledger import show_ledger
from tanpuhui.services.market import (
    OfferTerms,
    create_offer,
    holdings_of,
    list_offers,
    sales_of_enterprise,
    sales_of_person,
    sell_reductions,
    set_offer_status,
    settle_hold,
)
from tanpuhui.services.points import redeem_with_code

router = APIRouter()
Signed = Annotated[Enterprise, Depends(signed_enterprise)]
Bearer = Annotated[Person, Depends(bearer_person)]
Limit = Annotated[int, Query(ge=1, le=500)]


class _OfferBody(msgspec.Struct, forbid_unknown_fields=True):
    """`market_schemas.OfferRequest`; the service checks the terms."""

    budget_grams: int
    points_per_kg: int | None = None
    programme: str | None = None
    coupons: list[str] = []
    min_grams: int = 1
    max_per_person_grams: int | None = None
    groups: list[str] = []
    regions: list[str] = []
    vintages: list[str] = []
    min_quality: Confidence | None = None
    valid_until: datetime | None = None
    hold_minutes: int | None = None


class _SaleBody(msgspec.Struct, forbid_unknown_fields=True):
    offer_id: str
    grams: int
    request_id: str


# --- persons ------------------------------------------------------------------------------


@router.get(
    "/v1/me/ledger",
    summary="(Person) My ledger: balances by class, reductions with traces, points, holds",
    response_model=ms.MyLedger,
    responses=problems(401, 429, 503),
)
async def my_ledger(request: Request, person: Bearer, limit: Limit = 20) -> Response:
    ctx, account = context(request), person_account(person.id)
    view = await run_in_threadpool(show_ledger, ctx, account, limit=limit)
    data = views.ledger_view(view)
    data.pop("entries", None)
    market = await run_in_threadpool(mv.person_market_view, ctx, account, limit)
    return json_response({**data, **market})


@router.get(
    "/v1/me/offers",
    summary="(Person) The offers I can sell to now",
    response_model=ms.OfferList,
    responses=problems(401, 429, 503),
)
async def my_offers(request: Request, person: Bearer) -> Response:
    found = await run_in_threadpool(list_offers, context(request), None, open_only=True)
    return json_response({"items": [mv.offer_view(v) for v in found]})


@router.post(
    "/v1/me/sales",
    summary="(Person) Sell grams to an offer, oldest first, for its incentive",
    description="One transaction: the grams move to the enterprise and the incentive to you "
    "(or, for an offer settled outside the platform, a hold that expires). Idempotent by "
    "`request_id`: the same id returns the same sale (200) and moves nothing.",
    response_model=ms.Sale,
    status_code=201,
    responses=problems(401, 404, 408, 409, 413, 422, 429, 503),
    openapi_extra=json_body("SaleRequest"),
)
async def post_sale(request: Request, person: Bearer) -> Response:
    body = decode_body(await read_body(request), _SaleBody, "sale")
    offer = parse_id(body.offer_id, "an offer")
    result = await run_in_threadpool(
        sell_reductions, context(request), person.id, offer, body.grams, body.request_id
    )
    return json_response(mv.sale_view(result), status=200 if result.replayed else 201)


@router.get(
    "/v1/me/sales",
    summary="(Person) My sales and holds, newest first",
    response_model=ms.SaleList,
    responses=problems(401, 429, 503),
)
async def my_sales(request: Request, person: Bearer, limit: Limit = 100) -> Response:
    found = await run_in_threadpool(sales_of_person, context(request), person.id, limit)
    return json_response({"items": [mv.sale_view(r) for r in found]})


# --- platform enterprises -----------------------------------------------------------------


@router.post(
    "/v1/offers",
    summary="(Platform) Publish an offer",
    description="Signed; the enterprise needs the platform role (`not_platform` otherwise).",
    response_model=ms.Offer,
    status_code=201,
    responses=problems(401, 403, 404, 408, 413, 422, 429, 503),
    openapi_extra=json_body("OfferRequest"),
)
async def post_offer(request: Request, enterprise: Signed) -> Response:
    body = decode_body(request.state.body, _OfferBody, "offer")
    valid_until = body.valid_until
    if valid_until is not None and valid_until.tzinfo is None:
        raise InvalidInputError("valid_until needs a UTC offset", code="invalid_request")
    terms = OfferTerms(
        budget_grams=body.budget_grams,
        points_per_kg=body.points_per_kg,
        programme=body.programme,
        coupons=tuple(body.coupons),
        min_grams=body.min_grams,
        max_per_person_grams=body.max_per_person_grams,
        groups=tuple(body.groups),
        regions=tuple(body.regions),
        vintages=tuple(body.vintages),
        min_quality=body.min_quality,
        valid_until=valid_until,
        hold_minutes=body.hold_minutes,
    )
    view = await run_in_threadpool(create_offer, context(request), enterprise.id, terms)
    return json_response(mv.offer_view(view), status=201)


@router.get(
    "/v1/offers",
    summary="(Platform) My offers with their remaining budgets",
    response_model=ms.OfferList,
    responses=problems(401, 429, 503),
)
async def read_offers(request: Request, enterprise: Signed) -> Response:
    found = await run_in_threadpool(list_offers, context(request), enterprise.id)
    return json_response({"items": [mv.offer_view(v) for v in found]})


async def _offer_status(request: Request, who: Enterprise, offer: str, to: OfferStatus) -> Response:
    view = await run_in_threadpool(
        set_offer_status, context(request), parse_id(offer, "an offer"), to, who.id
    )
    return json_response(mv.offer_view(view))


_STATUS_DOC: dict[str, Any] = {
    "response_model": ms.Offer,
    "responses": problems(401, 404, 409, 429, 503),
}


@router.post("/v1/offers/{offer_id}/pause", summary="(Platform) Pause an offer", **_STATUS_DOC)
async def pause_offer(request: Request, enterprise: Signed, offer_id: str) -> Response:
    return await _offer_status(request, enterprise, offer_id, OfferStatus.PAUSED)


@router.post(
    "/v1/offers/{offer_id}/resume", summary="(Platform) Reopen a paused offer", **_STATUS_DOC
)
async def resume_offer(request: Request, enterprise: Signed, offer_id: str) -> Response:
    return await _offer_status(request, enterprise, offer_id, OfferStatus.OPEN)


@router.post(
    "/v1/offers/{offer_id}/close", summary="(Platform) Close an offer for good", **_STATUS_DOC
)
async def close_offer(request: Request, enterprise: Signed, offer_id: str) -> Response:
    return await _offer_status(request, enterprise, offer_id, OfferStatus.CLOSED)


@router.get(
    "/v1/sales",
    summary="(Platform) Sales and holds to my offers, newest first",
    response_model=ms.SaleList,
    responses=problems(401, 429, 503),
)
async def read_sales(request: Request, enterprise: Signed, limit: Limit = 100) -> Response:
    found = await run_in_threadpool(sales_of_enterprise, context(request), enterprise.id, limit)
    return json_response({"items": [mv.sale_view(r) for r in found]})


async def _settle(request: Request, who: Enterprise, sale: str, to: SaleStatus) -> Response:
    result = await run_in_threadpool(
        settle_hold, context(request), parse_id(sale, "a sale"), to, who.id
    )
    return json_response(mv.sale_view(result))


_HOLD_DOC: dict[str, Any] = {
    "response_model": ms.Sale,
    "responses": problems(401, 404, 409, 429, 503),
}


@router.post(
    "/v1/holds/{sale_id}/confirm", summary="(Platform) Confirm a hold: post it", **_HOLD_DOC
)
async def confirm_hold(request: Request, enterprise: Signed, sale_id: str) -> Response:
    return await _settle(request, enterprise, sale_id, SaleStatus.CONFIRMED)


@router.post("/v1/holds/{sale_id}/void", summary="(Platform) Void a hold: release it", **_HOLD_DOC)
async def void_hold(request: Request, enterprise: Signed, sale_id: str) -> Response:
    return await _settle(request, enterprise, sale_id, SaleStatus.VOIDED)


@router.get(
    "/v1/holdings",
    summary="(Platform) My holdings by class, with the reductions behind every gram",
    response_model=ms.Holdings,
    responses=problems(401, 429, 503),
)
async def read_holdings(request: Request, enterprise: Signed) -> Response:
    account = enterprise_account(enterprise.id)
    by_class = await run_in_threadpool(holdings_of, context(request), account)
    return json_response(mv.holdings_view(account, by_class))


class _RedemptionBody(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    programme: str
    points: int
    request_id: str


@router.post(
    "/v1/redemptions",
    summary="(Merchant) Redeem a person's points, with the person's one-time code",
    description="Signed by a partner merchant of the programme. The points move from the "
    "person to the merchant. Idempotent by `request_id`: the same id returns the same "
    "redemption (200) and moves nothing.",
    response_model=ms.RedemptionResult,
    status_code=201,
    responses=problems(401, 403, 404, 408, 409, 413, 422, 429, 503),
    openapi_extra=json_body("RedemptionRequest"),
)
async def post_redemption(request: Request, enterprise: Signed) -> Response:
    body = decode_body(request.state.body, _RedemptionBody, "redemption")
    done, new = await run_in_threadpool(
        redeem_with_code, context(request), enterprise.id, body.code, body.programme,
        body.points, body.request_id,
    )  # fmt: skip
    return json_response({**mv.redemption_view(done), "replayed": not new}, 201 if new else 200)
