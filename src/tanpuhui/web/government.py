"""The government dashboard: the signed-in official's region tree with totals, a year's trend
(SVG), breakdowns by behaviour group, behaviour and enterprise for a month, the monthly
report as PDF and the figures as CSV or XLSX.

Every figure comes from the aggregates service with the official's region as scope, so it is
k-suppressed there and a region outside the official's is refused (403 `out_of_scope`);
every download is recorded in the audit trail like the API's.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from tanpuhui.adapters.exports import report_pdf, stats_csv, stats_xlsx
from tanpuhui.domain.aggregates import parse_period
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.officials import Official
from tanpuhui.domain.sign_in import PrincipalKind
from tanpuhui.services.aggregates import monthly_report, regional_stats
from tanpuhui.services.console_views import government_dashboard
from tanpuhui.services.context import Context
from tanpuhui.services.officials import record_export
from tanpuhui.services.sign_in import official_of
from tanpuhui.web.charts import month_bars
from tanpuhui.web.render import finish, handled, page, require, web_of

router = APIRouter()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BREAKDOWNS = ("region", "group", "behaviour", "enterprise")


def _month(ctx: Context, raw: str) -> str:
    if not raw:
        return ctx.clock.now().astimezone(ctx.tz).strftime("%Y-%m")
    if parse_period(raw).kind != "month":
        raise InvalidInputError(f"not a month (2026-11): {raw!r}", code="invalid_period")
    return raw


def _official(request: Request) -> Official | Response:
    session = require(request, PrincipalKind.GOVERNMENT)
    if isinstance(session, Response):
        return session
    return official_of(web_of(request).app.ctx, session)


@router.get("/government")
@handled
async def dashboard(request: Request, region: str = "", month: str = "") -> Response:
    official = _official(request)
    if isinstance(official, Response):
        return official
    ctx = web_of(request).app.ctx
    view = government_dashboard(ctx, official, region or None, _month(ctx, month))
    # a suppressed month draws as no bar (its figure is not known to this account)
    chart = month_bars(
        [(date.fromisoformat(f"{m}-01"), f.grams or 0) for m, f in view.report.trend]
    )
    return page(request, "government.html", view=view, chart=chart, official=official)


def _file(request: Request, content: bytes, media: str, name: str) -> Response:
    headers = {"content-disposition": f'attachment; filename="{name}"'}
    response = Response(content, media_type=media, headers=headers)
    finish(request, response)
    return response


@router.get("/government/stats.{fmt}")
@handled
async def stats_file(
    request: Request,
    fmt: str,
    month: str = "",
    region: str = "",
    by: Annotated[str, Query(max_length=16)] = "group",
) -> Response:
    official = _official(request)
    if isinstance(official, Response):
        return official
    if fmt not in ("csv", "xlsx") or by not in BREAKDOWNS:
        raise InvalidInputError("a CSV or XLSX file by region, group, behaviour or enterprise")
    ctx = web_of(request).app.ctx
    stats = regional_stats(
        ctx, region=region or official.region, period=_month(ctx, month), by=by,
        scope=official.region,
    )  # fmt: skip
    name = f"stats-{stats.region}-{stats.period}-{by}.{fmt}"
    record_export(ctx, official, name, {"region": stats.region, "period": stats.period, "by": by})
    if fmt == "csv":
        return _file(request, stats_csv(stats), "text/csv; charset=utf-8", name)
    return _file(request, stats_xlsx(stats), XLSX, name)


@router.get("/government/report.pdf")
@handled
async def report(request: Request, month: str = "", region: str = "") -> Response:
    official = _official(request)
    if isinstance(official, Response):
        return official
    ctx = web_of(request).app.ctx
    done = monthly_report(
        ctx, region=region or official.region, month=_month(ctx, month), scope=official.region
    )
    name = f"report-{done.month.region}-{done.month.period}.pdf"
    record_export(ctx, official, name, {"region": done.month.region, "period": done.month.period})
    return _file(request, report_pdf(done), "application/pdf", name)
