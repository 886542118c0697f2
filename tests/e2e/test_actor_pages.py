"""The other actors' pages over real HTTP on both engines (issue 14 items 3-8): the person's
sales and points, the platform console, the government dashboard (scoped to the official's
region), the verifier queue and the operator's pages; signing in as an official, CSRF on every
new form, each actor's pages closed to the others, and both languages on every new page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tanpuhui.bootstrap import App
from tanpuhui.domain.parties import Role
from tanpuhui.domain.sign_in import PrincipalKind
from tanpuhui.services.certificates import verify_certificate
from tanpuhui.services.mrv import create_batch
from tanpuhui.services.parties import add_enterprise
from tanpuhui.services.sign_in import add_web_user, issue_code
from tanpuhui.web import display_names, market, operator, person, platform, verifier
from tests.db_fixtures import rows
from tests.pages_world import (
    MONTH,
    Actors,
    Pages,
    World,
    add_actors,
    award_certificate,
    build_world,
    client,
    csrf_of,
    serve_pages,
    sign_in,
)
from tests.retirement_world import bought_world

pytestmark = pytest.mark.usefixtures("engine_name")
REDUCTION = re.compile(r'href="/me/reductions/([0-9a-f-]{36})">')
BATCH = re.compile(r'href="/verifier/batches/([0-9a-f-]{36})"')
SEQ = re.compile(r'<td class="n">(\d+)</td>')


@pytest.fixture
def world(app: App) -> World:
    return build_world(app)


@pytest.fixture
def pages(app: App, world: World) -> Iterator[Pages]:
    with serve_pages(app) as served:
        yield served


def _visitor(pages: Pages) -> httpx.Client:
    return client(pages)


@pytest.fixture
def actors(world: World) -> Actors:
    return add_actors(world)


def _balance(app: App, account: str, asset: str) -> int:
    found = rows(
        app,
        "select sum(amount) from balances where account = :a and asset = :s",
        a=account,
        s=asset,
    )
    return int(found[0][0] or 0)


def test_a_person_sells_to_an_offer_and_sees_points_history_and_redeems_them(
    pages: Pages, app: App, world: World, actors: Actors
) -> None:
    http = pages.http
    sign_in(http, app, PrincipalKind.PERSON, world.alice)
    market = http.get("/me/market?lang=en")
    assert "绿色商城" in market.text and "100 points per kg" in market.text
    form = {
        "csrf": csrf_of(market.text), "offer": str(actors.points_offer), "grams": "500",
        "request": "sell-1",
    }  # fmt: skip
    sold = http.post("/me/sales", data=form)
    assert sold.status_code == 200 and 'id="sale-status">Sold<' in sold.text
    assert 'id="sale-grams">500<' in sold.text and "50 points of luzhou.lvya" in sold.text
    again = http.post("/me/sales", data=form)  # the same form posted twice sells once
    assert again.status_code == 200
    assert _balance(app, f"person:{world.alice}", "points:luzhou.lvya") == 50
    page = http.get("/me/market?lang=en").text
    points = page.split('id="points"')[1]
    assert "<strong>50</strong>" in points and "+50" in points
    redeemed = http.post(
        "/me/redemptions",
        data={
            "csrf": csrf_of(page), "merchant": str(actors.bus), "programme": "luzhou.lvya",
            "points": "20", "request": "r-1",
        },
    )  # fmt: skip
    assert redeemed.status_code == 303
    assert _balance(app, f"person:{world.alice}", "points:luzhou.lvya") == 30
    assert "-20" in http.get("/me/market").text.split('id="points"')[1]


def test_a_sale_above_what_the_person_holds_is_refused_with_a_page(
    pages: Pages, app: App, world: World, actors: Actors
) -> None:
    """Before: every market or ledger refusal (and any invalid-input code not spelled
    `invalid_*`) became a 503 page; now 409 and 400 like the API."""
    sign_in(pages.http, app, PrincipalKind.PERSON, world.bob)
    csrf = csrf_of(pages.http.get("/me/market").text)
    for grams, code in (("9999999", "insufficient_balance"), ("lots", "invalid_number")):
        answer = pages.http.post(
            "/me/sales", data={"csrf": csrf, "offer": str(actors.points_offer), "grams": grams}
        )
        assert answer.status_code in (409, 400) and code in answer.text, answer.text
        assert "Traceback" not in answer.text
    assert rows(app, "select count(*) from sales")[0][0] == 0


def test_a_hold_is_confirmed_in_the_platform_console_and_its_lineage_shown(
    pages: Pages, app: App, world: World, actors: Actors
) -> None:
    person, shop = _visitor(pages), _visitor(pages)
    sign_in(person, app, PrincipalKind.PERSON, world.alice)
    sold = person.post(
        "/me/sales",
        data={
            "csrf": csrf_of(person.get("/me/market").text), "offer": str(actors.hold_offer),
            "grams": "300",
        },
    )  # fmt: skip
    assert "待确认" in sold.text and "C-1" in sold.text
    assert "300" in person.get("/me/market").text.split('id="holds"')[1].split("</section>")[0]
    sign_in(shop, app, PrincipalKind.USER, actors.shop_user)
    assert shop.get("/console").headers["location"] == "/platform"  # no scene console to show
    console = shop.get("/platform")
    (sale_id,) = {
        line.split("/platform/sales/")[1].split("/")[0]
        for line in console.text.splitlines()
        if "/platform/sales/" in line
    }
    done = shop.post(f"/platform/sales/{sale_id}/confirm", data={"csrf": csrf_of(console.text)})
    assert done.status_code == 303
    after = shop.get("/platform?lang=en").text
    assert "Confirmed" in after.split('id="sales"')[1]
    holdings = after.split('id="holdings"')[1].split("</section>")[0]
    lots = [str(uuid.UUID(str(r[0]))) for r in rows(app, "select reduction_id from sale_lots")]
    assert lots and all(lot in holdings for lot in lots)  # each gram names its reduction
    held = rows(app, "select asset, amount from balances where account = :a",
                a=f"enterprise:{actors.shop}")  # fmt: skip
    assert sum(r.amount for r in held if r.asset.startswith("co2e:")) == 300


def test_one_persons_sales_and_one_platforms_holds_are_not_reachable_by_another(
    pages: Pages, app: App, world: World, actors: Actors
) -> None:
    alice, bob, other = _visitor(pages), _visitor(pages), _visitor(pages)
    sign_in(alice, app, PrincipalKind.PERSON, world.alice)
    csrf = csrf_of(alice.get("/me/market").text)
    alice.post("/me/sales", data={"csrf": csrf, "offer": str(actors.hold_offer), "grams": "300"})
    (sale,) = [str(uuid.UUID(str(r[0]))) for r in rows(app, "select id from sales")]
    assert sale in alice.get("/me/market").text
    sign_in(bob, app, PrincipalKind.PERSON, world.bob)
    assert sale not in bob.get("/me/market").text
    not_partner = bob.post(
        "/me/redemptions",
        data={"csrf": csrf_of(bob.get("/me/market").text), "merchant": str(world.bikes),
              "programme": "luzhou.lvya", "points": "1", "request": "r-9"},
    )  # fmt: skip
    assert not_partner.status_code == 404
    rival = add_enterprise(app.ctx, "Rival Mall", {Role.PLATFORM}).id
    sign_in(
        other, app, PrincipalKind.USER, add_web_user(app.ctx, PrincipalKind.USER, "R", rival).id
    )
    console = other.get("/platform")
    assert console.status_code == 200 and sale not in console.text
    for move in ("confirm", "void"):
        answer = other.post(f"/platform/sales/{sale}/{move}", data={"csrf": csrf_of(console.text)})
        assert answer.status_code == 404
    assert rows(app, "select status from sales")[0][0] == "held"


def test_offers_are_created_paused_resumed_and_closed_by_their_own_enterprise_only(
    pages: Pages, app: App, world: World, actors: Actors
) -> None:
    shop, bikes = pages.http, _visitor(pages)
    sign_in(shop, app, PrincipalKind.USER, actors.shop_user)
    csrf = csrf_of(shop.get("/platform").text)
    made = shop.post(
        "/platform/offers",
        data={"csrf": csrf, "budget_grams": "20000", "points_per_kg": "50",
              "programme": "luzhou.lvya", "min_grams": "100"},
    )  # fmt: skip
    assert made.status_code == 303, made.text
    (new,) = [str(r[0]) for r in rows(app, "select id from offers where budget_grams = 20000")]
    for move, status in (("pause", "paused"), ("resume", "open"), ("close", "closed")):
        assert shop.post(f"/platform/offers/{new}/{move}", data={"csrf": csrf}).status_code == 303
        assert rows(app, "select status from offers where budget_grams = 20000")[0][0] == status
    assert shop.post(f"/platform/offers/{new}/resume", data={"csrf": csrf}).status_code == 409
    # a scene enterprise has no platform console; it cannot move another's offer either
    sign_in(bikes, app, PrincipalKind.USER, world.bikes_user)
    assert "not_platform" in bikes.get("/platform").text
    theirs = bikes.post(
        f"/platform/offers/{actors.points_offer}/pause",
        data={"csrf": csrf_of(bikes.get("/console").text)},
    )
    assert theirs.status_code == 404
    assert rows(app, "select status from offers where budget_grams = 100000")[0][0] == "open"


def test_a_government_user_signs_in_and_sees_only_their_region(
    pages: Pages, app: App, world: World, actors: Actors
) -> None:
    http = pages.http
    sign_in(http, app, PrincipalKind.GOVERNMENT, actors.shenzhen)
    assert http.get("/me").status_code == 303  # an official is not a person
    page = http.get("/government?lang=en")
    assert page.status_code == 200 and 'id="region-name">深圳市<' in page.text
    ten_rides = sum(
        r[0] for r in rows(app, "select live_grams from events where event_id like 'sz-%'")
    )
    assert f'id="total-grams">{ten_rides:,}<' in page.text
    assert "南山区" in page.text.split('id="regions"')[1]  # the districts, k-suppressed
    for outside in ("110000", "420100", "440000"):  # Beijing, Wuhan, and Guangdong above it
        answer = http.get(f"/government?region={outside}")
        assert answer.status_code == 403 and "out_of_scope" in answer.text
        assert http.get(f"/government/stats.csv?region={outside}").status_code == 403
    csv = http.get(f"/government/stats.csv?month={MONTH}&by=region")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "440300" in csv.text and "110000" not in csv.text
    pdf = http.get(f"/government/report.pdf?month={MONTH}")
    assert pdf.content.startswith(b"%PDF")
    xlsx = http.get("/government/stats.xlsx?by=behaviour")
    assert xlsx.content.startswith(b"PK")
    exports = rows(app, "select count(*) from audit_log where kind = 'export'")[0][0]
    assert exports == 3
    beijing = _visitor(pages)
    sign_in(beijing, app, PrincipalKind.GOVERNMENT, actors.beijing)
    assert str(ten_rides) not in beijing.get("/government").text.replace(",", "")
    assert beijing.get("/government?region=440300").status_code == 403


def test_a_verifier_samples_recomputes_and_approves_a_batch(
    pages: Pages, app: App, world: World, actors: Actors
) -> None:
    """The sample is drawn and recomputed by the MRV service for the signed-in verifier; a
    rejection without a comment is 400 `comment_required` (before: a 503 page)."""
    http = pages.http
    sign_in(http, app, PrincipalKind.VERIFIER, actors.verifier)
    queue = http.get("/verifier?lang=en").text
    assert f"/verifier/batches/{actors.batch}" in queue and "Open for review" in queue
    batch = http.get(f"/verifier/batches/{actors.batch}?lang=en").text
    csrf = csrf_of(batch)
    drawn = http.post(
        f"/verifier/batches/{actors.batch}/sample", data={"csrf": csrf, "seed": "7", "size": "4"}
    )
    assert drawn.status_code == 303
    sampled = http.get(f"/verifier/batches/{actors.batch}?lang=en").text
    table = sampled.split('id="sample"')[1].split("</table>")[0]
    assert table.count("<code>sz-") == 4 and table.count(">yes<") == 4
    refused = http.post(f"/verifier/batches/{actors.batch}/reject", data={"csrf": csrf})
    assert refused.status_code == 400 and "comment_required" in refused.text
    approved = http.post(
        f"/verifier/batches/{actors.batch}/approve", data={"csrf": csrf, "comment": "抽样一致"}
    )
    assert approved.status_code == 303
    after = http.get(f"/verifier/batches/{actors.batch}?lang=en").text
    assert 'id="batch-state">Approved<' in after and 'id="batch-comment">抽样一致<' in after
    assert rows(app, "select state, comment from issuance_batches")[0] == ("approved", "抽样一致")
    actor = rows(app, "select actor from audit_log where kind = 'mrv.approve'")[0][0]
    assert actor == f"verifier:{actors.verifier}"
    again = http.post(
        f"/verifier/batches/{actors.batch}/approve", data={"csrf": csrf, "comment": "x"}
    )
    assert again.status_code == 409


def test_the_operator_sees_health_versions_a_diff_and_the_audit_trail(
    pages: Pages, app: App, world: World, actors: Actors
) -> None:
    http = pages.http
    sign_in(http, app, PrincipalKind.OPERATOR, world.operator)
    home = http.get("/operator?lang=en").text
    assert f'id="database">{app.engine.dialect.name}<' in home
    assert "1 batches waiting" in home and "luzhou.lvya" in home and "绿色商城" in home
    diff = http.get("/operator/diff?of=methodology&code=cycling.shared_bike.wuhan&a=1&b=2")
    assert diff.status_code == 200
    lines = diff.text.split('id="diff"')[1].split("</pre>")[0]
    assert "cycling.shared_bike.wuhan@1" in lines and 'class="add"' in lines
    same = http.get("/operator/diff?of=programme&code=luzhou.lvya&lang=en").text
    assert "publish the same content" in same
    assert http.get("/operator/diff?of=programme&code=nope").status_code == 404
    audit = http.get("/operator/audit?kind=official.add").text.split('id="audit"')[1]
    assert audit.count("<code>official.add</code>") == 3
    assert http.get("/operator/audit?kind=nope").status_code == 400


ACTOR_POSTS = {
    route.path: module
    for module in (market, platform, verifier, display_names, operator)
    for route in module.router.routes
    if "POST" in getattr(route, "methods", ())
}


@pytest.mark.parametrize("path", sorted(ACTOR_POSTS))
def test_every_new_form_refuses_a_missing_or_wrong_csrf_token(
    pages: Pages, app: App, world: World, actors: Actors, path: str
) -> None:
    who = {
        market: (PrincipalKind.PERSON, world.alice),
        display_names: (PrincipalKind.PERSON, world.alice),
        operator: (PrincipalKind.OPERATOR, world.operator),
        platform: (PrincipalKind.USER, actors.shop_user),
        verifier: (PrincipalKind.VERIFIER, actors.verifier),
    }[ACTOR_POSTS[path]]
    sign_in(pages.http, app, *who)
    target = (
        path.replace("{offer_id}", str(actors.points_offer))
        .replace("{sale_id}", str(uuid.uuid4()))
        .replace("{batch_id}", str(actors.batch))
        .replace("{move}", "pause")
        .replace("{decision}", "approve")
        .replace("{export_id}", str(uuid.uuid4()))
    )
    data = {
        "offer": str(actors.points_offer), "grams": "100", "budget_grams": "1000",
        "points_per_kg": "1", "programme": "luzhou.lvya", "merchant": str(actors.bus),
        "points": "1", "comment": "ok", "seed": "1", "display_name": "x", "opted_in": "1",
        "beneficiary": "x", "purpose": "x", "tonnes": "1", "registry": "CCER",
        "enterprise": str(actors.shop), "status": "returned",
    }  # fmt: skip
    for csrf in (None, "x" * 43):
        sent = data if csrf is None else {**data, "csrf": csrf}
        answer = pages.http.post(target, data=sent)
        assert (answer.status_code, "csrf_failed" in answer.text) == (403, True)
    assert rows(app, "select count(*) from sales")[0][0] == 0
    assert rows(app, "select count(*) from offers")[0][0] == 2
    assert rows(app, "select count(*) from offers where status = 'open'")[0][0] == 2
    assert rows(app, "select state from issuance_batches")[0][0] == "open"
    assert rows(app, "select count(*) from retirements")[0][0] == 0
    assert rows(app, "select count(*) from display_names")[0][0] == 0
    assert rows(app, "select count(*) from exports")[0][0] == 0


def test_each_actors_pages_are_closed_to_every_other_kind_of_account(
    pages: Pages, app: App, world: World, actors: Actors
) -> None:
    homes = {
        PrincipalKind.PERSON: (world.alice, "/me/market"),
        PrincipalKind.USER: (actors.shop_user, "/platform"),
        PrincipalKind.GOVERNMENT: (actors.shenzhen, "/government"),
        PrincipalKind.VERIFIER: (actors.verifier, f"/verifier/batches/{actors.batch}"),
        PrincipalKind.OPERATOR: (world.operator, "/operator/audit"),
    }
    for kind, (account, own) in homes.items():
        visitor = _visitor(pages)
        sign_in(visitor, app, kind, account)
        assert visitor.get(own).status_code == 200, own
        for other, (_, path) in homes.items():
            if other is not kind:
                assert visitor.get(path).status_code == 303, (kind, path)  # to sign in


def test_an_officials_code_signs_in_only_the_live_official_of_that_kind(
    pages: Pages, app: App, world: World, actors: Actors
) -> None:
    from tanpuhui.domain.errors import NotFoundError

    _, code = issue_code(app.ctx, PrincipalKind.GOVERNMENT, str(actors.shenzhen))
    csrf = csrf_of(pages.http.get("/signin/code?as=verifier").text)
    data = {"csrf": csrf, "as": "verifier", "account": str(actors.shenzhen), "code": code}
    assert pages.http.post("/signin/code", data=data).status_code == 401  # not a verifier
    with pytest.raises(NotFoundError):
        issue_code(app.ctx, PrincipalKind.VERIFIER, str(actors.shenzhen))
    sign_in(pages.http, app, PrincipalKind.GOVERNMENT, actors.shenzhen)
    assert pages.http.get("/government").status_code == 200
    app_rows = rows(app, "select principal from web_sessions")
    assert [r[0] for r in app_rows] == [f"government:{actors.shenzhen}"]


def _actor_pages(
    pages: Pages, app: App, world: World, actors: Actors
) -> Iterator[tuple[httpx.Client, str]]:
    for kind, account, paths in (
        (PrincipalKind.PERSON, world.alice, ["/me/market", "/me/leaderboard"]),
        (PrincipalKind.USER, actors.shop_user, ["/platform"]),
        (PrincipalKind.GOVERNMENT, actors.shenzhen, ["/government", "/government?region=440305"]),
        (PrincipalKind.VERIFIER, actors.verifier, [
            "/verifier", f"/verifier/batches/{actors.batch}",
        ]),
        (PrincipalKind.OPERATOR, world.operator, [
            "/operator", "/operator/audit", "/operator/exports",
            "/operator/diff?of=methodology&code=cycling.shared_bike.wuhan",
        ]),
    ):  # fmt: skip
        visitor = _visitor(pages)
        sign_in(visitor, app, kind, account)
        for path in paths:
            yield visitor, path


def test_every_new_page_in_both_languages_uses_only_catalogued_messages(
    pages: Pages, app: App, world: World, actors: Actors
) -> None:
    seen = 0
    for http, path in _actor_pages(pages, app, world, actors):
        for lang in ("en", "zh-CN"):
            sep = "&" if "?" in path else "?"
            answer = http.get(f"{path}{sep}lang={lang}")
            assert answer.status_code == 200, (path, answer.status_code)
            assert f'<html lang="{lang}">' in answer.text
            seen += 1
    assert seen == 2 * 11
    assert pages.api.state.web.catalogues.missing == set()


def test_a_person_lists_and_downloads_their_certificates_and_sees_their_place(
    pages: Pages, app: App, world: World, actors: Actors
) -> None:
    """Certificates on 我的碳账本 (each a PDF, the owner's only: another person's serial is not
    found), the leaderboard name and this month's place once opted in, all in the export."""
    serial = award_certificate(app, world.alice)
    alice, bob = _visitor(pages), _visitor(pages)
    sign_in(alice, app, PrincipalKind.PERSON, world.alice)
    ledger = alice.get("/me?lang=en").text
    listed = ledger.split('id="certificates"')[1].split("</section>")[0]
    assert serial in listed and f"/me/certificates/{serial}.pdf" in listed
    assert "骑行达人" in ledger.split('id="board-name"')[1].split("</p>")[0]
    pdf = alice.get(f"/me/certificates/{serial}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    assert verify_certificate(app.ctx, serial).content["recipient"] == "骑行达人"
    board = alice.get("/me/leaderboard?lang=en").text.split('id="positions"')[1]
    assert "bike_share_ride" in board and "No. 1" in board
    exported = alice.get("/me/export.json").json()
    assert [c["content"]["serial"] for c in exported["certificates"]] == [serial]
    assert exported["display_name"] == {"name": "骑行达人", "opted_in": True}
    sign_in(bob, app, PrincipalKind.PERSON, world.bob)
    assert serial not in bob.get("/me").text
    theirs = bob.get(f"/me/certificates/{serial}.pdf")
    assert theirs.status_code == 404 and not theirs.content.startswith(b"%PDF")
    assert "No. " not in bob.get("/me/leaderboard?lang=en").text  # not opted in: on no board
    assert bob.get("/me/certificates/TPH-nope.pdf").status_code == 400  # invalid_serial
    assert pages.api.state.web.catalogues.missing == set()


def _listed(html: str) -> list[str]:
    """The reductions a ledger page lists, in order (each is linked twice)."""
    section = html.split('id="reductions"')[1].split("</ul>", maxsplit=1)[0]
    return list(dict.fromkeys(REDUCTION.findall(section)))


def test_the_ledgers_reductions_are_paged_by_keyset_links(
    pages: Pages, app: App, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(person, "PAGE_SIZE", 2)
    http = pages.http
    sign_in(http, app, PrincipalKind.PERSON, world.alice)
    seen: list[str] = []
    first = http.get("/me?lang=en").text
    assert 'id="page-newer"' not in first and 'id="page-newest"' not in first
    html = first
    while 'id="page-older"' in html:
        seen += _listed(html)
        older = html.split('id="page-older"')[0].rsplit('href="', 1)[1].split('"')[0]
        assert "before=" in older and "offset" not in older
        html = http.get(older.replace("&amp;", "&")).text
    seen += _listed(html)
    credited = rows(
        app,
        "select id from events where holder = :h and state = 'active' order by started_at desc",
        h=f"person:{world.alice}",
    )
    assert seen == [str(uuid.UUID(str(r[0]))) for r in credited]
    assert len(seen) == 3 and 'id="page-newer"' in html and 'id="page-newest"' in html
    newer = html.split('id="page-newer"')[0].rsplit('href="', 1)[1].split('"')[0]
    back = http.get(newer.replace("&amp;", "&")).text
    assert _listed(back) == seen[:2]
    bad = http.get("/me?before=yesterday")
    assert bad.status_code == 400 and "invalid_cursor" in bad.text


def test_a_platform_retires_grams_downloads_the_certificate_and_sees_its_blocks(
    pages: Pages, app: App, world: World, actors: Actors
) -> None:
    person_, shop, rival = _visitor(pages), _visitor(pages), _visitor(pages)
    sign_in(person_, app, PrincipalKind.PERSON, world.alice)
    form = {"csrf": csrf_of(person_.get("/me/market").text),
            "offer": str(actors.points_offer), "grams": "500"}  # fmt: skip
    assert person_.post("/me/sales", data=form).status_code == 200
    sign_in(shop, app, PrincipalKind.USER, actors.shop_user)
    console = shop.get("/platform?lang=en").text
    request_id = console.split('name="request" value="')[1].split('"')[0]
    retire = {"csrf": csrf_of(console), "request": request_id, "grams": "200",
              "beneficiary": "2026 年会", "purpose": "碳中和", "period": "2026"}  # fmt: skip
    for _ in range(2):  # the same form posted twice retires once
        done = shop.post("/platform/retirements", data=retire)
        assert done.status_code == 303, done.text
    ((serial, grams),) = rows(app, "select certificate, grams from retirements")
    assert grams == 200
    after = shop.get("/platform?lang=en").text
    section = after.split('id="retirements"')[1].split("</section>")[0]
    assert serial in section and "2026 年会" in section and "Retired" in section
    (block,) = [str(r[0]) for r in rows(app, "select serial from serial_blocks")]
    assert block in section
    pdf = shop.get(f"/platform/certificates/{serial}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert verify_certificate(app.ctx, serial).content["kind"] == "retirement"
    assert 'id="exports"' in after
    too_much = shop.post("/platform/retirements", data={**retire, "request": "r2", "grams": "9999"})
    assert too_much.status_code == 409 and "insufficient_balance" in too_much.text
    bad = shop.post("/platform/retirements", data={**retire, "request": "r3", "period": "June"})
    assert bad.status_code == 400 and "invalid_period" in bad.text
    other = add_enterprise(app.ctx, "Rival Mall", {Role.PLATFORM}).id
    sign_in(
        rival, app, PrincipalKind.USER, add_web_user(app.ctx, PrincipalKind.USER, "R", other).id
    )
    assert serial not in rival.get("/platform").text
    assert rival.get(f"/platform/certificates/{serial}.pdf").status_code == 404
    assert pages.api.state.web.catalogues.missing == set()


def _walk(http: httpx.Client, path: str, listed: Callable[[str], list[str]]) -> list[str]:
    """Every item of a paged list, following its `older` links from the first page."""
    html, seen = http.get(path).text, []
    assert 'id="page-newer"' not in html
    while True:
        seen += listed(html)
        if 'id="page-older"' not in html:
            return seen
        older = html.split('id="page-older"')[0].rsplit('href="', 1)[1].split('"')[0]
        assert "before=" in older
        html = http.get(older.replace("&amp;", "&")).text
        assert 'id="page-newer"' in html and 'id="page-newest"' in html


def test_the_verifier_queue_and_the_audit_trail_are_paged_by_keyset_links(
    pages: Pages, app: App, world: World, actors: Actors, monkeypatch: pytest.MonkeyPatch
) -> None:
    def methodology(event_id: str) -> str:
        ((code, version),) = rows(
            app,
            "select m.code, m.version from events e"
            " join methodology_versions m on m.id = e.methodology_id where e.event_id = :e",
            e=event_id,
        )
        return f"{code}@{version}"

    wuhan = create_batch(app.ctx, methodology("b-1"), "420106", MONTH)
    luzhou = create_batch(app.ctx, methodology("lz-1"), "510502", MONTH)
    monkeypatch.setattr(verifier, "QUEUE_SIZE", 1)
    monkeypatch.setattr(operator, "AUDIT_ROWS", 2)
    checker, admin = _visitor(pages), _visitor(pages)
    sign_in(checker, app, PrincipalKind.VERIFIER, actors.verifier)
    csrf = csrf_of(checker.get("/verifier").text)
    decided = checker.post(
        f"/verifier/batches/{wuhan.id}/approve", data={"csrf": csrf, "comment": "ok"}
    )
    assert decided.status_code == 303
    queue = _walk(checker, "/verifier", BATCH.findall)
    assert queue == [str(luzhou.id), str(actors.batch), str(wuhan.id)]  # open first, newest first
    sign_in(admin, app, PrincipalKind.OPERATOR, world.operator)
    trail = _walk(admin, "/operator/audit", SEQ.findall)
    assert [int(s) for s in trail] == [
        r[0] for r in rows(app, "select seq from audit_log order by seq desc")
    ]
    adds = _walk(admin, "/operator/audit?kind=official.add", SEQ.findall)
    assert len(adds) == 3
    assert admin.get("/operator/audit?before=x").status_code == 400
    assert checker.get("/verifier?after=2026-01-01T00:00:00~nope").status_code == 400


def test_the_operator_exports_verified_tonnes_and_the_platform_sees_the_blocks(
    app: App,
) -> None:
    w = bought_world(app, persons=10, days=12)
    ops = add_web_user(app.ctx, PrincipalKind.OPERATOR, "Ops").id
    maps = add_web_user(app.ctx, PrincipalKind.USER, "Maps ops", w.platform).id
    with serve_pages(app) as served:
        admin, shop = _visitor(served), _visitor(served)
        sign_in(admin, app, PrincipalKind.OPERATOR, ops)
        listing = admin.get("/operator/exports?lang=en").text
        assert f'value="{w.platform}"' in listing  # a platform enterprise to export for
        csrf = csrf_of(listing)
        ask = {"csrf": csrf, "enterprise": str(w.platform), "tonnes": "1", "registry": "CCER"}
        assert admin.post("/operator/exports", data=ask).status_code == 303
        bad = admin.post("/operator/exports", data={**ask, "registry": "no spaces"})
        assert bad.status_code == 400 and "invalid_registry" in bad.text
        ((xid, status),) = rows(app, "select id, status from exports")
        xid = str(uuid.UUID(str(xid)))
        assert status == "pending_export"
        (serial,) = [str(r[0]) for r in rows(app, "select serial from serial_blocks")]
        assert serial in admin.get("/operator/exports").text
        mark = f"/operator/exports/{xid}/mark"
        missing = admin.post(mark, data={"csrf": csrf, "status": "exported"})
        assert missing.status_code == 400 and "reference_required" in missing.text
        done = admin.post(mark, data={"csrf": csrf, "status": "exported", "reference": "CCER-1"})
        assert done.status_code == 303
        assert rows(app, "select status, reference from exports")[0] == ("exported", "CCER-1")
        again = admin.post(mark, data={"csrf": csrf, "status": "returned"})
        assert again.status_code == 409
        file = admin.get(f"/operator/exports/{xid}/file.csv")
        assert file.headers["content-type"].startswith("text/csv") and serial in file.text
        sign_in(shop, app, PrincipalKind.USER, maps)
        seen = shop.get("/platform?lang=en").text.split('id="exports"')[1].split("</section>")[0]
        assert serial in seen and "CCER-1" in seen and "Exported" in seen
        assert shop.get("/operator/exports").status_code == 303  # the operator's page only
        assert served.api.state.web.catalogues.missing == set()
