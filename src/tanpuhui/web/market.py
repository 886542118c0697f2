"""The person's market pages: the open offers that accept some of their grams (with a sell
form each), the result of a sale, their holds and sales, points by programme with the
history, and redeeming points at a partner merchant.

The person is the session's, never the form's; each sell and redeem form carries a request
id minted when the page was drawn, so posting the same form twice sells (or redeems) once.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tanpuhui.domain.errors import NotFoundError
from tanpuhui.domain.sign_in import PrincipalKind
from tanpuhui.services.console_views import person_market
from tanpuhui.services.market import sell_reductions
from tanpuhui.services.points import redeem_points
from tanpuhui.web.render import (
    checked_form,
    form_int,
    form_text,
    handled,
    page,
    parse_uuid,
    redirect,
    require,
    web_of,
)

router = APIRouter()


@router.get("/me/market")
@handled
async def market(request: Request) -> Response:
    session = require(request, PrincipalKind.PERSON)
    if isinstance(session, Response):
        return session
    ctx = web_of(request).app.ctx
    view = person_market(ctx, session.principal.id)
    return page(request, "market.html", view=view, request_id=str(ctx.ids.new()))


@router.post("/me/sales")
@handled
async def sell(request: Request) -> Response:
    form = await checked_form(request)
    session = require(request, PrincipalKind.PERSON)
    if isinstance(session, Response):
        return session
    grams = form_int(form, "grams")
    assert grams is not None
    result = sell_reductions(
        web_of(request).app.ctx,
        session.principal.id,
        parse_uuid(form_text(form, "offer")),
        grams,
        form_text(form, "request", 128) or None,
    )
    return page(request, "sale.html", sale=result)


@router.post("/me/redemptions")
@handled
async def redeem(request: Request) -> Response:
    form = await checked_form(request)
    session = require(request, PrincipalKind.PERSON)
    if isinstance(session, Response):
        return session
    ctx = web_of(request).app.ctx
    merchant = parse_uuid(form_text(form, "merchant"))
    programme = form_text(form, "programme", 64)
    view = person_market(ctx, session.principal.id, limit=1)
    if merchant not in view.merchants.values() or programme not in view.points:
        raise NotFoundError("no such partner merchant or programme of yours")
    points = form_int(form, "points")
    assert points is not None
    redeem_points(
        ctx, merchant, session.principal.id, programme, points, form_text(form, "request", 128)
    )
    return redirect(request, "/me/market#points")
