"""Government accounts over real HTTP, on SQLite and PostgreSQL (issue 12 item 3): a Shenzhen
(440300) account sees Shenzhen and the districts in it, gets 403 for Beijing (110000) and 404
for a code that does not exist, never a person-level row; exports as CSV, XLSX and the
monthly PDF report with its Chinese text embedded."""

from __future__ import annotations

import csv
import io
import uuid

import pypdf
from openpyxl import load_workbook

from tanpuhui.adapters.crypto import sign
from tanpuhui.domain.mrv import canonical, signed_bytes
from tanpuhui.domain.officials import OfficialKind
from tanpuhui.services.intake import submit_events
from tanpuhui.services.mrv import create_batch
from tanpuhui.services.officials import add_official
from tanpuhui.services.parties import add_persons, bind_subjects
from tests.api.conftest import LiveServer, Onboarded, assert_no_leak, assert_problem, onboard_person
from tests.builders import event
from tests.conftest import CST, NOW
from tests.db_fixtures import rows
from tests.mrv_signing import new_verifier

MONTH = NOW.astimezone(CST).strftime("%Y-%m")


def _rides(server: LiveServer, bikes: Onboarded, region: str, prefix: str, n: int) -> int:
    enterprise = bikes.enterprise.id
    subjects = [f"{prefix}-{i}" for i in range(n)]
    persons = add_persons(server.ctx, n)
    bind_subjects(
        server.ctx, [(enterprise, s, p.id) for s, p in zip(subjects, persons, strict=True)]
    )
    events = [event(subject=s, region=region, event_id=f"{s}-r") for s in subjects]
    return sum(o.grams for o in submit_events(server.ctx, enterprise, events))


def _shenzhen(server: LiveServer) -> dict[str, str]:
    token = add_official(server.ctx, OfficialKind.GOVERNMENT, "深圳市", "440300").token
    return {"Authorization": f"Bearer {token}"}


def test_a_city_account_sees_its_city_and_districts_only(
    server: LiveServer, bikes: Onboarded
) -> None:
    nanshan = _rides(server, bikes, "440305", "n", 12)
    _rides(server, bikes, "110101", "b", 12)
    auth = _shenzhen(server)

    own = server.http.get("/v1/government/stats", params={"period": MONTH}, headers=auth)
    assert own.status_code == 200, own.text
    body = own.json()
    assert (body["region"], body["grams"], body["persons"]) == ("440300", nanshan, 12)
    district = server.http.get(
        "/v1/government/stats",
        params={"period": MONTH, "region": "440305", "by": "group"},
        headers=auth,
    ).json()
    assert district["grams"] == nanshan
    assert [r["key"] for r in district["rows"]] == ["mobility"]

    for region in ("110000", "110101", "440000"):  # Beijing; Guangdong contains Shenzhen
        refused = server.http.get(
            "/v1/government/stats", params={"period": MONTH, "region": region}, headers=auth
        )
        assert_problem(refused, 403, "out_of_scope")
    national = server.http.get(
        "/v1/government/stats", params={"period": MONTH, "by": "region"}, headers=auth
    ).json()
    assert national["region"] == "440300"  # no region: its own, never the nation
    unknown = server.http.get(
        "/v1/government/stats", params={"period": MONTH, "region": "449999"}, headers=auth
    )
    assert_problem(unknown, 404, "unknown_region")
    bad = server.http.get("/v1/government/stats", params={"period": "11/2026"}, headers=auth)
    assert bad.status_code == 422
    assert_no_leak(bad)


def test_no_person_level_row_reaches_a_government_account(
    server: LiveServer, bikes: Onboarded
) -> None:
    _rides(server, bikes, "440305", "n", 3)
    auth = _shenzhen(server)
    small = server.http.get(
        "/v1/government/stats",
        params={"period": MONTH, "region": "440305", "by": "behaviour"},
        headers=auth,
    ).json()
    assert (small["grams"], small["persons"]) == (None, None)
    assert all(r["grams"] is None for r in small["rows"])
    text = str(small)
    assert "person:" not in text and "n-0" not in text
    # the person and enterprise endpoints do not take a government token
    person_only = server.http.post("/v1/me/binding-codes", headers=auth)
    assert_problem(person_only, 401, "invalid_token")
    enterprise_only = server.http.get("/v1/outcomes", headers=auth)
    assert enterprise_only.status_code == 401
    # nor do the government endpoints take a person's
    persona = onboard_person(server)
    refused = server.http.get(
        "/v1/government/stats", params={"period": MONTH}, headers=persona.auth
    )
    assert_problem(refused, 401, "invalid_token")
    anonymous = server.http.get("/v1/government/stats", params={"period": MONTH})
    assert_problem(anonymous, 401, "invalid_token")


def test_exports_carry_the_same_suppressed_figures(server: LiveServer, bikes: Onboarded) -> None:
    nanshan = _rides(server, bikes, "440305", "n", 12)
    _rides(server, bikes, "440304", "f", 3)  # Futian: below k
    auth = _shenzhen(server)
    params = {"period": MONTH, "by": "region"}

    text = server.http.get("/v1/government/stats.csv", params=params, headers=auth)
    assert text.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(text.content.decode("utf-8-sig"))))
    by_key = {line[0]: line for line in lines[2:]}
    assert by_key["total"][2] == str(nanshan + by_key_grams(server, "440304"))
    assert by_key["440304"][2] == ""  # suppressed
    assert by_key["440305"][2] == ""  # … and its complement, or Futian = total − Nanshan

    book = server.http.get("/v1/government/stats.xlsx", params=params, headers=auth)
    sheet = load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None
    cells = {row[0]: row for row in sheet.iter_rows(min_row=3, values_only=True)}
    assert cells["total"][2] == int(by_key["total"][2])
    assert cells["440304"][2] is None


def by_key_grams(server: LiveServer, region: str) -> int:
    from tanpuhui.services.aggregates import regional_stats

    grams = regional_stats(server.ctx, region=region, period=MONTH, min_persons=1).total.grams
    assert grams is not None
    return grams


def test_the_monthly_report_is_a_pdf_with_its_chinese_text(
    server: LiveServer, bikes: Onboarded
) -> None:
    _rides(server, bikes, "440305", "n", 12)
    auth = _shenzhen(server)
    response = server.http.get("/v1/government/report.pdf", params={"month": MONTH}, headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    text = "".join(page.extract_text() for page in reader.pages)
    for expected in ("深圳市", "碳普惠月报", "南山区", "Bikes", MONTH, "Low-carbon mobility"):
        assert expected in text, expected
    fonts = [
        f.get_object()
        for page in reader.pages
        for f in page["/Resources"]["/Font"].values()  # type: ignore[index]
    ]
    embedded = [f for f in fonts if "WenQuanYi" in str(f["/BaseFont"])]
    assert embedded and all(f["/Subtype"] == "/TrueType" for f in embedded)
    # embedded TrueType (FontFile2), not a CID font the reader must have installed
    assert all("/FontFile2" in f["/FontDescriptor"].get_object() for f in embedded)
    other = add_official(server.ctx, OfficialKind.GOVERNMENT, f"北京-{uuid.uuid4()}", "110000")
    refused = server.http.get(
        "/v1/government/report.pdf",
        params={"month": MONTH, "region": "440300"},
        headers={"Authorization": f"Bearer {other.token}"},
    )
    assert_problem(refused, 403, "out_of_scope")


def test_a_verifier_reviews_a_batch_over_http(server: LiveServer, bikes: Onboarded) -> None:
    _rides(server, bikes, "440305", "n", 6)
    ((methodology,),) = rows(
        server.app,
        "select distinct m.code || '@' || m.version from events e"
        " join methodology_versions m on m.id = e.methodology_id where e.grams > 0",
    )
    batch = create_batch(server.ctx, methodology, "440300", MONTH)
    cqc = new_verifier(server.ctx)
    auth = {"Authorization": f"Bearer {cqc.token}"}
    path = f"/v1/mrv/batches/{batch.id}"

    def signed(action: str, **fields: object) -> dict[str, str]:
        """What a client does: the statement of the batch as GET shows it, signed."""
        shown = server.http.get(path, headers=auth).json()
        text = canonical({
            "v": 1, "batch": str(batch.id), "action": action, "actor": cqc.official.actor,
            "at": server.ctx.wall_clock.now().isoformat(),
            "report_sha256": shown["report_sha256"], "members_sha256": shown["members_sha256"],
            **fields,
        })  # fmt: skip
        return {"statement": text, "signature": sign(cqc.key, signed_bytes(text))}

    shown = server.http.get(path, headers=auth).json()
    assert (shown["state"], shown["report"]["reductions"]) == ("open", 6)
    draws = [
        server.http.post(f"{path}/sample", json=signed("sample", seed=3, size=4), headers=auth)
        for _ in range(2)
    ]
    assert draws[0].json() == draws[1].json() and len(draws[0].json()["sample"]) == 4
    assert_problem(server.http.get(path, headers=_shenzhen(server)), 401, "invalid_token")
    unsigned = server.http.post(f"{path}/approve", json={"comment": "ok"}, headers=auth)
    assert_problem(unsigned, 422, "invalid_request")
    body = signed("approve", comment="ok")
    tampered = {**body, "statement": body["statement"].replace('"ok"', '"OK"')}
    assert_problem(server.http.post(f"{path}/approve", json=tampered, headers=auth), 401,
                   "invalid_signature")  # fmt: skip
    approved = server.http.post(f"{path}/approve", json=body, headers=auth)
    assert approved.json()["verification"] == {"verified": 6}
    assert approved.json()["signatures"]["valid"] is True
    assert [s["action"] for s in approved.json()["statements"]] == [
        "create", "sample", "sample", "approve",
    ]  # fmt: skip
    again = server.http.post(f"{path}/reject", json=signed("reject", comment="no"), headers=auth)
    assert_problem(again, 409, "batch_decided")
    missing = server.http.get(f"/v1/mrv/batches/{uuid.uuid4()}", headers=auth)
    assert_problem(missing, 404, "unknown_batch")


def test_the_operator_creates_a_scene_enterprise_batch_over_http(
    server: LiveServer, bikes: Onboarded
) -> None:
    grams = _rides(server, bikes, "440305", "e", 4)
    operator = add_official(server.ctx, OfficialKind.OPERATOR, "ops").token
    auth = {"Authorization": f"Bearer {operator}"}
    body = {"month": MONTH, "enterprise": str(bikes.enterprise.id)}
    made = server.http.post("/v1/mrv/batches", json=body, headers=auth)
    assert made.status_code == 201, made.text
    shown = made.json()
    assert (shown["enterprise"], shown["report"]["grams"]) == (str(bikes.enterprise.id), grams)
    assert [s["actor"] for s in shown["statements"]] == ["platform"]
    assert shown["signatures"]["valid"] is True
    assert_problem(server.http.post("/v1/mrv/batches", json=body, headers=auth), 422,
                   "empty_batch")  # fmt: skip
    both = {**body, "methodology": "bike_share.wuhan@1"}
    assert_problem(server.http.post("/v1/mrv/batches", json=both, headers=auth), 422,
                   "invalid_batch")  # fmt: skip
    assert_problem(server.http.post("/v1/mrv/batches", json=body, headers=_shenzhen(server)),
                   401, "invalid_token")  # fmt: skip
    verifier = new_verifier(server.ctx).token
    refused = server.http.post(
        "/v1/mrv/batches", json=body, headers={"Authorization": f"Bearer {verifier}"}
    )
    assert_problem(refused, 401, "invalid_token")
