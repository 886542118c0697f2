"""The operator's pages: health (the database, event outcomes, batches waiting for a
verifier), the enterprises, the published methodology and programme versions with a diff
between two versions of one code, the audit trail (filtered by kind or actor; paged), and the
carbon-market exports (create, mark exported or returned, the registry's file)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tanpuhui.domain.audit import KINDS
from tanpuhui.domain.errors import InvalidInputError, NotFoundError
from tanpuhui.domain.mrv import BatchState
from tanpuhui.domain.parties import Role
from tanpuhui.domain.retirement import ExportStatus
from tanpuhui.domain.sign_in import PrincipalKind
from tanpuhui.services.catalogue import current_catalogue
from tanpuhui.services.console_views import (
    audit_trail,
    batch_queue,
    operator_exports,
    programme_versions,
    version_diff,
)
from tanpuhui.services.context import Context
from tanpuhui.services.export import create_export, export_csv, export_file, mark_export
from tanpuhui.services.ledger import outcome_counts
from tanpuhui.services.market_views import programme_view
from tanpuhui.services.pages import parse_seq
from tanpuhui.services.parties import list_enterprises
from tanpuhui.services.views import methodology_view
from tanpuhui.web.render import (
    checked_form,
    finish,
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


@router.get("/operator/exports")
@handled
async def exports(request: Request) -> Response:
    """Carbon-market exports: package a platform enterprise's verified holdings, record the
    registry's answer, download the file for the registry (the operator's, as in the API)."""
    session = require(request, PrincipalKind.OPERATOR)
    if isinstance(session, Response):
        return session
    ctx = web_of(request).app.ctx
    platforms = [e for e in list_enterprises(ctx) if Role.PLATFORM in e.roles]
    return page(request, "exports.html", exports=operator_exports(ctx), platforms=platforms)


@router.post("/operator/exports")
@handled
async def create(request: Request) -> Response:
    form = await checked_form(request)
    session = require(request, PrincipalKind.OPERATOR)
    if isinstance(session, Response):
        return session
    tonnes = form_int(form, "tonnes")
    assert tonnes is not None
    enterprise = parse_uuid(form_text(form, "enterprise", 64))
    create_export(web_of(request).app.ctx, enterprise, tonnes, form_text(form, "registry", 64))
    return redirect(request, "/operator/exports")


@router.post("/operator/exports/{export_id}/mark")
@handled
async def mark(request: Request, export_id: str) -> Response:
    form = await checked_form(request)
    session = require(request, PrincipalKind.OPERATOR)
    if isinstance(session, Response):
        return session
    status = form_text(form, "status", 32)
    if status not in (ExportStatus.EXPORTED.value, ExportStatus.RETURNED.value):
        raise InvalidInputError("mark an export exported or returned", code="invalid_request")
    to = ExportStatus(status)
    reference = form_text(form, "reference", 128) or None
    if to is ExportStatus.EXPORTED and reference is None:
        raise InvalidInputError("an exported attempt needs the registry's reference",
                                code="reference_required")  # fmt: skip
    mark_export(
        web_of(request).app.ctx, parse_uuid(export_id), to,
        reference if to is ExportStatus.EXPORTED else None,
    )  # fmt: skip
    return redirect(request, "/operator/exports")


@router.get("/operator/exports/{export_id}/file.csv")
@handled
async def export_file_csv(request: Request, export_id: str) -> Response:
    session = require(request, PrincipalKind.OPERATOR)
    if isinstance(session, Response):
        return session
    data = export_file(web_of(request).app.ctx, parse_uuid(export_id))
    response = Response(
        export_csv(data),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="export-{data["export"]}.csv"'},
    )
    finish(request, response)
    return response
