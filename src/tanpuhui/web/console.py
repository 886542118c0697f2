"""The scene-enterprise console: credentials (create, rotate, revoke — the private key is shown
once and never stored), intake statistics, rejected events by reason with examples, and an
outcome search by event id. The enterprise is the signed-in user's; a credential of another
enterprise is not found."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tanpuhui.adapters.crypto import generate_key, private_pem, public_raw
from tanpuhui.domain.errors import NotFoundError
from tanpuhui.domain.parties import Credential
from tanpuhui.domain.sign_in import PrincipalKind, Session
from tanpuhui.services.access import (
    list_credentials,
    register_credential,
    revoke_credential,
    rotate_credential,
)
from tanpuhui.services.context import Context
from tanpuhui.services.pages import enterprise_console, find_outcome
from tanpuhui.services.parties import resolve_enterprise
from tanpuhui.web.render import checked_form, handled, page, parse_uuid, redirect, require, web_of

router = APIRouter()
ROTATION_GRACE = timedelta(hours=24)


def _enterprise(session: Session) -> uuid.UUID:
    assert session.principal.enterprise_id is not None  # a user's session names its enterprise
    return session.principal.enterprise_id


def _own(ctx: Context, enterprise_id: uuid.UUID, raw: str) -> Credential:
    wanted = parse_uuid(raw)
    for credential in list_credentials(ctx, enterprise_id):
        if credential.id == wanted:
            return credential
    raise NotFoundError(f"no credential {raw}")


@router.get("/console")
@handled
async def console(request: Request, event_id: str = "") -> Response:
    session = require(request, PrincipalKind.USER)
    if isinstance(session, Response):
        return session
    ctx = web_of(request).app.ctx
    enterprise_id = _enterprise(session)
    if not resolve_enterprise(ctx, str(enterprise_id)).is_scene:
        return redirect(request, "/platform")  # a platform enterprise reports no behaviours
    now = ctx.wall_clock.now()
    credentials = [(c, c.status(now)) for c in list_credentials(ctx, enterprise_id)]
    outcome = find_outcome(ctx, enterprise_id, event_id) if event_id.strip() else None
    return page(
        request,
        "console.html",
        view=enterprise_console(ctx, enterprise_id),
        credentials=credentials,
        event_id=event_id,
        outcome=outcome,
    )


@router.post("/console/credentials")
@handled
async def create(request: Request) -> Response:
    form = await checked_form(request)
    session = require(request, PrincipalKind.USER)
    if isinstance(session, Response):
        return session
    key = generate_key()
    label = str(form.get("label", "")).strip()[:100]
    enterprise = _enterprise(session)
    credential = register_credential(
        web_of(request).app.ctx,
        enterprise,
        public_raw(key),
        label,
        actor=f"enterprise:{enterprise}",
    )
    return page(request, "secret.html", credential=credential, pem=private_pem(key))


@router.post("/console/credentials/{credential_id}/rotate")
@handled
async def rotate(request: Request, credential_id: str) -> Response:
    await checked_form(request)
    session = require(request, PrincipalKind.USER)
    if isinstance(session, Response):
        return session
    ctx = web_of(request).app.ctx
    old = _own(ctx, _enterprise(session), credential_id)
    key = generate_key()
    actor = f"enterprise:{old.enterprise_id}"
    _, new = rotate_credential(ctx, old.id, public_raw(key), ROTATION_GRACE, actor=actor)
    return page(request, "secret.html", credential=new, pem=private_pem(key), rotated=old)


@router.post("/console/credentials/{credential_id}/revoke")
@handled
async def revoke(request: Request, credential_id: str) -> Response:
    await checked_form(request)
    session = require(request, PrincipalKind.USER)
    if isinstance(session, Response):
        return session
    ctx = web_of(request).app.ctx
    enterprise = _enterprise(session)
    own = _own(ctx, enterprise, credential_id)
    revoke_credential(ctx, own.id, actor=f"enterprise:{enterprise}")
    return redirect(request, "/console#credentials")
