"""Pages anyone may open: the landing page (what the platform is, the instance's k-suppressed
totals, the methodology catalogue), one page per methodology version, signing in and out,
and (dev mode only) the demo page that shows the sign-in codes the console sender sent."""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from tanpuhui.domain.errors import InvalidInputError, NotFoundError, RateLimitedError
from tanpuhui.domain.sign_in import PrincipalKind
from tanpuhui.services.catalogue import current_catalogue, get_methodology
from tanpuhui.services.pages import K_MIN_PERSONS, landing_totals
from tanpuhui.services.sign_in import request_code, sign_in, sign_out, sign_out_everywhere
from tanpuhui.services.views import methodology_view
from tanpuhui.web.render import (
    LANDING_TTL_S,
    checked_form,
    current,
    handled,
    page,
    redirect,
    web_of,
)
from tanpuhui.web.security import SESSION_COOKIE, set_session_cookie

router = APIRouter()

HOME = {
    PrincipalKind.PERSON: "/me",
    PrincipalKind.USER: "/console",
    PrincipalKind.OPERATOR: "/operator",
    PrincipalKind.GOVERNMENT: "/government",
    PrincipalKind.VERIFIER: "/verifier",
}


@router.get("/")
@handled
async def landing(request: Request) -> Response:
    web = web_of(request)
    ctx = web.app.ctx
    catalogue = current_catalogue(ctx).catalogue
    now = time.monotonic()
    if web.landing is None or now - web.landing[0] > LANDING_TTL_S:
        web.landing = (now, landing_totals(ctx))
    return page(
        request,
        "landing.html",
        totals=web.landing[1],
        k=K_MIN_PERSONS,
        categories=_by_category([methodology_view(m) for m in catalogue.methodologies]),
    )


def _by_category(views: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The catalogue by T/ACEF 031-2022 category (衣 食 住 行 用 办公 数字金融), largest first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for view in views:
        groups.setdefault(view["category"] or "?", []).append(view)
    return sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))


@router.get("/methodologies/{key}")
@handled
async def methodology(request: Request, key: str) -> Response:
    if "@" not in key:
        raise NotFoundError(f"no methodology version {key!r}")
    (found,) = get_methodology(web_of(request).app.ctx, key)
    return page(request, "methodology.html", m=methodology_view(found))


def _kind(raw: str | None) -> PrincipalKind:
    try:
        return PrincipalKind(raw or "person")
    except ValueError:
        raise InvalidInputError("unknown kind of account", code="invalid_kind") from None


@router.get("/signin")
@handled
async def signin_page(
    request: Request, as_: Annotated[str | None, Query(alias="as")] = None
) -> Response:
    return page(request, "signin.html", as_kind=_kind(as_).value)


def _limited(request: Request) -> None:
    address = request.client.host if request.client else "?"
    if not web_of(request).limiter.allow(address):
        raise RateLimitedError("too many sign-in attempts from this address", retry_after_s=60)


@router.post("/signin/request")
@handled
async def signin_request(request: Request) -> Response:
    form = await checked_form(request)
    _limited(request)
    account = str(form.get("account", ""))
    web = web_of(request)
    request_code(web.app.ctx, PrincipalKind.PERSON, account, web.sender)
    return redirect(request, "/signin/code?" + urlencode({"as": "person", "account": account}))


@router.get("/signin/code")
@handled
async def code_page(
    request: Request,
    as_: Annotated[str | None, Query(alias="as")] = None,
    account: str = "",
    code: str = "",
) -> Response:
    return page(request, "code.html", as_kind=_kind(as_).value, account=account, code=code)


@router.post("/signin/code")
@handled
async def signin_code(request: Request) -> Response:
    form = await checked_form(request)
    _limited(request)
    kind = _kind(str(form.get("as", "person")))
    signed = sign_in(
        web_of(request).app.ctx, kind, str(form.get("account", "")), str(form.get("code", ""))
    )
    response = redirect(request, HOME[kind])
    set_session_cookie(request, response, signed.token)
    response.delete_cookie("tph_csrf", path="/")
    return response


@router.post("/signout")
@handled
async def signout(request: Request) -> Response:
    await checked_form(request)
    session = current(request)
    if session is not None:
        sign_out(web_of(request).app.ctx, session)
    response = redirect(request, "/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/signout/everywhere")
@handled
async def signout_everywhere(request: Request) -> Response:
    await checked_form(request)
    session = current(request)
    if session is not None:
        sign_out_everywhere(web_of(request).app.ctx, session)
    response = redirect(request, "/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/demo/codes")
@handled
async def demo_codes(request: Request) -> Response:
    sender = web_of(request).demo_sender
    if sender is None:
        raise NotFoundError("the demo page exists in dev mode only")
    return page(request, "demo_codes.html", codes=sender.recent())
