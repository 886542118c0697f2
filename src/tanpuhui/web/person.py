"""我的碳账本 — the signed-in person's pages: the ledger (totals, a chart over time, breakdowns,
reductions with their traces, claims not credited and why, linked enterprises), one
reduction's trace, binding codes, ending a link, my certificates (each as its PDF), and
everything about me as JSON. The reductions are paged by keyset cursors (`?before=` older,
`?after=` newer), so the ledger of a person with 10,000 reductions costs one page's worth.

Every route reads the person from the session, never from the URL: another person's
reduction or binding is simply not found.
"""

from __future__ import annotations

import json

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tanpuhui.domain.errors import NotFoundError
from tanpuhui.domain.ledger import person_account
from tanpuhui.domain.models import MODELS
from tanpuhui.domain.sign_in import PrincipalKind
from tanpuhui.services.access import create_binding_code
from tanpuhui.services.pages import (
    cursor_text,
    export_person,
    own_certificate,
    parse_cursor,
    person_page,
    reduction_trace,
)
from tanpuhui.services.parties import unbind_subject
from tanpuhui.services.views import traced_view
from tanpuhui.web.charts import month_bars
from tanpuhui.web.render import (
    checked_form,
    finish,
    handled,
    page,
    paging,
    parse_uuid,
    pdf_response,
    redirect,
    require,
    web_of,
)

router = APIRouter()
#: reductions per page of the ledger
PAGE_SIZE = 50


@router.get("/me")
@handled
async def ledger(request: Request) -> Response:
    session = require(request, PrincipalKind.PERSON)
    if isinstance(session, Response):
        return session
    query = request.query_params
    view = person_page(
        web_of(request).app.ctx,
        session.principal.id,
        limit=PAGE_SIZE,
        before=parse_cursor(query.get("before")),
        after=parse_cursor(query.get("after")),
    )
    w = view.window
    links = paging(
        request,
        cursor_text(w.older) if w.older else None,
        cursor_text(w.newer) if w.newer else None,
        w.first,
    )
    return page(request, "me.html", view=view, chart=month_bars(view.by_month), paging=links)


@router.get("/me/certificates/{serial}.pdf")
@handled
async def certificate_pdf_file(request: Request, serial: str) -> Response:
    """One of my certificates as its PDF (with the verification QR code); another holder's
    serial is not found."""
    session = require(request, PrincipalKind.PERSON)
    if isinstance(session, Response):
        return session
    ctx = web_of(request).app.ctx
    cert = own_certificate(ctx, person_account(session.principal.id), serial[:64])
    return pdf_response(request, cert)


@router.get("/me/reductions/{reduction_id}")
@handled
async def trace(request: Request, reduction_id: str) -> Response:
    session = require(request, PrincipalKind.PERSON)
    if isinstance(session, Response):
        return session
    traced = reduction_trace(
        web_of(request).app.ctx, session.principal.id, parse_uuid(reduction_id)
    )
    model = MODELS.get(str(traced.reduction.trace.get("model", "")))
    formula = model.formula if model is not None else ""
    return page(request, "trace.html", t=traced, v=traced_view(traced), formula=formula)


@router.post("/me/binding-codes")
@handled
async def binding_code(request: Request) -> Response:
    await checked_form(request)
    session = require(request, PrincipalKind.PERSON)
    if isinstance(session, Response):
        return session
    code = create_binding_code(web_of(request).app.ctx, session.principal.id)
    return page(request, "binding_code.html", code=code)


@router.post("/me/links/end")
@handled
async def end_link(request: Request) -> Response:
    form = await checked_form(request)
    session = require(request, PrincipalKind.PERSON)
    if isinstance(session, Response):
        return session
    ctx = web_of(request).app.ctx
    enterprise_id, subject = (
        parse_uuid(str(form.get("enterprise", ""))),
        str(form.get("subject", "")),
    )
    view = person_page(ctx, session.principal.id, limit=1)
    if not any(
        link.enterprise_id == enterprise_id and link.subject == subject for link in view.linked
    ):
        raise NotFoundError("no such link in your account")
    unbind_subject(ctx, enterprise_id, subject, actor=f"person:{session.principal.id}")
    return redirect(request, "/me#links")


@router.get("/me/export.json")
@handled
async def export(request: Request) -> Response:
    session = require(request, PrincipalKind.PERSON)
    if isinstance(session, Response):
        return session
    data = export_person(web_of(request).app.ctx, session.principal.id)
    response = Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"content-disposition": 'attachment; filename="tanpuhui-me.json"'},
    )
    finish(request, response)
    return response
