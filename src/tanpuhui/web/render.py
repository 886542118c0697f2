"""Rendering the pages: the Jinja environment, the context every page gets (translator,
language links, CSRF token, who is signed in), the response headers, and errors as pages.

Every page says `Content-Security-Policy: default-src 'self'` (no other host can be reached
from it), `Cache-Control: no-store` (pages are per visitor), and refuses to be framed. Errors
of the service layer become a page with the error's stable code and a translated message,
with the HTTP status the API would give; a wrong CSRF token is 403 `csrf_failed`.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ParamSpec
from urllib.parse import urlencode

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tanpuhui.adapters.certificate_pdf import certificate_pdf
from tanpuhui.adapters.code_senders import ConsoleCodeSender
from tanpuhui.bootstrap import App
from tanpuhui.domain.certificates import Certificate
from tanpuhui.domain.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    LedgerError,
    MarketError,
    NotFoundError,
    RateLimitedError,
    TanpuhuiError,
)
from tanpuhui.domain.sign_in import PrincipalKind, Session
from tanpuhui.services.certificates import document
from tanpuhui.services.sign_in import CodeSender, session_of
from tanpuhui.web import i18n
from tanpuhui.web.security import (
    SESSION_COOKIE,
    AddressLimiter,
    CsrfError,
    csrf_token,
    set_cookies,
)
from tanpuhui.web.security import checked_form as _checked_form

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
FONTS_DIR = HERE.parent / "data" / "fonts"
POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
P = ParamSpec("P")
LANDING_TTL_S = 30.0


@dataclass
class Web:
    app: App
    sender: CodeSender
    demo_sender: ConsoleCodeSender | None
    catalogues: i18n.Catalogues = field(default_factory=i18n.Catalogues)
    limiter: AddressLimiter = field(default_factory=AddressLimiter)
    #: the landing page's totals, recomputed at most every `LANDING_TTL_S` (they count persons
    #: per region over the events: not a query for every visitor)
    landing: tuple[float, Any] | None = None
    env: jinja2.Environment = field(init=False)

    def __post_init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        tz = self.app.ctx.tz
        self.env.filters["local"] = lambda at: at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        self.env.filters["grams"] = lambda g: f"{int(g):,}"
        self.env.filters["kg"] = lambda g: f"{Decimal(int(g)) / 1000:,.3f}"


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def current(request: Request) -> Session | None:
    """The signed-in session of this request (looked up once)."""
    memo: dict[str, Any] = request.scope.setdefault("tanpuhui.web", {})
    if "session" not in memo:
        memo["session"] = session_of(web_of(request).app.ctx, request.cookies.get(SESSION_COOKIE))
    session: Session | None = memo["session"]
    return session


async def checked_form(request: Request) -> FormData:
    """The only way a page route reads a form: refused (403) without the right CSRF token."""
    return await _checked_form(request, current(request) is not None)


def language(request: Request) -> str:
    return i18n.choose_language(
        request.query_params.get("lang"),
        request.cookies.get(i18n.COOKIE),
        request.headers.get("accept-language"),
    )


def lang_url(request: Request, lang: str) -> str:
    query = {k: v for k, v in request.query_params.items() if k != "lang"} | {"lang": lang}
    return f"{request.url.path}?{urlencode(query)}"


def page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    web = web_of(request)
    lang = language(request)
    session = current(request)
    context = {
        "_": web.catalogues.translator(lang),
        "lang": lang,
        "lang_urls": {code: lang_url(request, code) for code in i18n.LANGUAGES},
        "csrf": csrf_token(request, session is not None),
        "session": session,
        "kind": session.principal.kind.value if session else None,
        "demo": web.demo_sender is not None,
        **values,
    }
    html = web.env.get_template(template).render(context)
    response = HTMLResponse(html, status_code=status)
    finish(request, response, lang)
    return response


def finish(request: Request, response: Response, lang: str | None = None) -> None:
    lang = lang or language(request)
    if request.cookies.get(i18n.COOKIE) != lang:
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax", path="/")
    set_cookies(request, response)
    response.headers["content-security-policy"] = POLICY
    response.headers["cache-control"] = "no-store"
    response.headers["x-frame-options"] = "DENY"
    response.headers["referrer-policy"] = "same-origin"


def pdf_response(request: Request, cert: Certificate) -> Response:
    """A certificate as its PDF download (rendered by adapters/certificate_pdf.py)."""
    ctx = web_of(request).app.ctx
    pdf = certificate_pdf(cert, web_of(request).app.settings.public_base_url, document(ctx, cert))
    response = Response(
        pdf,
        media_type="application/pdf",
        headers={"content-disposition": f'attachment; filename="{cert.serial}.pdf"'},
    )
    finish(request, response)
    return response


def redirect(request: Request, to: str) -> RedirectResponse:
    response = RedirectResponse(to, status_code=303)
    finish(request, response)
    return response


def status_of(exc: TanpuhuiError) -> int:
    for kind, status in (
        (AuthenticationError, 401), (ForbiddenError, 403), (NotFoundError, 404),
        (ConflictError, 409), (LedgerError, 409), (MarketError, 409), (RateLimitedError, 429),
        (InvalidInputError, 400),
    ):  # fmt: skip
        if isinstance(exc, kind):
            return status
    return 400 if exc.code.startswith("invalid") else 503


def handled(
    route: Callable[P, Awaitable[Response]],
) -> Callable[P, Awaitable[Response]]:
    """Errors of a page route become an error page (never a traceback or problem JSON)."""

    @functools.wraps(route)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        request = next(a for a in (*args, *kwargs.values()) if isinstance(a, Request))
        started = time.perf_counter()
        try:
            response = await route(*args, **kwargs)
        except CsrfError:
            response = page(request, "error.html", 403, code="csrf_failed")
        except TanpuhuiError as exc:
            response = page(request, "error.html", status_of(exc), code=exc.code)
        # the page's own time (services, queries, template), read by `tanpuhui bench pages`
        response.headers["server-timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
        return response

    return wrapper


def require(request: Request, kind: PrincipalKind) -> Session | RedirectResponse:
    """The session when a principal of `kind` is signed in, else a redirect to sign in."""
    session = current(request)
    if session is None or session.principal.kind is not kind:
        return redirect(request, f"/signin?{urlencode({'as': kind.value})}")
    return session


def paging(request: Request, older: str | None, newer: str | None, first: bool) -> dict[str, Any]:
    """The links of a paged list (`pager.html`): the same page's address with `before=`
    (older) or `after=` (newer) set to a cursor, and the first page's."""
    base = {k: v for k, v in request.query_params.items() if k not in ("before", "after")}

    def link(**cursor: str) -> str:
        query = urlencode(base | cursor)
        return f"{request.url.path}?{query}" if query else request.url.path

    return {
        "older": link(before=older) if older is not None else None,
        "newer": link(after=newer) if newer is not None else None,
        "newest": None if first else link(),
    }


def form_text(form: FormData, name: str, limit: int = 200) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def form_int(form: FormData, name: str, *, optional: bool = False) -> int | None:
    """A whole number of a form (grams, points, minutes); bad input is `invalid_number`."""
    raw = form_text(form, name, 20).replace(",", "")
    if not raw and optional:
        return None
    if not raw.isdigit():
        raise InvalidInputError(f"{name} must be a whole number", code="invalid_number")
    return int(raw)


def parse_uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFoundError(f"no such id {raw!r}") from None
