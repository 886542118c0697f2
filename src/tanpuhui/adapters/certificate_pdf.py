"""A certificate as a one-page PDF (reportlab, embedding the package's CJK TrueType font, so the
Chinese renders without any font installed) with a QR code (segno) of its public verification
address, drawn as vector squares so any renderer shows it sharp. The certificate document
(content and signature) is embedded too, as the PDF's subject metadata, for offline checks."""

from __future__ import annotations

import io
import json
from typing import Any

from tanpuhui.adapters.exports import _font as embedded_font
from tanpuhui.domain.certificates import Certificate, format_grams

KIND_TITLES = {
    "leaderboard": "排行榜证书 Leaderboard certificate",
    "milestone": "里程碑证书 Milestone certificate",
    "retirement": "碳减排量注销证书 Retirement certificate",
}


def verification_url(base_url: str, serial: str) -> str:
    return f"{base_url.rstrip('/')}/verify/{serial}"


def certificate_pdf(cert: Certificate, base_url: str, document: dict[str, Any]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    font, out = embedded_font(), io.BytesIO()
    content, (width, height) = cert.content, A4
    pdf = canvas.Canvas(out, pagesize=A4, pageCompression=1)
    pdf.setTitle(f"碳普惠证书 {cert.serial}")
    pdf.setSubject(json.dumps(document, ensure_ascii=False, sort_keys=True))
    pdf.setLineWidth(2)
    pdf.rect(30, 30, width - 60, height - 60)
    y = height - 110

    def line(text: str, size: int, gap: int = 14) -> None:
        nonlocal y
        pdf.setFont(font, size)
        pdf.drawCentredString(width / 2, y, text)
        y -= size + gap

    line("碳普惠 tanpuhui", 14)
    line(KIND_TITLES[content["kind"]], 22, 30)
    line(content["recipient"], 28, 24)
    line(content["achievement"], 12)
    line(f"减排量 Reduction: {format_grams(content['grams'])}", 14)
    line(f"期间 Period: {content['period']}", 12)
    details = content["details"]
    for key, label in (("beneficiary", "受益方 Beneficiary"), ("purpose", "用途 Purpose")):
        if key in details:
            line(f"{label}: {details[key]}", 12)
    line(f"颁发 Issuer: {content['issuer']}", 11)
    line(f"日期 Issued: {content['issued_at'][:10]}", 11)
    line(f"编号 Serial: {cert.serial}", 12, 20)
    url = verification_url(base_url, cert.serial)
    _qr(pdf, url, width / 2, y - 150, 150)
    y -= 175
    line(f"扫码验证 Verify at {url}", 10)
    pdf.save()
    return out.getvalue()


def _qr(pdf: Any, data: str, centre_x: float, bottom: float, size: float) -> None:
    import segno

    matrix = segno.make(data, error="m", micro=False).matrix
    cell = size / len(matrix)
    left = centre_x - size / 2
    pdf.setFillGray(0)
    for row, bits in enumerate(matrix):
        for col, dark in enumerate(bits):
            if dark:
                top = bottom + size - (row + 1) * cell
                pdf.rect(left + col * cell, top, cell, cell, stroke=0, fill=1)
