"""The pages (issue 14): server-rendered, mobile-first, zh-CN and English, on the same FastAPI
app and the same services as the API. `install(api, app)` is the one hook `api/app.py` calls.

Modules: `i18n` (catalogues, language choice), `security` (session cookie, CSRF, sign-in
limits), `render` (templates, the per-request page context, errors as pages), and the routes
by actor: `public` (landing, methodologies, sign-in), `person` (我的碳账本) and `market` (the
person's sales and points), `console` (a scene enterprise's console), `platform` (a platform
enterprise's console), `government` (the dashboard), `verifier` (the MRV queue) and `operator`.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from tanpuhui.adapters.code_senders import ConsoleCodeSender
from tanpuhui.bootstrap import App
from tanpuhui.services.sign_in import CodeSender
from tanpuhui.web import (
    certificates,
    console,
    display_names,
    government,
    market,
    operator,
    person,
    platform,
    public,
    verifier,
)
from tanpuhui.web.render import FONTS_DIR, STATIC_DIR, Web


def install(api: FastAPI, app: App, sender: CodeSender | None = None) -> Web:
    """Mount the pages and their assets on `api` (the code sender: the console one by default)."""
    console_sender = ConsoleCodeSender()
    web = Web(app, sender or console_sender, console_sender if app.settings.mode == "dev" else None)
    api.state.web = web
    api.mount("/static/fonts", StaticFiles(directory=FONTS_DIR), name="fonts")
    api.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (
        public, person, market, console, platform, government, verifier, operator,
        certificates, display_names,
    ):  # fmt: skip
        api.include_router(module.router, include_in_schema=False)
    return web
