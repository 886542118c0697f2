"""Every error an HTTP client can see, as RFC 9457 `application/problem+json`, mapped here only.

    {"type": "urn:tanpuhui:problem:bad_signature", "title": "Unauthorized", "status": 401,
     "detail": "the signature does not verify …", "code": "bad_signature", "instance": "/v1/events"}

Project errors keep their stable `code`; request-shape errors are `invalid_request` (a bad
feed `limit` is `invalid_limit`, a bad `after` is `invalid_cursor`, as documented); transient
refusals (lost races, busy or unmigrated database) are 503 with `Retry-After`; anything
unexpected is a 500 `internal_error` whose detail says nothing about internals (it is logged).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tanpuhui.domain.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    LedgerError,
    MarketError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    RequestTimeoutError,
    TanpuhuiError,
    UnavailableError,
)

log = logging.getLogger("tanpuhui.api")
PROBLEM = "application/problem+json"

STATUS: list[tuple[type[TanpuhuiError], int]] = [
    (PayloadTooLargeError, 413),
    (RequestTimeoutError, 408),
    (InvalidInputError, 422),
    (AuthenticationError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (LedgerError, 409),
    (MarketError, 409),
    (RateLimitedError, 429),
    (UnavailableError, 503),
    (ConfigurationError, 503),
]
TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 413: "Content Too Large",
    415: "Unsupported Media Type", 422: "Unprocessable Content", 429: "Too Many Requests",
    500: "Internal Server Error", 503: "Service Unavailable",
}  # fmt: skip


#: Query parameters whose refusal has its own documented code.
QUERY_CODES = {"query.limit": "invalid_limit", "query.after": "invalid_cursor"}


def problem(
    status: int,
    code: str,
    detail: str,
    instance: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:tanpuhui:problem:{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
    }
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def status_of(error: TanpuhuiError) -> int:
    return next((s for kind, s in STATUS if isinstance(error, kind)), 500)


def install(app: FastAPI) -> None:
    @app.exception_handler(TanpuhuiError)
    async def _project(request: Request, exc: TanpuhuiError) -> JSONResponse:
        status = status_of(exc)
        headers: dict[str, str] = {}
        extra: dict[str, Any] = {}
        if isinstance(exc, RateLimitedError):
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
            extra["retry_after_s"] = round(exc.retry_after_s, 3)
        if isinstance(exc, UnavailableError):  # transient: the same request may succeed soon
            headers["Retry-After"] = "1"
        if isinstance(exc, AuthenticationError):
            scheme = "Bearer" if exc.code == "invalid_token" else "Tanpuhui-Ed25519"
            headers["WWW-Authenticate"] = scheme
        if "problems" in exc.details:
            extra["problems"] = list(exc.details["problems"])
        if "limit" in exc.details:
            extra["limit"] = exc.details["limit"]
        return problem(status, exc.code, exc.message, request.url.path, extra, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"location": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        code = next(
            (QUERY_CODES[loc] for loc in (e["location"] for e in errors) if loc in QUERY_CODES),
            "invalid_request",
        )
        return problem(
            422, code, "the request does not match the API's schema", request.url.path,
            {"errors": errors},
        )  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(exc.headers) if exc.headers else None
        return problem(exc.status_code, code, str(exc.detail), request.url.path, headers=headers)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal_error", "an internal error occurred", request.url.path)
