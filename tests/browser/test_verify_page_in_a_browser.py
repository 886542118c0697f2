"""The public certificate verification page in a real browser at phone width (390 px), on both
engines: what a phone opens from a certificate's QR code. It shows the certificate in Chinese
(rendered with the package font), switches to English, loads nothing from any other host and
logs no error; a screenshot is kept in docs/screenshots/verify-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tanpuhui.bootstrap import App
from tests.browser.test_pages_in_a_browser import PHONE, Watched, _check_language, _shoot
from tests.integration.test_certificates import cyclists, top_two
from tests.pages_world import Pages, serve_pages


@pytest.fixture
def pages(app: App) -> Iterator[Pages]:
    with serve_pages(app) as served:
        yield served


def test_the_verification_page_renders_at_phone_width_in_both_languages(
    browser: Any, app: App, pages: Pages, engine_name: str
) -> None:
    cyclists(app)
    serial = top_two(app)[0].serial
    tab = Watched(browser, pages, PHONE)
    try:
        page = tab.page
        tab.go(f"/verify/{serial}")
        assert page.get_by_role("heading", level=1).inner_text() == "证书验证"
        main = page.inner_text("main")
        assert "真实有效" in main and "骑行达人" in main and serial in main
        assert page.evaluate(  # waits for the font to arrive (check() alone raced its download)
            "document.fonts.load('16px \"Tanpuhui Sans\"', '碳').then(faces => faces.length > 0)"
        )
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], "the page scrolls sideways on a phone"
        _shoot(tab, engine_name, "verify")
        _check_language(tab, "en", "English")
        assert "Leaderboard certificate" in page.inner_text("main")
        assert tab.errors == [] and tab.hosts == {urlsplit(pages.base_url).netloc}
        assert tab.go("/verify/TPH-L20261117-0001-0000000000Z").status == 400  # mistyped
        assert "invalid_serial" in page.inner_text("main")
    finally:
        tab.close()
