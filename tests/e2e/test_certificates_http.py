"""Certificates over real HTTP on both engines: the public look-up and the /verify page (both
languages, the pages' CSP), stable codes for unknown, mistyped and altered serials, the rate
limit, the operator's issuing and the person's display name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tanpuhui.api.certificates import lookup_limiter
from tanpuhui.bootstrap import App
from tanpuhui.domain.certificates import make_serial, read_serial
from tanpuhui.domain.leaderboard import BoardKind
from tanpuhui.domain.officials import OfficialKind
from tanpuhui.domain.parties import Role
from tanpuhui.domain.sign_in import PrincipalKind
from tanpuhui.services.access import issue_person_token
from tanpuhui.services.leaderboards import board_spec, leaderboard
from tanpuhui.services.officials import add_official
from tanpuhui.services.parties import add_enterprise
from tests.integration.test_certificates import cyclists, top_two
from tests.integration.test_leaderboards import DAY, person_with_rides
from tests.pages_world import Pages, client, csrf_of, serve_pages, sign_in

pytestmark = pytest.mark.usefixtures("engine_name")
BOARD = {"kind": "behaviour", "code": "bike_share_ride", "from": "2026-11-17", "to": "2026-11-17"}


@pytest.fixture
def pages(app: App) -> Iterator[Pages]:
    with serve_pages(app) as served:
        yield served


def test_the_public_look_up_and_page_confirm_a_certificate_and_show_nothing_else(
    app: App, pages: Pages
) -> None:
    people = cyclists(app)
    serial = top_two(app)[0].serial
    found = pages.http.get(f"/v1/certificates/{serial}")
    assert found.status_code == 200
    body = found.json()
    assert body["valid"] is True
    assert (body["content"]["serial"], body["content"]["recipient"]) == (serial, "骑行达人")
    assert set(body) == {"valid", "content", "signature", "key", "public_key", "signed"}
    assert not any(str(p) in found.text for p in people)  # no person id
    zh = pages.http.get(f"/verify/{serial}?lang=zh-CN")
    assert zh.status_code == 200
    assert "真实有效" in zh.text and "骑行达人" in zh.text and serial in zh.text
    assert zh.headers["content-security-policy"].startswith("default-src 'self'")
    en = pages.http.get(f"/verify/{serial}?lang=en")
    assert "Genuine" in en.text and "Leaderboard certificate" in en.text
    assert pages.api.state.web.catalogues.missing == set()
    assert not any(str(p) in zh.text + en.text for p in people)


def test_unknown_mistyped_and_altered_serials_get_stable_codes(app: App, pages: Pages) -> None:
    cyclists(app)
    serial = top_two(app)[0].serial
    parts = read_serial(serial)
    unknown = make_serial(parts.kind, parts.day, parts.shard, 1)
    mistyped = serial[:-1] + ("0" if serial[-1] != "0" else "1")
    for path, status, code in (
        (f"/v1/certificates/{unknown}", 404, "certificate_not_found"),
        (f"/v1/certificates/{mistyped}", 422, "invalid_serial"),
        (f"/verify/{unknown}", 404, "certificate_not_found"),
        (f"/verify/{mistyped}", 400, "invalid_serial"),
    ):
        answer = pages.http.get(path)
        assert answer.status_code == status, path
        assert code in answer.text
    with app.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE certificates SET content = replace(content, '957', '958')")
    altered = pages.http.get(f"/v1/certificates/{serial}")
    assert (altered.status_code, altered.json()["code"]) == (409, "certificate_altered")
    assert pages.http.get(f"/verify/{serial}").status_code == 409


def test_public_look_ups_are_rate_limited_per_address(app: App, pages: Pages) -> None:
    cyclists(app)
    serial = top_two(app)[0].serial
    pages.api.state.certificate_lookups = lookup_limiter(per_minute=1, burst=2)
    assert [pages.http.get(f"/v1/certificates/{serial}").status_code for _ in range(2)] == [200] * 2
    refused = pages.http.get(f"/v1/certificates/{serial}")
    assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
    assert pages.http.get(f"/verify/{serial}").status_code == 429


def test_the_operator_issues_certificates_and_a_person_opts_in_over_http(
    app: App, pages: Pages
) -> None:
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    rider = person_with_rides(app, bikes, "u-api", 2)
    token = issue_person_token(app.ctx, rider)
    operator = add_official(app.ctx, OfficialKind.OPERATOR, "Ops").token
    ops = {"authorization": f"Bearer {operator}"}
    me = {"authorization": f"Bearer {token}"}
    assert pages.http.post("/v1/certificates", json={"board": BOARD}).status_code == 401
    assert pages.http.get("/v1/leaderboards", params=BOARD, headers=me).status_code == 401
    chosen = pages.http.put("/v1/me/display-name", json={"display_name": "API Rider"}, headers=me)
    assert chosen.json() == {"display_name": "API Rider", "opted_in": False}  # out by default
    board = pages.http.get("/v1/leaderboards", params=BOARD, headers=ops)
    assert board.status_code == 200 and board.json()["placings"] == []
    pages.http.put("/v1/me/display-name", json={"opted_in": True}, headers=me)
    board = pages.http.get("/v1/leaderboards", params=BOARD, headers=ops).json()
    assert board["placings"] == [{"rank": 1, "display_name": "API Rider", "grams": 638}]
    issued = pages.http.post("/v1/certificates", json={"board": BOARD, "top": 3}, headers=ops)
    assert issued.status_code == 201
    (cert,) = issued.json()["certificates"]
    assert cert["new"] is True and cert["content"]["recipient"] == "API Rider"
    again = pages.http.post("/v1/certificates", json={"board": BOARD, "top": 3}, headers=ops)
    assert again.json()["certificates"][0]["new"] is False
    bad = pages.http.post("/v1/certificates", json={"board": {**BOARD, "to": "x"}}, headers=ops)
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_request")
    bad_name = pages.http.put("/v1/me/display-name", json={"display_name": " "}, headers=me)
    assert (bad_name.status_code, bad_name.json()["code"]) == (422, "invalid_display_name")


def test_a_person_chooses_a_display_name_and_opts_in_on_their_page(app: App, pages: Pages) -> None:
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE})
    rider = person_with_rides(app, bikes, "u-page", 1)
    anonymous = client(pages)
    assert anonymous.get("/me/leaderboard").status_code == 303  # sign in first
    http = pages.http
    sign_in(http, app, PrincipalKind.PERSON, rider)
    assert 'href="/me/leaderboard"' in http.get("/me").text
    form = http.get("/me/leaderboard?lang=en")
    assert "You do not take part" in form.text
    token = csrf_of(form.text)
    wrong = http.post("/me/leaderboard", data={"csrf": "x", "display_name": "Page Rider"})
    assert wrong.status_code == 403
    chosen = http.post(
        "/me/leaderboard", data={"csrf": token, "display_name": "Page Rider", "opted_in": "1"}
    )
    assert (chosen.status_code, chosen.headers["location"]) == (303, "/me/leaderboard")
    shown = http.get("/me/leaderboard?lang=zh-CN").text
    assert "您已参加" in shown and 'value="Page Rider"' in shown
    spec = board_spec(BoardKind.BEHAVIOUR, "bike_share_ride", None, DAY, DAY)
    assert [p.display_name for p in leaderboard(app.ctx, spec, 5).placings] == ["Page Rider"]
    out = http.post("/me/leaderboard", data={"csrf": token, "display_name": "Page Rider"})
    assert out.status_code == 303 and leaderboard(app.ctx, spec, 5).placings == []
    bad = http.post("/me/leaderboard?lang=en", data={"csrf": token, "display_name": " "})
    assert bad.status_code == 400 and "invalid_display_name" in bad.text
    assert pages.api.state.web.catalogues.missing == set()
