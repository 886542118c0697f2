"""The operator's page (a start; issue 14 item 8 grows it): the enterprises, the published
methodology versions and the instance's outcome counts."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tanpuhui.domain.sign_in import PrincipalKind
from tanpuhui.services.catalogue import current_catalogue
from tanpuhui.services.ledger import outcome_counts
from tanpuhui.services.parties import list_enterprises
from tanpuhui.web.render import handled, page, require, web_of

router = APIRouter()


@router.get("/operator")
@handled
async def operator(request: Request) -> Response:
    session = require(request, PrincipalKind.OPERATOR)
    if isinstance(session, Response):
        return session
    ctx = web_of(request).app.ctx
    return page(
        request,
        "operator.html",
        enterprises=list_enterprises(ctx),
        methodologies=current_catalogue(ctx).catalogue.methodologies,
        counts=outcome_counts(ctx),
    )
