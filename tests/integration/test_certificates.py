"""Certificates on a real database (SQLite and PostgreSQL): issued once per award and signed by
the platform key; the PDF parses back (text, Chinese included, and the QR code decoded from the
rendered page); an altered content or signature, an unknown or a mistyped serial is refused;
a retirement certificate is issued in the caller's unit of work."""

from __future__ import annotations

import io
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import pypdf
import pypdfium2
import pytest
import zxingcpp

from tanpuhui.adapters.certificate_pdf import certificate_pdf
from tanpuhui.adapters.crypto import Ed25519Verifier
from tanpuhui.adapters.programme_files import parse_programme
from tanpuhui.bootstrap import App
from tanpuhui.domain.certificates import Certificate, make_serial, read_serial
from tanpuhui.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tanpuhui.domain.leaderboard import BoardKind
from tanpuhui.domain.parties import Role
from tanpuhui.services.certificates import (
    check_signature,
    document,
    issue_leaderboard_certificates,
    issue_milestone_certificates,
    issue_retirement_certificate,
    read_document,
    verify_certificate,
)
from tanpuhui.services.context import retry_races
from tanpuhui.services.intake import submit_events
from tanpuhui.services.leaderboards import board_spec, set_display_name
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject
from tanpuhui.services.programmes import publish_programme
from tests.conftest import NOW
from tests.db_fixtures import rows
from tests.integration.test_leaderboards import DAY, person_with_rides
from tests.integration.test_points import PROGRAMME, _bus

BASE = "https://tanpuhui.example"
SHOTS = Path(__file__).parents[2] / "docs" / "screenshots"


def cyclists(app: App) -> list[uuid.UUID]:
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    people = [person_with_rides(app, bikes, f"u-{i}", 3 - i) for i in range(3)]
    for person, name in zip(people, ("骑行达人", "Second Rider", "Third"), strict=True):
        set_display_name(app.ctx, person, name, opted_in=True)
    return people


def top_two(app: App) -> list[Certificate]:
    spec = board_spec(BoardKind.BEHAVIOUR, "bike_share_ride", None, DAY, DAY)
    return [i.certificate for i in issue_leaderboard_certificates(app.ctx, spec, 2)]


def pdf_text_and_qr(pdf: bytes, keep: Path | None = None) -> tuple[str, list[str]]:
    """The page's text (pypdf) and the QR codes decoded from the page rendered to an image
    (pypdfium2, zxing-cpp); `keep`: where to save the rendered page too."""
    text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    image = pypdfium2.PdfDocument(pdf)[0].render(scale=2).to_pil()
    if keep is not None:
        image.convert("L").save(keep, optimize=True)
    return text, [code.text for code in zxingcpp.read_barcodes(image)]


def test_top_n_certificates_are_issued_once_signed_and_verify(app: App) -> None:
    people = cyclists(app)
    first, second = top_two(app)
    assert (first.content["recipient"], first.content["grams"]) == ("骑行达人", 3 * 319)
    assert first.content["details"] == {
        "board": "behaviour bike_share_ride, 2026-11-17",
        "rank": "1",
    }
    assert second.content["recipient"] == "Second Rider"
    assert read_serial(first.serial).shard == int(first.serial.split("-")[2])
    assert verify_certificate(app.ctx, first.serial) == first
    # no person id anywhere in what is public
    assert not any(str(p) in str(document(app.ctx, first)) for p in people)
    again = issue_leaderboard_certificates(
        app.ctx, board_spec(BoardKind.BEHAVIOUR, "bike_share_ride", None, DAY, DAY), 3
    )
    assert [i.new for i in again] == [False, False, True]  # the third place is new
    assert [i.certificate.serial for i in again[:2]] == [first.serial, second.serial]
    assert rows(app, "select count(*) from certificates")[0][0] == 3


def test_the_pdf_parses_back_with_its_chinese_text_and_its_qr_code(
    app: App, engine_name: str
) -> None:
    """The rendered page is kept as docs/screenshots/certificate-pdf.png (one engine)."""
    cyclists(app)
    first = top_two(app)[0]
    keep = SHOTS / "certificate-pdf.png" if engine_name == "sqlite" else None
    text, codes = pdf_text_and_qr(certificate_pdf(first, BASE, document(app.ctx, first)), keep)
    for shown in (
        "排行榜证书",
        "骑行达人",
        "排行榜第 1 名",
        "957 g CO₂e",
        first.serial,
        "扫码验证",
    ):
        assert shown in text
    assert codes == [f"{BASE}/verify/{first.serial}"]


@pytest.mark.parametrize(
    ("column", "change"),
    [
        ("content", "replace(content, '\"grams\":957', '\"grams\":9570')"),
        ("content", "replace(content, '骑行达人', '冒名顶替')"),
        ("signature", "'A' || substr(signature, 2)"),
    ],
)
def test_an_altered_content_or_signature_is_refused(app: App, column: str, change: str) -> None:
    cyclists(app)
    first = top_two(app)[0]
    with app.engine.begin() as conn:  # around the services, as a tamperer would
        conn.exec_driver_sql(f"UPDATE certificates SET {column} = {change}")
    with pytest.raises(ConflictError) as refused:
        verify_certificate(app.ctx, first.serial)
    assert refused.value.code == "certificate_altered"


def test_unknown_and_mistyped_serials_are_refused(app: App) -> None:
    cyclists(app)
    serial = top_two(app)[0].serial
    mistyped = serial[:-1] + ("0" if serial[-1] != "0" else "1")  # the check character fails
    with pytest.raises(InvalidInputError) as refused:
        verify_certificate(app.ctx, mistyped)
    assert refused.value.code == "invalid_serial"
    parts = read_serial(serial)
    unknown = make_serial(parts.kind, parts.day, parts.shard, 12345)  # well formed, not issued
    with pytest.raises(NotFoundError) as missing:
        verify_certificate(app.ctx, unknown)
    assert missing.value.code == "certificate_not_found"


def test_a_document_verifies_offline_and_an_altered_one_does_not(app: App) -> None:
    cyclists(app)
    first = top_two(app)[0]
    doc = document(app.ctx, first)
    key = app.ctx.log_signer.public_key
    check_signature(Ed25519Verifier(), key, read_document(doc))
    forged = {**doc, "content": {**doc["content"], "grams": 1_000_000}}
    with pytest.raises(ConflictError):
        check_signature(Ed25519Verifier(), key, read_document(forged))
    with pytest.raises(InvalidInputError):
        read_document({"content": {"serial": first.serial}, "signature": doc["signature"]})


def test_a_retirement_certificate_is_issued_in_the_retirements_unit_of_work(app: App) -> None:
    add_enterprise(app.ctx, "Coffee Co", {Role.PLATFORM})
    with app.ctx.uow() as uow:
        cert = issue_retirement_certificate(
            uow, app.ctx, "TPH-RET-000001", "Coffee Co", "Coffee Co Shanghai stores",
            "offsetting 2026 scope 2 emissions", 25_000, "2026", NOW,
        )  # fmt: skip
        again = issue_retirement_certificate(
            uow, app.ctx, "TPH-RET-000001", "Coffee Co", "x", "y", 1, "2026", NOW
        )
        uow.commit()
    assert again == cert  # one certificate per retirement
    found = verify_certificate(app.ctx, cert.serial)
    assert found.content["kind"] == "retirement"
    assert found.content["details"]["beneficiary"] == "Coffee Co Shanghai stores"
    text, codes = pdf_text_and_qr(certificate_pdf(found, BASE, document(app.ctx, found)))
    assert "碳减排量注销证书" in text and "offsetting 2026 scope 2 emissions" in text
    assert codes == [f"{BASE}/verify/{cert.serial}"]
    with app.ctx.uow() as uow, pytest.raises(NotFoundError):
        issue_retirement_certificate(uow, app.ctx, "S", "Nobody", "b", "p", 1, "2026", NOW)


def test_milestone_certificates_go_to_opted_in_people_past_the_milestone(app: App) -> None:
    programme, content = parse_programme(PROGRAMME.read_text(), PROGRAMME.name)
    publish_programme(app.ctx, programme, content)
    bus = add_enterprise(app.ctx, "Luzhou Bus", {Role.SCENE}).id
    people = [add_person(app.ctx).id for _ in range(3)]
    for i, person in enumerate(people):
        bind_subject(app.ctx, bus, f"rider-{i}", person)
        submit_events(app.ctx, bus, [_bus(j, f"rider-{i}") for j in range(3 - i)])
        set_display_name(app.ctx, person, f"Rider {i}", opted_in=i != 1)
    day = (NOW - timedelta(days=1)).date()
    issued = issue_milestone_certificates(app.ctx, "luzhou.lvya", 150, day, day)
    # rider 0 has 3 rides, rider 1 (opted out) 2, rider 2 one of 80 g: below the milestone
    assert [i.certificate.content["recipient"] for i in issued] == ["Rider 0"]
    assert issued[0].certificate.content["kind"] == "milestone"
    assert issue_milestone_certificates(app.ctx, "luzhou.lvya", 150, day, day)[0].new is False
    assert issue_milestone_certificates(app.ctx, "luzhou.lvya", 150, date(2020, 1, 1),
                                        date(2020, 1, 2)) == []  # fmt: skip


def test_a_concurrent_issue_of_the_same_award_yields_one_certificate(app: App) -> None:
    """A second transaction issuing the same retirement's certificate while the first holds
    its row uncommitted waits (PostgreSQL: on the unique key; SQLite: for the writer), loses
    the race, and its retry returns the first one's certificate."""
    add_enterprise(app.ctx, "Coffee Co", {Role.PLATFORM})
    what = ("TPH-RET-000009", "Coffee Co", "Coffee Co", "offsetting", 5_000, "2026", NOW)
    inserted, first = threading.Event(), []

    def hold_open() -> None:
        with app.ctx.uow() as uow:
            first.append(issue_retirement_certificate(uow, app.ctx, *what))
            inserted.set()
            time.sleep(0.5)
            uow.commit()

    holder = threading.Thread(target=hold_open)
    holder.start()
    assert inserted.wait(10)

    def issue() -> Certificate:
        with app.ctx.uow() as uow:
            cert = issue_retirement_certificate(uow, app.ctx, *what)
            uow.commit()
            return cert

    second = retry_races(issue)
    holder.join()
    assert second == first[0]
    assert rows(app, "select count(*) from certificates")[0][0] == 1
