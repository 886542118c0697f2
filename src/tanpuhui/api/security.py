"""Who is calling: a signed enterprise request, or a person's bearer token (FastAPI
dependencies). Cheap refusals come first: an address that keeps failing authentication is
answered 429 before anything else; the signature headers' form and the timestamp are checked,
and a declared Content-Length over the limit refused, before the body is read; the body is
read once, with the size limit enforced while streaming and a deadline for slow uploads; only
then is the signature verified (services.access)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from tanpuhui.domain.errors import (
    AuthenticationError,
    PayloadTooLargeError,
    RateLimitedError,
    RequestTimeoutError,
)
from tanpuhui.domain.officials import Official, OfficialKind
from tanpuhui.domain.parties import Enterprise, Person
from tanpuhui.domain.signing import (
    HEADER_CREDENTIAL,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    SignaturePolicy,
)
from tanpuhui.services.access import (
    SignedRequest,
    admit_request,
    authenticate_person,
    screen_request,
)
from tanpuhui.services.context import Context
from tanpuhui.services.officials import authenticate_official

T = TypeVar("T")


class FailureLimiter:
    """Failed authentications per client address, a token bucket each (in this process: run
    one limiter in front of several processes at the reverse proxy, docs/operations.md).

    Only failures take tokens, so a client that signs correctly is never slowed by it; memory
    is bounded by forgetting full buckets when there are too many addresses."""

    MAX_ADDRESSES = 10_000

    def __init__(self, per_minute: float, burst: float) -> None:
        self.rate, self.burst = per_minute / 60.0, burst
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def _level(self, address: str, now: float) -> float:
        tokens, at = self.buckets.get(address, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def check(self, address: str) -> None:
        """Refuse an address whose failures used up its bucket."""
        with self.lock:
            tokens = self._level(address, time.monotonic())
        if tokens < 1:
            raise RateLimitedError(
                "too many failed authentications from this address",
                retry_after_s=(1 - tokens) / self.rate,
            )

    def fail(self, address: str) -> None:
        now = time.monotonic()
        with self.lock:
            self.buckets[address] = (max(0.0, self._level(address, now) - 1), now)
            if len(self.buckets) > self.MAX_ADDRESSES:
                for key in [k for k in self.buckets if self._level(k, now) >= self.burst]:
                    del self.buckets[key]


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def _address(request: Request) -> str:
    return request.client.host if request.client else "-"


async def guarded(request: Request, step: Callable[[], Awaitable[T]]) -> T:
    """Run an authentication step; a failure counts against the caller's address."""
    limiter: FailureLimiter = request.app.state.auth_failures
    address = _address(request)
    limiter.check(address)
    try:
        return await step()
    except AuthenticationError:
        limiter.fail(address)
        raise


def check_declared_size(request: Request) -> int:
    """Refuse a declared Content-Length over the limit (nothing read yet); the limit."""
    limit = context(request).limits.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"the body is larger than {limit} bytes", details={"limit": limit}
        )
    return limit


async def read_body(request: Request) -> bytes:
    limit = check_declared_size(request)
    deadline: float = request.app.state.body_timeout_s
    try:
        async with asyncio.timeout(deadline):
            body = await _stream(request, limit)
    except TimeoutError:
        raise RequestTimeoutError(
            f"the body did not arrive within {deadline:g} s", details={"limit": deadline}
        ) from None
    request.state.body = body
    return body


async def _stream(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"the body is larger than {limit} bytes", details={"limit": limit}
            )
        chunks.append(chunk)
    return b"".join(chunks)


def signed_path(request: Request) -> str:
    """The path and query exactly as sent (percent-encoding kept), as the client signed it."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    path = raw.decode("latin-1")
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


async def signed_enterprise(request: Request) -> Enterprise:
    async def admit() -> Enterprise:
        h = request.headers
        signed = SignedRequest(
            method=request.method,
            host=h.get("host", ""),
            path_and_query=signed_path(request),
            body=b"",
            credential=h.get(HEADER_CREDENTIAL),
            timestamp=h.get(HEADER_TIMESTAMP),
            nonce=h.get(HEADER_NONCE),
            signature=h.get(HEADER_SIGNATURE),
        )
        ctx = context(request)
        check_declared_size(request)  # before the body is read, as is
        screen_request(ctx, signed)
        body = await read_body(request)
        policy: SignaturePolicy = request.app.state.signature_policy
        full = dataclasses.replace(signed, body=body)
        return await run_in_threadpool(admit_request, ctx, full, policy)

    return await guarded(request, admit)


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer …` header (None: no such header)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return (token.strip() if scheme.lower() == "bearer" else "") or None


async def bearer_person(request: Request) -> Person:
    token = bearer_token(request)

    async def authenticate() -> Person:
        return await run_in_threadpool(authenticate_person, context(request), token)

    return await guarded(request, authenticate)


def bearer_official(kind: OfficialKind) -> Callable[[Request], Awaitable[Official]]:
    """The dependency that authenticates an official of `kind` (operator, government,
    verifier) by its bearer token, before anything else of the request is read."""

    async def official(request: Request) -> Official:
        token = bearer_token(request)

        async def authenticate() -> Official:
            return await run_in_threadpool(authenticate_official, context(request), token, kind)

        return await guarded(request, authenticate)

    return official
