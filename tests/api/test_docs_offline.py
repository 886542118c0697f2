"""`/docs` (Swagger UI) and `/redoc` work with the network closed to everything but the
application: a real Chromium opens them from the real server on 127.0.0.1, every request the
page makes is routed through the test, none may leave 127.0.0.1, and the UI renders the API's
operations. (Was: both pages loaded their scripts from a third-party CDN.)"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from tests.api.conftest import LiveServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def open_page(browser: Browser, url: str) -> tuple[Page, list[str], list[str]]:
    """The page at `url`, with every request it made and those that left 127.0.0.1 (which are
    aborted, as a closed network would)."""
    context = browser.new_context()
    page = context.new_page()
    seen: list[str] = []
    outside: list[str] = []

    def route(r: Route) -> None:
        request_url = r.request.url
        seen.append(request_url)
        parts = urlsplit(request_url)
        if parts.scheme in ("data", "blob") or parts.hostname == "127.0.0.1":
            r.continue_()
        else:
            outside.append(request_url)
            r.abort()

    context.route("**/*", route)
    page.goto(url, wait_until="networkidle")
    return page, seen, outside


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_swagger_ui_renders_from_the_application_alone(
    server: LiveServer, browser: Browser
) -> None:
    page, seen, outside = open_page(browser, f"{server.base_url}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert outside == []
    assert any(url.endswith("/openapi.json") for url in seen)
    assert any(url.endswith(".js") for url in seen)  # its scripts came from the app
    assert any("/v1/events" in p for p in paths) and any("/v1/outcomes" in p for p in paths)


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_redoc_renders_from_the_application_alone(server: LiveServer, browser: Browser) -> None:
    page, seen, outside = open_page(browser, f"{server.base_url}/redoc")
    page.wait_for_selector("text=Submit a batch of behaviour events", timeout=20_000)
    assert outside == []
    assert any(url.endswith("redoc.standalone.js") for url in seen)
    assert page.locator("text=Your outcome feed").count() > 0
