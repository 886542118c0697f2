"""The pages over real HTTP on both engines: signing in by one-time code, sessions, CSRF,
isolation between persons and between enterprises, the person's ledger, the console, the
landing page's k-suppression, and both languages on every page (the other actors' pages:
test_actor_pages.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from tanpuhui.bootstrap import App
from tanpuhui.domain.sign_in import MAX_CODE_ATTEMPTS, PrincipalKind
from tanpuhui.services.intake import submit_events
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject
from tanpuhui.services.sign_in import issue_code
from tanpuhui.web import console, person, public
from tests.builders import event
from tests.db_fixtures import rows
from tests.pages_world import Pages, World, at, build_world, client, csrf_of, serve_pages, sign_in

pytestmark = pytest.mark.usefixtures("engine_name")


@pytest.fixture
def world(app: App) -> World:
    return build_world(app)


@pytest.fixture
def pages(app: App, world: World) -> Iterator[Pages]:
    with serve_pages(app) as served:
        yield served


def _visitor(pages: Pages) -> httpx.Client:
    return client(pages)


def test_a_person_signs_in_with_the_code_sent_to_them_and_sees_their_ledger(
    pages: Pages, world: World
) -> None:
    http = pages.http
    form = http.get("/signin")
    sent = http.post(
        "/signin/request", data={"csrf": csrf_of(form.text), "account": str(world.alice)}
    )
    assert sent.status_code == 303 and sent.headers["location"].startswith("/signin/code")
    ((_, who, code),) = pages.api.state.web.demo_sender.recent()
    assert who == f"person:{world.alice}"
    entered = http.get(sent.headers["location"])
    data = {"as": "person", "account": str(world.alice), "code": code}
    signed = http.post("/signin/code", data={"csrf": csrf_of(entered.text), **data})
    assert (signed.status_code, signed.headers["location"]) == (303, "/me")
    ledger = http.get("/me")
    assert ledger.status_code == 200
    # two rides today (3.42 km → 319 g, 5 km → 466 g) and one 20 days ago (319 g, October)
    assert ">1,104</strong>" in ledger.text and ">785</strong>" in ledger.text
    assert f"/me/reductions/{world.alice_ride}" in ledger.text


def test_an_unknown_account_is_answered_like_a_known_one_and_sent_nothing(
    pages: Pages, world: World
) -> None:
    http = pages.http
    csrf = csrf_of(http.get("/signin").text)
    answer = http.post("/signin/request", data={"csrf": csrf, "account": str(uuid.uuid4())})
    assert answer.status_code == 303
    assert pages.api.state.web.demo_sender.recent() == []


def test_a_code_is_spent_once(pages: Pages, app: App, world: World) -> None:
    _, code = issue_code(app.ctx, PrincipalKind.PERSON, str(world.alice))
    for expected in (303, 401):
        visitor = _visitor(pages)
        csrf = csrf_of(visitor.get("/signin/code?as=person").text)
        answer = visitor.post(
            "/signin/code",
            data={"csrf": csrf, "as": "person", "account": str(world.alice), "code": code},
        )
        assert answer.status_code == expected
    assert "invalid_code" in answer.text


def test_a_code_dies_after_five_wrong_guesses(pages: Pages, app: App, world: World) -> None:
    _, code = issue_code(app.ctx, PrincipalKind.PERSON, str(world.alice))
    wrong = "000000" if code != "000000" else "111111"
    http = pages.http
    for _ in range(MAX_CODE_ATTEMPTS):
        csrf = csrf_of(http.get("/signin/code").text)
        data = {"csrf": csrf, "as": "person", "account": str(world.alice), "code": wrong}
        assert http.post("/signin/code", data=data).status_code == 401
    csrf = csrf_of(http.get("/signin/code").text)
    data = {"csrf": csrf, "as": "person", "account": str(world.alice), "code": code}
    assert http.post("/signin/code", data=data).status_code == 401  # the right code, too late


def test_an_account_gets_at_most_five_codes_per_quarter_hour(app: App, world: World) -> None:
    from tanpuhui.domain.errors import RateLimitedError

    for _ in range(5):
        issue_code(app.ctx, PrincipalKind.PERSON, str(world.alice))
    with pytest.raises(RateLimitedError):
        issue_code(app.ctx, PrincipalKind.PERSON, str(world.alice))


def test_sign_in_attempts_are_limited_per_address(pages: Pages, world: World) -> None:
    http = pages.http
    statuses = []
    for _ in range(12):
        csrf = csrf_of(http.get("/signin/code").text)
        data = {"csrf": csrf, "as": "person", "account": str(world.alice), "code": "123456"}
        statuses.append(http.post("/signin/code", data=data).status_code)
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]


def test_the_session_cookie_is_httponly_and_samesite_and_only_its_digest_is_stored(
    pages: Pages, app: App, world: World
) -> None:
    _, code = issue_code(app.ctx, PrincipalKind.PERSON, str(world.alice))
    csrf = csrf_of(pages.http.get("/signin/code").text)
    answer = pages.http.post(
        "/signin/code",
        data={"csrf": csrf, "as": "person", "account": str(world.alice), "code": code},
    )
    cookie = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and "tph_session" in v
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie  # http
    token = pages.http.cookies["tph_session"]
    stored = rows(app, "select shard, token_hash from web_sessions")
    assert len(stored) == 1 and token.split(".")[1].encode() not in stored[0].token_hash
    assert token.split(".")[0] == str(stored[0].shard)


def test_sign_out_everywhere_ends_every_session_of_the_person(
    pages: Pages, app: App, world: World
) -> None:
    phone, laptop = _visitor(pages), _visitor(pages)
    sign_in(phone, app, PrincipalKind.PERSON, world.alice)
    sign_in(laptop, app, PrincipalKind.PERSON, world.alice)
    sign_in(pages.http, app, PrincipalKind.PERSON, world.bob)
    out = phone.post("/signout/everywhere", data={"csrf": csrf_of(phone.get("/me").text)})
    assert out.status_code == 303
    assert laptop.get("/me").status_code == 303  # back to sign-in
    assert pages.http.get("/me").status_code == 200  # another person's session lives on


def test_sign_out_ends_this_session_only(pages: Pages, app: App, world: World) -> None:
    phone, laptop = _visitor(pages), _visitor(pages)
    sign_in(phone, app, PrincipalKind.PERSON, world.alice)
    sign_in(laptop, app, PrincipalKind.PERSON, world.alice)
    phone.post("/signout", data={"csrf": csrf_of(phone.get("/me").text)})
    phone.cookies.clear()
    assert laptop.get("/me").status_code == 200


# --- CSRF: every form ------------------------------------------------------------------------

POSTS = {
    route.path: module
    for module in (public, person, console)
    for route in module.router.routes
    if "POST" in getattr(route, "methods", ())
}
SIGNED_IN_AS = {person: PrincipalKind.PERSON, console: PrincipalKind.USER, public: None}


@pytest.mark.parametrize("path", sorted(POSTS))
@pytest.mark.parametrize("token", ["missing", "wrong"])
def test_every_form_refuses_a_missing_or_wrong_csrf_token(
    pages: Pages, app: App, world: World, path: str, token: str
) -> None:
    kind = SIGNED_IN_AS[POSTS[path]]
    if kind is not None:
        sign_in(
            pages.http, app, kind, world.alice if kind is PrincipalKind.PERSON else world.bikes_user
        )
    pages.http.get("/")  # the visitor has a CSRF cookie (and a session) like any other
    credential = uuid.uuid4()
    target = path.replace("{credential_id}", str(credential))
    data = {"account": str(world.alice), "code": "123456", "label": "x"}
    if token == "wrong":
        data["csrf"] = "x" * 43
    before = rows(app, "select count(*) from binding_codes")[0][0]
    answer = pages.http.post(target, data=data)
    assert (answer.status_code, "csrf_failed" in answer.text) == (403, True)
    assert rows(app, "select count(*) from binding_codes")[0][0] == before


def test_a_token_of_one_session_is_refused_in_another(pages: Pages, app: App, world: World) -> None:
    other = _visitor(pages)
    sign_in(pages.http, app, PrincipalKind.PERSON, world.alice)
    sign_in(other, app, PrincipalKind.PERSON, world.bob)
    csrf_of_bob = csrf_of(other.get("/me").text)
    answer = pages.http.post("/me/binding-codes", data={"csrf": csrf_of_bob})
    assert answer.status_code == 403


# --- isolation -------------------------------------------------------------------------------


def test_one_persons_reductions_and_links_are_not_reachable_by_another(
    pages: Pages, app: App, world: World
) -> None:
    sign_in(pages.http, app, PrincipalKind.PERSON, world.bob)
    assert pages.http.get(f"/me/reductions/{world.alice_ride}").status_code == 404
    assert pages.http.get(f"/me/reductions/{world.bob_ride}").status_code == 200
    csrf = csrf_of(pages.http.get("/me").text)
    ended = pages.http.post(
        "/me/links/end", data={"csrf": csrf, "enterprise": str(world.bikes), "subject": "u-1"}
    )
    assert ended.status_code == 404
    assert rows(app, "select count(*) from bindings where ended_at is not null")[0][0] == 0
    export = pages.http.get("/me/export.json").json()
    assert export["person"] == str(world.bob) and str(world.alice) not in str(export)


def test_a_person_ends_their_own_link(pages: Pages, app: App, world: World) -> None:
    sign_in(pages.http, app, PrincipalKind.PERSON, world.alice)
    csrf = csrf_of(pages.http.get("/me").text)
    ended = pages.http.post(
        "/me/links/end", data={"csrf": csrf, "enterprise": str(world.maps), "subject": "m-1"}
    )
    assert ended.status_code == 303
    assert "Maps" not in pages.http.get("/me").text.split('id="links"')[1].split("</section>")[0]


def test_one_enterprise_cannot_touch_or_search_another_enterprises_data(
    pages: Pages, app: App, world: World
) -> None:
    maps_visitor = _visitor(pages)
    sign_in(pages.http, app, PrincipalKind.USER, world.bikes_user)
    sign_in(maps_visitor, app, PrincipalKind.USER, world.maps_user)
    created = pages.http.post(
        "/console/credentials", data={"csrf": csrf_of(pages.http.get("/console").text)}
    )
    bikes_credential = created.text.split('id="credential-id">')[1].split("<")[0]
    csrf = csrf_of(maps_visitor.get("/console").text)
    for action in ("rotate", "revoke"):
        answer = maps_visitor.post(
            f"/console/credentials/{bikes_credential}/{action}", data={"csrf": csrf}
        )
        assert answer.status_code == 404
    assert (
        rows(
            app,
            "select count(*) from credentials"
            " where revoked_at is not null or expires_at is not null",
        )[0][0]
        == 0
    )
    assert (
        "b-1" not in maps_visitor.get("/console?event_id=b-1").text.split('id="outcome"')[1][:200]
    )
    assert "console.not_found" not in maps_visitor.get("/console?event_id=b-1").text
    # a person cannot open the console, an enterprise user not the ledger
    assert maps_visitor.get("/me").status_code == 303
    sign_in(pages.http, app, PrincipalKind.PERSON, world.alice)
    assert pages.http.get("/console").status_code == 303


def test_credentials_are_created_rotated_and_revoked_with_the_private_key_shown_once(
    pages: Pages, app: App, world: World
) -> None:
    http = pages.http
    sign_in(http, app, PrincipalKind.USER, world.bikes_user)
    created = http.post(
        "/console/credentials", data={"csrf": csrf_of(http.get("/console").text), "label": "prod"}
    )
    assert "BEGIN PRIVATE KEY" in created.text and created.headers["cache-control"] == "no-store"
    first = created.text.split('id="credential-id">')[1].split("<")[0]
    rotated = http.post(
        f"/console/credentials/{first}/rotate", data={"csrf": csrf_of(created.text)}
    )
    assert "BEGIN PRIVATE KEY" in rotated.text
    second = rotated.text.split('id="credential-id">')[1].split("<")[0]
    assert second != first
    listing = http.get("/console")
    assert "BEGIN PRIVATE KEY" not in listing.text  # shown once, never again
    http.post(f"/console/credentials/{second}/revoke", data={"csrf": csrf_of(listing.text)})
    states = dict(rows(app, "select cast(id as text), revoked_at is not null from credentials"))
    assert sorted(states.values()) == [False, True]


def test_the_console_shows_intake_rejections_by_reason_and_finds_an_outcome(
    pages: Pages, app: App, world: World
) -> None:
    sign_in(pages.http, app, PrincipalKind.USER, world.bikes_user)
    page = pages.http.get("/console?event_id=bad-1&lang=en").text
    assert "<code>negative_quantity</code>" in page and "bad-1" in page
    outcome = page.split('id="outcome"')[1]
    assert "rejected" in outcome[:300] and "must not be negative" in outcome[:500]


def test_duplicates_say_which_claim_was_kept(pages: Pages, app: App, world: World) -> None:
    sign_in(pages.http, app, PrincipalKind.PERSON, world.alice)
    page = pages.http.get("/me?lang=en").text
    section = page.split('id="not-credited"')[1].split("</section>")[0]
    assert "<code>m-1</code>" in section and "Duplicate" in section
    assert "Kept: bike_share_ride · 青桔单车" in section


def test_another_persons_claims_lost_at_binding_are_not_shown(
    pages: Pages, app: App, world: World
) -> None:
    """Before: the "not credited" query's OR was not bracketed, so every person's claims
    reversed at binding showed on every ledger page."""
    submit_events(app.ctx, world.maps, [event(event_id="m-bob", subject="m-2", start=at(7, 1))])
    moved = bind_subject(app.ctx, world.maps, "m-2", world.bob)  # overlaps bob's b-9: reversed
    assert moved.reversed_grams > 0
    sign_in(pages.http, app, PrincipalKind.PERSON, world.alice)
    assert "m-bob" not in pages.http.get("/me").text
    bob = _visitor(pages)
    sign_in(bob, app, PrincipalKind.PERSON, world.bob)
    assert "<code>m-bob</code>" in bob.get("/me").text


def test_the_landing_page_shows_only_regions_with_ten_persons(pages: Pages, app: App) -> None:
    ctx = app.ctx
    metro = add_enterprise(ctx, "Metro", {"scene"}).id  # type: ignore[arg-type]
    for i in range(10):
        p = add_person(ctx).id
        bind_subject(ctx, metro, f"w-{i}", p)
        submit_events(ctx, metro, [event(subject=f"w-{i}", start=at(9))])  # Wuhan, Hubei
    for i in range(3):
        p = add_person(ctx).id
        bind_subject(ctx, metro, f"l-{i}", p)
        submit_events(ctx, metro, [event(subject=f"l-{i}", start=at(9), region="510502")])
    page = pages.http.get("/?lang=en").text
    assert "湖北省" in page  # 10 + the world's 2 persons
    assert "四川省" not in page  # 3 persons: suppressed, counted in the total only
    total = rows(app, "select sum(grams) from region_totals")[0][0]
    assert f"{total / 1000:,.3f}" in page


# --- languages -------------------------------------------------------------------------------


def _all_pages(pages: Pages, app: App, world: World) -> Iterator[tuple[httpx.Client, str]]:
    anonymous = _visitor(pages)
    for path in ("/", "/signin", "/signin?as=user", "/signin/code", "/demo/codes",
                 "/methodologies/cycling.shared_bike.wuhan@2"):  # fmt: skip
        yield anonymous, path
    me = _visitor(pages)
    sign_in(me, app, PrincipalKind.PERSON, world.alice)
    for path in ("/me", f"/me/reductions/{world.alice_ride}", f"/me/reductions/{uuid.uuid4()}"):
        yield me, path
    user = _visitor(pages)
    sign_in(user, app, PrincipalKind.USER, world.bikes_user)
    yield user, "/console?event_id=b-1"
    yield user, "/console?event_id=nope"
    operator = _visitor(pages)
    sign_in(operator, app, PrincipalKind.OPERATOR, world.operator)
    yield operator, "/operator"


def test_every_page_in_both_languages_uses_only_catalogued_messages(
    pages: Pages, app: App, world: World
) -> None:
    seen = 0
    for http, path in _all_pages(pages, app, world):
        for lang, word in (("en", 'lang="en"'), ("zh-CN", 'lang="zh-CN"')):
            sep = "&" if "?" in path else "?"
            answer = http.get(f"{path}{sep}lang={lang}")
            assert answer.status_code in (200, 404), (path, answer.status_code)
            assert f"<html {word}>" in answer.text
            seen += 1
    assert seen == 2 * 12
    assert pages.api.state.web.catalogues.missing == set()


def test_the_language_is_remembered_and_the_browser_language_honoured(pages: Pages) -> None:
    fresh = _visitor(pages)
    assert '<html lang="zh-CN">' in fresh.get("/").text  # the default
    assert '<html lang="en">' in fresh.get("/?lang=en").text
    assert '<html lang="en">' in fresh.get("/signin").text  # remembered in a cookie
    english = _visitor(pages)
    assert (
        '<html lang="en">' in english.get("/", headers={"accept-language": "en-GB,en;q=0.8"}).text
    )
    assert '<html lang="zh-CN">' in english.get("/?lang=zh-CN").text


def test_the_demo_page_exists_in_dev_mode_only(app: App, world: World) -> None:
    from tanpuhui.bootstrap import build
    from tanpuhui.config import Settings

    prod = build(
        Settings(
            database_url=str(app.engine.url.render_as_string(hide_password=False)), mode="prod"
        )
    )
    try:
        with serve_pages(prod) as served:
            assert served.http.get("/demo/codes").status_code == 404
    finally:
        prod.close()


def test_pages_allow_no_other_origin_and_are_not_cached(pages: Pages) -> None:
    answer = pages.http.get("/")
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")
    assert answer.headers["cache-control"] == "no-store"
    assert "https://" not in answer.text and "http://" not in answer.text
    assert pages.http.get("/static/fonts/tanpuhui-sans.ttf").status_code == 200


def test_a_bad_id_in_a_page_path_is_a_page_not_a_traceback(
    pages: Pages, app: App, world: World
) -> None:
    sign_in(pages.http, app, PrincipalKind.PERSON, world.alice)
    answer = pages.http.get("/me/reductions/not-a-uuid")
    assert answer.status_code == 404 and "<html" in answer.text and "Traceback" not in answer.text
    assert sa is not None
