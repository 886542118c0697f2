"""The public verification page `/verify/{serial}` — where a certificate's QR code points. No
sign-in; the same rate limit per address as the API's look-up; it shows only what the
certificate says (services/certificates.py), in zh-CN or English like every page. A serial that
is unknown, mistyped or whose certificate was altered gets the error page with its stable code
(404 `certificate_not_found`, 400 `invalid_serial`, 409 `certificate_altered`)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from tanpuhui.services.certificates import verify_certificate
from tanpuhui.web.render import handled, page, web_of

router = APIRouter()


@router.get("/verify/{serial}")
@handled
async def verify(request: Request, serial: str) -> Response:
    limiter = request.app.state.certificate_lookups  # api/app.py's: one bucket per address
    address = request.client.host if request.client else "-"
    limiter.check(address)
    limiter.fail(address)  # every look-up takes a token
    ctx = web_of(request).app.ctx
    cert = await run_in_threadpool(verify_certificate, ctx, serial[:64])
    return page(request, "verify.html", c=cert.content, key=ctx.log_signer.name)
