"""The pages in a real browser (Chromium through Playwright) on both engines: a person signs
in, sees the ledger, opens a trace and gets a binding code; an enterprise user rotates a
credential; on every page the language switch works, nothing is fetched from any other host,
the console shows no error, no message id shows untranslated and every form refuses a wrong
CSRF token. Screenshots of the main pages at phone and desktop width go to docs/screenshots/."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tanpuhui.bootstrap import App
from tanpuhui.domain.sign_in import PrincipalKind
from tanpuhui.services.sign_in import issue_code
from tanpuhui.web import i18n
from tests.pages_world import Pages, World, build_world, serve_pages

SHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 900}
MESSAGE_IDS = set(i18n.read_catalogue("en"))


@pytest.fixture
def world(app: App) -> World:
    return build_world(app)


@pytest.fixture
def pages(app: App, world: World) -> Iterator[Pages]:
    with serve_pages(app) as served:
        yield served


class Watched:
    """A browser tab that records every request's host and every console error."""

    def __init__(self, browser: Any, pages: Pages, viewport: dict[str, int] = PHONE) -> None:
        self.context = browser.new_context(viewport=viewport, locale="zh-CN")
        self.page = self.context.new_page()
        self.base = pages.base_url
        self.hosts: set[str] = set()
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.hosts.add(urlsplit(r.url).netloc))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def sign_in(self, app: App, kind: PrincipalKind, account: uuid.UUID) -> None:
        """With a code the CLI issued, through the link it prints and the form it opens."""
        _, code = issue_code(app.ctx, kind, str(account))
        self.go(f"/signin/code?as={kind.value}&account={account}&code={code}")
        with self.page.expect_navigation():
            self.page.locator("main form button[type=submit]").click()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Any, pages: Pages) -> Iterator[Watched]:
    watched = Watched(browser, pages)
    yield watched
    watched.close()


def _shoot(tab: Watched, engine_name: str, name: str) -> None:
    if engine_name != "sqlite":  # the same pages on both engines: one set of pictures
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        tab.page.set_viewport_size(size)
        tab.page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    tab.page.set_viewport_size(PHONE)


def test_a_person_signs_in_sees_the_ledger_opens_a_trace_and_gets_a_binding_code(
    tab: Watched, pages: Pages, world: World, engine_name: str
) -> None:
    page = tab.page
    tab.go("/")
    _shoot(tab, engine_name, "landing")
    page.get_by_role("link", name="登录查看我的碳账本").click()
    page.get_by_label("账户编号").fill(str(world.alice))
    _shoot(tab, engine_name, "signin")
    page.get_by_role("button", name="发送验证码").click()
    page.wait_for_url(re.compile(r"/signin/code"))
    ((_, _, code),) = pages.api.state.web.demo_sender.recent()
    page.get_by_label("验证码").fill(code)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/me$"))
    assert page.locator(".stats strong").first.inner_text() == "1,104"
    assert page.evaluate(  # waits for the font to arrive (check() alone raced its download)
        "document.fonts.load('16px \"Tanpuhui Sans\"', '碳').then(faces => faces.length > 0)"
    )
    _shoot(tab, engine_name, "ledger")
    page.get_by_role("link", name="为什么是 319 克？").first.click()
    # the ledger page has a heading too: wait for the trace's, do not read whichever is there
    expect(page.get_by_role("heading", level=1)).to_have_text("为什么是 319 克？")
    expect(page.locator("main")).to_contain_text("Xinhua report 2025")  # the factor's source
    _shoot(tab, engine_name, "trace")
    page.go_back()
    page.get_by_role("button", name="获取绑定码").click()
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", page.locator("#binding-code").inner_text())
    assert tab.errors == [] and tab.hosts == {urlsplit(pages.base_url).netloc}


def test_an_enterprise_user_rotates_a_credential(
    tab: Watched, app: App, pages: Pages, world: World, engine_name: str
) -> None:
    page = tab.page
    tab.sign_in(app, PrincipalKind.USER, world.bikes_user)
    page.wait_for_url(re.compile(r"/console$"))
    page.get_by_label("名称").fill("production")
    page.get_by_role("button", name="新建凭据").click()
    assert "BEGIN PRIVATE KEY" in page.locator("#pem").input_value()
    first = page.locator("#credential-id").inner_text()
    page.get_by_role("link", name="返回").click()
    page.get_by_role("button", name="轮换").click()
    assert "BEGIN PRIVATE KEY" in page.locator("#pem").input_value()
    assert page.locator("#credential-id").inner_text() != first
    page.get_by_role("link", name="返回").click()
    listing = page.inner_text("#credentials")
    assert "轮换中" in listing and "有效" in listing and "BEGIN" not in page.content()
    page.goto(f"{pages.base_url}/console?event_id=bad-1")
    _shoot(tab, engine_name, "console")
    assert tab.errors == []


def _every_page(app: App, world: World) -> list[tuple[PrincipalKind | None, uuid.UUID | None, str]]:
    return [
        (None, None, "/"),
        (None, None, "/signin"),
        (None, None, "/signin?as=user"),
        (None, None, "/signin/code"),
        (None, None, "/demo/codes"),
        (None, None, "/methodologies/cycling.shared_bike.wuhan@2"),
        (PrincipalKind.PERSON, world.alice, "/me"),
        (PrincipalKind.PERSON, world.alice, f"/me/reductions/{world.alice_ride}"),
        (PrincipalKind.USER, world.bikes_user, "/console?event_id=bad-1"),
        (PrincipalKind.OPERATOR, world.operator, "/operator"),
    ]


def _check_language(tab: Watched, lang: str, word: str) -> None:
    tab.page.get_by_role("link", name=word, exact=True).first.click()
    tab.page.wait_for_load_state()
    assert tab.page.locator("html").get_attribute("lang") == lang
    # identifiers the page shows as data in <code> (an audit record's kind such as
    # `export.create`, a methodology code) are not messages: only the rest must be translated
    text = tab.page.evaluate(
        "() => { const b = document.body.cloneNode(true);"
        " b.querySelectorAll('code').forEach(e => e.remove()); return b.textContent; }"
    )
    shown_ids = {m for m in MESSAGE_IDS if re.search(rf"(?<![\w.]){re.escape(m)}(?![\w.])", text)}
    assert shown_ids == set(), shown_ids


def test_every_page_switches_language_loads_only_the_apps_assets_and_logs_no_error(
    browser: Any, app: App, pages: Pages, world: World
) -> None:
    own = {urlsplit(pages.base_url).netloc}
    for kind, account, path in _every_page(app, world):
        tab = Watched(browser, pages)
        try:
            if kind is not None and account is not None:
                tab.sign_in(app, kind, account)
            tab.go(path)
            _check_language(tab, "en", "English")
            _check_language(tab, "zh-CN", "中文")
            tab.go(path)  # remembered: still Chinese, then English again without the switch
            assert tab.page.locator("html").get_attribute("lang") == "zh-CN"
            assert tab.errors == [], (path, tab.errors)
            assert tab.hosts == own, (path, tab.hosts)
        finally:
            tab.close()
    assert pages.api.state.web.catalogues.missing == set()


def test_every_form_on_every_page_refuses_a_wrong_csrf_token(
    browser: Any, app: App, pages: Pages, world: World
) -> None:
    checked = 0
    for kind, account, path in _every_page(app, world):
        tab = Watched(browser, pages)
        try:
            if kind is not None and account is not None:
                tab.sign_in(app, kind, account)
            tab.go(path)
            forms = tab.page.locator("form[method=post]").count()
            for index in range(forms):
                tab.go(path)
                form = tab.page.locator("form[method=post]").nth(index)
                form.locator("input[name=csrf]").evaluate("e => e.value = 'forged'")
                with tab.page.expect_navigation() as nav:
                    form.evaluate("f => f.requestSubmit ? f.submit() : f.submit()")
                assert nav.value.status == 403, (path, index)
                assert "csrf_failed" in tab.page.content()
                checked += 1
        finally:
            tab.close()
    assert checked >= 8  # sign-in ×2, sign out ×2 per signed-in page, links, codes, keys


def test_another_persons_trace_is_not_reachable(tab: Watched, app: App, world: World) -> None:
    tab.sign_in(app, PrincipalKind.PERSON, world.bob)
    answer = tab.go(f"/me/reductions/{world.alice_ride}")
    assert answer.status == 404 and "319" not in tab.page.inner_text("main")
