"""The FastAPI application factory: `create_app(App)`; served by `tanpuhui serve`.

`/docs` (Swagger UI) and `/redoc` load their scripts, styles and icon from the application
itself (the assets fastapi-offline ships), never from a CDN, and a content security policy
keeps them from loading anything else. Every response says
`X-Content-Type-Options: nosniff`; every `/v1` response (they are per caller) also says
`Cache-Control: no-store`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tanpuhui import __version__, web
from tanpuhui.adapters.event_codec import EventDecoder
from tanpuhui.api import certificates, errors, government, market_routes, retirement_routes, schemas
from tanpuhui.api.routes import router
from tanpuhui.api.security import FailureLimiter
from tanpuhui.api.transparency import router as transparency_router
from tanpuhui.bootstrap import App, database_ready
from tanpuhui.domain.signing import SignaturePolicy
from tanpuhui.services.transparency import publish_periodically

#: The documentation pages may load only what the application serves (ReDoc would otherwise
#: fetch its logo from cdn.redoc.ly); their bootstrap scripts are inline.
DOCS_POLICY = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    b"connect-src 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc", "/docs/oauth2-redirect")


class SecurityHeaders:
    """Pure ASGI middleware (no body buffering): nosniff everywhere, no-store under /v1, a
    content security policy of the application's own origin on the documentation pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = scope["path"].startswith("/v1/")
        docs = scope["path"] in DOCS_PATHS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                if private:
                    headers.append((b"cache-control", b"no-store"))
                if docs:
                    headers.append((b"content-security-policy", DOCS_POLICY))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def checkpoint_lifespan(app: App) -> Any:
    """Publish checkpoints every `checkpoint_interval_s` while the server runs (0: never)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        interval = app.settings.checkpoint_interval_s
        stop = threading.Event()
        if interval > 0:
            logger = logging.getLogger("tanpuhui.checkpoints")
            threading.Thread(
                target=publish_periodically,
                args=(app.ctx, interval, stop, logger.warning),
                name="checkpoints",
                daemon=True,
            ).start()
        try:
            yield
        finally:
            stop.set()

    return lifespan


def create_app(app: App) -> FastAPI:
    settings = app.settings
    api = FastAPIOffline(
        lifespan=checkpoint_lifespan(app),
        swagger_ui_parameters={"validatorUrl": None},
        title="tanpuhui API",
        version=__version__,
        description=(
            "The carbon-inclusion (碳普惠) metering platform's machine-to-machine API for scene "
            "enterprises. Every /v1 call except the person's is signed with the enterprise's "
            "Ed25519 key (docs/api.md). Errors are RFC 9457 problem+json with a stable `code`."
        ),
    )
    api.state.ctx = app.ctx
    api.state.decoder = EventDecoder(app.ctx.regions)
    api.state.ready = lambda: database_ready(app)
    api.state.body_timeout_s = settings.body_timeout_s
    api.state.auth_failures = FailureLimiter(
        settings.auth_failures_per_minute, settings.auth_failure_burst
    )
    api.state.certificate_lookups = certificates.lookup_limiter(
        settings.certificate_lookups_per_minute, settings.certificate_lookup_burst
    )
    api.state.signature_policy = SignaturePolicy(
        v1_until=settings.signature_v1_deadline(), hosts=settings.host_names()
    )
    errors.install(api)
    api.include_router(router)
    web.install(api, app)  # the pages (tanpuhui.web) on the same app and services
    api.include_router(government.router)
    api.include_router(market_routes.router)
    api.include_router(retirement_routes.router)
    api.include_router(transparency_router)
    api.include_router(certificates.router)
    api.add_middleware(SecurityHeaders)

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = get_openapi(
                title=api.title, version=api.version, description=api.description,
                routes=api.routes,
            )  # fmt: skip
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(schemas.components())  # the wire contract (adapters.wire)
            # the bodies of routes that read their own JSON (`routes.json_body` names them)
            for body in schemas.REQUEST_BODIES:
                doc = body.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(doc.pop("$defs", {}))
                components[body.__name__] = doc
            # FastAPI documents its own 422 body; ours is a problem like every other error
            problem_ref = {"$ref": "#/components/schemas/Problem"}
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    responses = operation.get("responses", {})
                    if "422" in responses:
                        responses["422"] = {
                            "description": "the request is invalid",
                            "content": {"application/problem+json": {"schema": problem_ref}},
                        }
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            schema["components"]["securitySchemes"] = {
                "Tanpuhui-Ed25519": {
                    "type": "apiKey", "in": "header", "name": "X-Tanpuhui-Signature",
                    "description": "with X-Tanpuhui-Credential, -Timestamp and -Nonce; "
                    "see docs/api.md",
                },
                "PersonToken": {"type": "http", "scheme": "bearer"},
            }  # fmt: skip
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
    return api
