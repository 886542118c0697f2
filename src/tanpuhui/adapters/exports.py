"""Government exports of regional aggregates: CSV, XLSX (openpyxl) and the monthly report as
PDF (reportlab, embedding the package's CJK TrueType font so the Chinese text renders in any
reader). Each renders figures the service already suppressed: nothing here sees a person."""

from __future__ import annotations

import csv
import importlib.resources
import io
from functools import cache

from tanpuhui.domain.aggregates import Figures
from tanpuhui.services.aggregates import MonthlyReport, RegionalStats

HEADER = ("key", "label", "grams", "events", "persons")
FONT = "TanpuhuiSans"


def _lines(stats: RegionalStats) -> list[tuple[str, str, int | None, int | None, int | None]]:
    total = ("total", stats.region_name, *stats.total)
    return [total, *((r.key, r.label, *r.figures) for r in stats.rows)]


def stats_csv(stats: RegionalStats) -> bytes:
    """UTF-8 with a BOM (spreadsheets open Chinese text right); suppressed cells empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["region", stats.region or "", "period", stats.period, "k", stats.min_persons])
    writer.writerow([*HEADER[:1], stats.by or "", *HEADER[2:]] if stats.by else HEADER)
    for line in _lines(stats):
        writer.writerow(["" if v is None else v for v in line])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def stats_xlsx(stats: RegionalStats) -> bytes:
    from openpyxl import Workbook  # imported when used: a heavy import most commands skip

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = stats.period
    sheet.append(
        ["region", stats.region or "national", "period", stats.period, "k", stats.min_persons]
    )
    sheet.append(list(HEADER))
    for line in _lines(stats):
        sheet.append(list(line))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@cache
def _font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    path = importlib.resources.files("tanpuhui") / "data" / "fonts" / "tanpuhui-sans.ttf"
    with importlib.resources.as_file(path) as file:
        pdfmetrics.registerFont(TTFont(FONT, str(file)))
    return FONT


def _fmt(f: Figures) -> str:
    if f.grams is None:
        return "— (少于 k 人，不显示)"
    return f"{f.grams / 1000:,.1f} kg CO₂e · {f.events} 次 · {f.persons} 人"


def report_pdf(report: MonthlyReport) -> bytes:
    """The monthly report: totals, a twelve-month trend, by behaviour group, by city/county,
    the top scene enterprises."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    font, out = _font(), io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4, pageCompression=1)
    month = report.month
    pdf.setTitle(f"{month.region_name} {month.period} 碳普惠月报")
    y = A4[1] - 60

    def line(text: str, size: int = 10, indent: int = 0) -> None:
        nonlocal y
        if y < 60:
            pdf.showPage()
            y = A4[1] - 60
        pdf.setFont(font, size)
        pdf.drawString(50 + indent, y, text)
        y -= size + 6

    line(f"{month.region_name}（{month.region or '全国'}）{month.period} 碳普惠月报", 16)
    line(f"合计 Total: {_fmt(month.total)}    k = {month.min_persons}", 11)
    line("趋势 Trend (12 months)", 12)
    peak = max((f.grams or 0 for _, f in report.trend), default=0) or 1
    for period, f in report.trend:
        pdf.setFillGray(0.6)
        pdf.rect(150, y - 2, 300 * (f.grams or 0) / peak, 9, stroke=0, fill=1)
        pdf.setFillGray(0)
        line(f"{period}  {_fmt(f)}", 9, 0)
    for title, rows in (
        ("按行为类别 By behaviour group", month.rows),
        ("按市/区县 By city / county", report.regions.rows if report.regions else []),
        ("主要场景企业 Top scene enterprises", report.enterprises),
    ):
        line(title, 12)
        for r in rows:
            line(f"{r.key}  {r.label}: {_fmt(r.figures)}", 9, 10)
    pdf.save()
    return out.getvalue()
