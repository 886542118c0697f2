"""The operator's pages: health (the database, event outcomes, batches waiting for a
verifier), the enterprises, the published methodology and programme versions with a diff
between two versions of one code, and the audit trail (filtered by kind or actor)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tanpuhui.domain.audit import KINDS
from tanpuhui.domain.errors import NotFoundError
from tanpuhui.domain.mrv import BatchState
from tanpuhui.domain.sign_in import PrincipalKind
from tanpuhui.services.catalogue import current_catalogue
from tanpuhui.services.console_views import (
    audit_trail,
    batch_queue,
    programme_versions,
    version_diff,
)
from tanpuhui.services.context import Context
from tanpuhui.services.ledger import outcome_counts
from tanpuhui.services.market_views import programme_view
from tanpuhui.services.pages import parse_seq
from tanpuhui.services.parties import list_enterprises
from tanpuhui.services.views import methodology_view
from tanpuhui.web.render import handled, page, paging, require, web_of

router = APIRouter()
AUDIT_ROWS = 200


@router.get("/operator")
@handled
async def operator(request: Request) -> Response:
    session = require(request, PrincipalKind.OPERATOR)
    if isinstance(session, Response):
        return session
    web = web_of(request)
    ctx = web.app.ctx
    methodologies: dict[str, list[str]] = {}
    for m in current_catalogue(ctx).catalogue.methodologies:
        methodologies.setdefault(m.code, []).append(str(m.version))
    return page(
        request,
        "operator.html",
        database=web.app.engine.dialect.name,
        enterprises=list_enterprises(ctx),
        methodologies=sorted(methodologies.items()),
        programmes=sorted(
            (code, [str(p.version) for p in found])
            for code, found in programme_versions(ctx).items()
        ),
        counts=outcome_counts(ctx),
        open_batches=sum(b.state is BatchState.OPEN for b in batch_queue(ctx, 1000).items),
    )


def _versions(ctx: Context, of: str, code: str) -> dict[str, dict[str, Any]]:
    """The published content of every version of one methodology or programme code."""
    if of == "methodology":
        found = current_catalogue(ctx).catalogue.versions(code)
        return {str(m.version): methodology_view(m) for m in found}
    if of == "programme":
        return {str(p.version): programme_view(p) for p in programme_versions(ctx).get(code, [])}
    raise NotFoundError(f"no such kind of version {of!r}")


@router.get("/operator/diff")
@handled
async def diff(
    request: Request, of: str = "", code: str = "", a: str = "", b: str = ""
) -> Response:
    session = require(request, PrincipalKind.OPERATOR)
    if isinstance(session, Response):
        return session
    versions = _versions(web_of(request).app.ctx, of, code)
    if not versions:
        raise NotFoundError(f"no {of} {code!r}")
    keys = list(versions)
    old, new = a or keys[max(0, len(keys) - 2)], b or keys[-1]
    if old not in versions or new not in versions:
        raise NotFoundError(f"no version {old} or {new} of {code}")
    lines = version_diff(versions[old], versions[new], (f"{code}@{old}", f"{code}@{new}"))
    return page(
        request, "diff.html", of=of, code=code, keys=keys, a=old, b=new, lines=lines,
    )  # fmt: skip


@router.get("/operator/audit")
@handled
async def audit(request: Request, kind: str = "", actor: str = "") -> Response:
    """The audit trail, newest first, `AUDIT_ROWS` a page (keyset on the sequence number)."""
    session = require(request, PrincipalKind.OPERATOR)
    if isinstance(session, Response):
        return session
    query = request.query_params
    shown = audit_trail(
        web_of(request).app.ctx,
        kind=kind or None,
        actor=actor.strip() or None,
        limit=AUDIT_ROWS,
        before=parse_seq(query.get("before")),
        after=parse_seq(query.get("after")),
    )
    links = paging(
        request,
        str(shown.older) if shown.older is not None else None,
        str(shown.newer) if shown.newer is not None else None,
        shown.first,
    )
    return page(
        request, "audit.html", records=shown.items, kinds=KINDS, kind=kind, actor=actor,
        paging=links,
    )  # fmt: skip
