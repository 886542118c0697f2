"""The FastAPI application factory: `create_app(App)`; served by `tanpuhui serve`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from tanpuhui import __version__
from tanpuhui.adapters.event_codec import EventDecoder
from tanpuhui.api import errors, schemas
from tanpuhui.api.routes import router
from tanpuhui.bootstrap import App, database_ready


def create_app(app: App) -> FastAPI:
    api = FastAPI(
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
    errors.install(api)
    api.include_router(router)

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = get_openapi(
                title=api.title, version=api.version, description=api.description,
                routes=api.routes,
            )  # fmt: skip
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(schemas.components())  # the wire contract (adapters.wire)
            binding = schemas.BindingRequest.model_json_schema()
            components["BindingRequest"] = binding
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
