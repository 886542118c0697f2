"""The verifier's queue: issuance batches to review (open first), one batch with its
monitoring report, a seeded sample recomputed by the engine and shown beside what was
credited, and approve or reject with a comment.

The verifier is the signed-in official; each decision goes through the MRV service, which
records the actor, the time and the comment in the batch and the audit trail.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tanpuhui.domain.errors import NotFoundError
from tanpuhui.domain.officials import Official
from tanpuhui.domain.sign_in import PrincipalKind
from tanpuhui.services.console_views import batch_queue
from tanpuhui.services.mrv import approve_batch_as, reject_batch_as, sample_batch_as, show_batch
from tanpuhui.services.pages import cursor_text, parse_cursor
from tanpuhui.services.sign_in import official_of
from tanpuhui.web.render import (
    checked_form,
    form_int,
    form_text,
    handled,
    page,
    paging,
    parse_uuid,
    redirect,
    require,
    web_of,
)

router = APIRouter()
SAMPLE_SIZE = 20
#: batches per page of the queue (keyset-paged: `?before=` / `?after=`)
QUEUE_SIZE = 50


def _verifier(request: Request) -> Official | Response:
    session = require(request, PrincipalKind.VERIFIER)
    if isinstance(session, Response):
        return session
    return official_of(web_of(request).app.ctx, session)


@router.get("/verifier")
@handled
async def queue(request: Request) -> Response:
    verifier = _verifier(request)
    if isinstance(verifier, Response):
        return verifier
    query = request.query_params
    shown = batch_queue(
        web_of(request).app.ctx,
        QUEUE_SIZE,
        before=parse_cursor(query.get("before")),
        after=parse_cursor(query.get("after")),
    )
    links = paging(
        request,
        cursor_text(shown.older) if shown.older else None,
        cursor_text(shown.newer) if shown.newer else None,
        shown.first,
    )
    return page(request, "verifier.html", batches=shown.items, paging=links)


@router.get("/verifier/batches/{batch_id}")
@handled
async def batch(request: Request, batch_id: str) -> Response:
    verifier = _verifier(request)
    if isinstance(verifier, Response):
        return verifier
    shown = show_batch(web_of(request).app.ctx, parse_uuid(batch_id))
    return page(request, "batch.html", b=shown, size=SAMPLE_SIZE)


@router.post("/verifier/batches/{batch_id}/{decision}")
@handled
async def decide(request: Request, batch_id: str, decision: str) -> Response:
    form = await checked_form(request)
    verifier = _verifier(request)
    if isinstance(verifier, Response):
        return verifier
    ctx, wanted = web_of(request).app.ctx, parse_uuid(batch_id)
    comment = form_text(form, "comment", 2000)
    if decision == "sample":
        seed, size = form_int(form, "seed"), form_int(form, "size", optional=True)
        assert seed is not None
        sample_batch_as(ctx, wanted, verifier, seed, size or SAMPLE_SIZE)
        return redirect(request, f"/verifier/batches/{wanted}#sample")
    if decision == "approve":
        approve_batch_as(ctx, wanted, verifier, comment)
    elif decision == "reject":
        reject_batch_as(ctx, wanted, verifier, comment)
    else:
        raise NotFoundError(f"no such decision {decision!r}")
    return redirect(request, f"/verifier/batches/{wanted}")
