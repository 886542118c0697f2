"""The other actors' pages in a real browser (Chromium through Playwright) on both engines: a
person sells to an offer and downloads a certificate (a PDF whose serial verifies); a
government user sees only their region (Shenzhen cannot reach Beijing); a verifier draws a
sample and approves a batch. Every new page switches language, loads nothing from another
host, logs no console error and shows no message id, and every form on it refuses a forged
CSRF token. Phone and desktop screenshots go to docs/screenshots/.

Few tests on purpose: the world is built once per test and each test walks several pages in
one tab (the browser itself is launched once per session)."""

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
from tanpuhui.services.certificates import verify_certificate
from tests.browser.test_pages_in_a_browser import Watched, _check_language, _shoot
from tests.db_fixtures import rows
from tests.pages_world import (
    Actors,
    Pages,
    World,
    add_actors,
    award_certificate,
    build_world,
    serve_pages,
)


@pytest.fixture
def world(app: App) -> World:
    return build_world(app)


@pytest.fixture
def actors(world: World) -> Actors:
    return add_actors(world)


@pytest.fixture
def pages(app: App, actors: Actors) -> Iterator[Pages]:
    with serve_pages(app) as served:
        yield served


@pytest.fixture
def tab(browser: Any, pages: Pages) -> Iterator[Watched]:
    watched = Watched(browser, pages)
    yield watched
    watched.close()


def test_a_person_sells_to_an_offer_and_downloads_a_certificate(
    tab: Watched, app: App, pages: Pages, world: World, engine_name: str, tmp_path: Path
) -> None:
    serial = award_certificate(app, world.alice)
    page = tab.page
    tab.sign_in(app, PrincipalKind.PERSON, world.alice)
    page.get_by_role("link", name="出售", exact=True).click()
    page.wait_for_url(re.compile(r"/me/market$"))
    _shoot(tab, engine_name, "market")
    offer = page.locator("#offers li").filter(has_text="每千克 100 积分")
    offer.get_by_label("出售克数").fill("500")
    offer.get_by_role("button", name="出售").click()
    expect(page.locator("#sale-status")).to_have_text("已成交")
    expect(page.locator("#sale-grams")).to_have_text("500")
    _shoot(tab, engine_name, "sale")
    page.get_by_role("link", name="返回出售").click()
    page.wait_for_url(re.compile(r"/me/market$"))
    expect(page.locator("#points .stats strong").first).to_have_text("50")
    assert rows(app, "select count(*) from sales")[0][0] == 1
    page.get_by_role("link", name="我的碳账本").first.click()
    page.wait_for_url(re.compile(r"/me$"))
    certificates = page.locator("#certificates")
    assert serial in certificates.inner_text()
    _shoot(tab, engine_name, "certificates")
    with page.expect_download() as download:
        certificates.get_by_role("link", name="下载证书（PDF）").first.click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == f"{serial}.pdf" and saved.read_bytes().startswith(b"%PDF")
    assert verify_certificate(app.ctx, saved.stem).content["recipient"] == "骑行达人"
    page.get_by_role("link", name="公开核验").first.click()
    expect(page.locator("main")).to_contain_text(serial)
    assert tab.errors == [] and tab.hosts == {urlsplit(pages.base_url).netloc}


def test_a_government_user_sees_only_their_region(
    tab: Watched, app: App, pages: Pages, actors: Actors, engine_name: str
) -> None:
    page = tab.page
    tab.sign_in(app, PrincipalKind.GOVERNMENT, actors.shenzhen)
    page.wait_for_url(re.compile(r"/government$"))
    assert page.locator("#region-name").inner_text() == "深圳市"
    assert page.locator("svg.chart rect").count() == 12  # a year of months, drawn as SVG
    _shoot(tab, engine_name, "government")
    page.locator("#regions").get_by_role("link", name="南山区").click()
    expect(page.locator("#region-name")).to_have_text("南山区")
    answer = tab.go("/government?region=110000")  # Beijing
    assert answer.status == 403 and "out_of_scope" in page.content()
    assert all("403" in e for e in tab.errors)  # the browser logs the refusal itself
    tab.errors.clear()
    with page.expect_download() as download:
        tab.go("/government")
        page.get_by_role("link", name="CSV 表格").click()
    assert download.value.suggested_filename.endswith(".csv")
    assert tab.errors == [] and tab.hosts == {urlsplit(pages.base_url).netloc}


def test_a_verifier_approves_a_batch(
    tab: Watched, app: App, pages: Pages, actors: Actors, engine_name: str
) -> None:
    page = tab.page
    tab.sign_in(app, PrincipalKind.VERIFIER, actors.verifier)
    page.wait_for_url(re.compile(r"/verifier$"))
    _shoot(tab, engine_name, "verifier")
    page.locator("tbody a").first.click()
    page.get_by_label("样本量").fill("5")
    page.get_by_role("button", name="抽样并重新计算").click()
    # count() does not wait: the page that answers the form may not be there yet
    expect(page.locator("#sample tbody tr")).to_have_count(5)
    assert page.locator("#sample tbody").inner_text().count("是") == 5
    _shoot(tab, engine_name, "batch")
    page.get_by_label("意见", exact=True).fill("抽样复算一致")
    page.get_by_role("button", name="核证通过").click()
    expect(page.locator("#batch-state")).to_have_text("已核证")
    assert rows(app, "select state from issuance_batches")[0][0] == "approved"
    assert tab.errors == []


SHOT = {
    "/platform": "platform", "/operator": "operator", "/operator/audit": "audit",
    "/operator/exports": "exports", "/me/leaderboard": "leaderboard",
}  # fmt: skip


def _new_pages(world: World, actors: Actors) -> list[tuple[PrincipalKind, uuid.UUID, str]]:
    return [
        (PrincipalKind.PERSON, world.alice, "/me/market"),
        (PrincipalKind.PERSON, world.alice, "/me/leaderboard"),
        (PrincipalKind.USER, actors.shop_user, "/platform"),
        (PrincipalKind.GOVERNMENT, actors.shenzhen, "/government"),
        (PrincipalKind.VERIFIER, actors.verifier, "/verifier"),
        (PrincipalKind.VERIFIER, actors.verifier, f"/verifier/batches/{actors.batch}"),
        (PrincipalKind.OPERATOR, world.operator, "/operator"),
        (PrincipalKind.OPERATOR, world.operator, "/operator/audit"),
        (PrincipalKind.OPERATOR, world.operator, "/operator/exports"),
        (
            PrincipalKind.OPERATOR,
            world.operator,
            "/operator/diff?of=methodology&code=cycling.shared_bike.wuhan",
        ),
    ]


def test_every_new_page_switches_language_stays_home_and_refuses_forged_forms(
    browser: Any, app: App, pages: Pages, world: World, actors: Actors, engine_name: str
) -> None:
    own = {urlsplit(pages.base_url).netloc}
    forms = 0
    signed_in: dict[uuid.UUID, Watched] = {}
    try:
        for kind, account, path in _new_pages(world, actors):
            if account not in signed_in:
                signed_in[account] = Watched(browser, pages)
                signed_in[account].sign_in(app, kind, account)
            tab = signed_in[account]
            tab.go(path)
            if path in SHOT:
                _shoot(tab, engine_name, SHOT[path])
            _check_language(tab, "en", "English")
            _check_language(tab, "zh-CN", "中文")
            assert tab.errors == [], (path, tab.errors)
            forms += _forge_every_form(tab, path)
            assert tab.hosts == own, (path, tab.hosts)
    finally:
        for tab in signed_in.values():
            tab.close()
    # sell ×2 and redeem, offers (new, pause ×2, close ×2), holds, sample, approve, reject,
    # and the two sign-out forms on every page
    assert forms >= 8 + 2 * len(_new_pages(world, actors))
    assert pages.api.state.web.catalogues.missing == set()
    assert rows(app, "select count(*) from sales")[0][0] == 0
    assert rows(app, "select state from issuance_batches")[0][0] == "open"


def _forge_every_form(tab: Watched, path: str) -> int:
    """Post every form of the page with a forged CSRF token: each must answer 403."""
    count = tab.page.locator("form[method=post]").count()
    for index in range(count):
        tab.go(path)
        form = tab.page.locator("form[method=post]").nth(index)
        form.locator("input[name=csrf]").evaluate("e => e.value = 'forged'")
        with tab.page.expect_navigation() as nav:
            form.evaluate("f => f.submit()")
        assert nav.value.status == 403, (path, index)
        assert "csrf_failed" in tab.page.content()
    assert all("403" in e for e in tab.errors)  # the browser logs each refused post
    tab.errors.clear()
    return count
