"""A person's leaderboard page `/me/leaderboard`: choose the display name shown on leaderboards
and certificates, and opt in or out (default out; services/leaderboards.py); once in, where
they stand this month on the board of each behaviour they did. Signed in as the
person; the form carries the CSRF token like every form."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tanpuhui.domain.leaderboard import MAX_TOP
from tanpuhui.domain.sign_in import PrincipalKind
from tanpuhui.services.leaderboards import find_display_name, set_display_name
from tanpuhui.services.pages import board_positions
from tanpuhui.web.render import checked_form, handled, page, redirect, require, web_of

router = APIRouter()


@router.get("/me/leaderboard")
@handled
async def show(request: Request) -> Response:
    session = require(request, PrincipalKind.PERSON)
    if isinstance(session, Response):
        return session
    ctx = web_of(request).app.ctx
    chosen = find_display_name(ctx, session.principal.id)
    positions = board_positions(ctx, session.principal.id)
    return page(request, "display_name.html", chosen=chosen, positions=positions, top=MAX_TOP)


@router.post("/me/leaderboard")
@handled
async def choose(request: Request) -> Response:
    form = await checked_form(request)
    session = require(request, PrincipalKind.PERSON)
    if isinstance(session, Response):
        return session
    name, opted_in = str(form.get("display_name", "")), form.get("opted_in") == "1"
    set_display_name(web_of(request).app.ctx, session.principal.id, name, opted_in)
    return redirect(request, "/me/leaderboard")
