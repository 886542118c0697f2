"""The platform-enterprise console: its offers (create, pause, resume, close), the sales and
holds made to them (confirm or void a hold), and its holdings by class with the reductions
behind every gram (lineage), its retirements (retire grams; each retirement's certificate as a
PDF) and its export attempts with their serial-numbered blocks (the operator creates and marks
exports, as in the API).

The enterprise is the signed-in user's; every action names it, so another enterprise's offer,
sale or certificate is simply not found.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from tanpuhui.domain.errors import NotFoundError
from tanpuhui.domain.ledger import enterprise_account
from tanpuhui.domain.market import OfferStatus, SaleStatus
from tanpuhui.domain.retirement import RetirementRequest
from tanpuhui.domain.sign_in import PrincipalKind, Session
from tanpuhui.services.console_views import platform_console, platform_more
from tanpuhui.services.market import OfferTerms, create_offer, set_offer_status, settle_hold
from tanpuhui.services.pages import own_certificate
from tanpuhui.services.retirement import retire_reductions
from tanpuhui.web.render import (
    checked_form,
    form_int,
    form_text,
    handled,
    page,
    parse_uuid,
    pdf_response,
    redirect,
    require,
    web_of,
)

router = APIRouter()
OFFER_MOVES = {"pause": OfferStatus.PAUSED, "resume": OfferStatus.OPEN, "close": OfferStatus.CLOSED}
SALE_MOVES = {"confirm": SaleStatus.CONFIRMED, "void": SaleStatus.VOIDED}


def _enterprise(session: Session) -> uuid.UUID:
    assert session.principal.enterprise_id is not None  # a user's session names its enterprise
    return session.principal.enterprise_id


@router.get("/platform")
@handled
async def console(request: Request) -> Response:
    session = require(request, PrincipalKind.USER)
    if isinstance(session, Response):
        return session
    ctx = web_of(request).app.ctx
    view = platform_console(ctx, _enterprise(session))
    more = platform_more(ctx, _enterprise(session))
    return page(request, "platform.html", view=view, more=more, request_id=str(ctx.ids.new()))


@router.post("/platform/retirements")
@handled
async def retire(request: Request) -> Response:
    """Retire grams the enterprise holds; the form's request id makes a second post of the
    same form retire once (the retirement service's idempotency)."""
    form = await checked_form(request)
    session = require(request, PrincipalKind.USER)
    if isinstance(session, Response):
        return session
    grams = form_int(form, "grams")
    assert grams is not None
    wanted = RetirementRequest(
        grams,
        form_text(form, "beneficiary"),
        form_text(form, "purpose"),
        form_text(form, "period", 32) or None,
    )
    retire_reductions(
        web_of(request).app.ctx,
        _enterprise(session),
        wanted,
        form_text(form, "request", 128) or None,
    )
    return redirect(request, "/platform#retirements")


@router.get("/platform/certificates/{serial}.pdf")
@handled
async def certificate_pdf_file(request: Request, serial: str) -> Response:
    """A retirement certificate of the enterprise's own, as its PDF."""
    session = require(request, PrincipalKind.USER)
    if isinstance(session, Response):
        return session
    ctx = web_of(request).app.ctx
    holder = enterprise_account(_enterprise(session))
    return pdf_response(request, own_certificate(ctx, holder, serial[:64]))


def _terms(form: FormData) -> OfferTerms:
    budget, per_kg = form_int(form, "budget_grams"), form_int(form, "points_per_kg", optional=True)
    assert budget is not None
    coupons = tuple(c for c in form_text(form, "coupons", 100_000).split() if c)
    groups = tuple(g for g in form_text(form, "groups").replace(",", " ").split() if g)
    return OfferTerms(
        budget_grams=budget,
        points_per_kg=per_kg,
        programme=(form_text(form, "programme", 64) or None) if per_kg is not None else None,
        coupons=coupons,
        min_grams=form_int(form, "min_grams", optional=True) or 1,
        max_per_person_grams=form_int(form, "max_per_person_grams", optional=True),
        groups=groups,
        hold_minutes=form_int(form, "hold_minutes", optional=True),
    )


@router.post("/platform/offers")
@handled
async def create(request: Request) -> Response:
    form = await checked_form(request)
    session = require(request, PrincipalKind.USER)
    if isinstance(session, Response):
        return session
    ctx = web_of(request).app.ctx
    platform_console(ctx, _enterprise(session), limit=1)  # refuses a scene-only enterprise
    create_offer(ctx, _enterprise(session), _terms(form))
    return redirect(request, "/platform#offers")


@router.post("/platform/offers/{offer_id}/{move}")
@handled
async def move_offer(request: Request, offer_id: str, move: str) -> Response:
    await checked_form(request)
    session = require(request, PrincipalKind.USER)
    if isinstance(session, Response):
        return session
    if move not in OFFER_MOVES:
        raise NotFoundError(f"no such action {move!r}")
    set_offer_status(
        web_of(request).app.ctx, parse_uuid(offer_id), OFFER_MOVES[move], _enterprise(session)
    )
    return redirect(request, "/platform#offers")


@router.post("/platform/sales/{sale_id}/{move}")
@handled
async def move_sale(request: Request, sale_id: str, move: str) -> Response:
    await checked_form(request)
    session = require(request, PrincipalKind.USER)
    if isinstance(session, Response):
        return session
    if move not in SALE_MOVES:
        raise NotFoundError(f"no such action {move!r}")
    settle_hold(
        web_of(request).app.ctx, parse_uuid(sale_id), SALE_MOVES[move], _enterprise(session)
    )
    return redirect(request, "/platform#holds")
