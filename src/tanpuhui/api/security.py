"""Who is calling: a signed enterprise request, or a person's bearer token (FastAPI
dependencies). The body is read here, once, with the size limit enforced while streaming."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from tanpuhui.domain.errors import PayloadTooLargeError
from tanpuhui.domain.parties import Enterprise, Person
from tanpuhui.domain.signing import (
    HEADER_CREDENTIAL,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
)
from tanpuhui.services.access import SignedRequest, admit_request, authenticate_person
from tanpuhui.services.context import Context


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


async def read_body(request: Request) -> bytes:
    limit = context(request).limits.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"the body is larger than {limit} bytes", details={"limit": limit}
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"the body is larger than {limit} bytes", details={"limit": limit}
            )
        chunks.append(chunk)
    body = b"".join(chunks)
    request.state.body = body
    return body


def signed_path(request: Request) -> str:
    """The path and query exactly as sent (percent-encoding kept), as the client signed it."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    path = raw.decode("latin-1")
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


async def signed_enterprise(request: Request) -> Enterprise:
    body = await read_body(request)
    h = request.headers
    signed = SignedRequest(
        method=request.method,
        path_and_query=signed_path(request),
        body=body,
        credential=h.get(HEADER_CREDENTIAL),
        timestamp=h.get(HEADER_TIMESTAMP),
        nonce=h.get(HEADER_NONCE),
        signature=h.get(HEADER_SIGNATURE),
    )
    return await run_in_threadpool(admit_request, context(request), signed)


async def bearer_person(request: Request) -> Person:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    return await run_in_threadpool(authenticate_person, context(request), token or None)
