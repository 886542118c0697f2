"""Transient database refusals reach API clients as retryable problems (503 + Retry-After),
in the project's problem format, without the driver's words."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi import FastAPI

from tanpuhui.api.errors import install
from tanpuhui.domain.errors import LockTableFullError, RaceLostError


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (
            RaceLostError('duplicate key value violates unique constraint "pk_x"'),
            "concurrent_write",
        ),
        (LockTableFullError("out of shared memory"), "database_busy"),
    ],
)
def test_a_transient_refusal_is_a_retryable_problem(error: Exception, code: str) -> None:
    app = FastAPI()
    install(app)

    @app.get("/boom")
    def boom() -> None:
        raise error

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.get("/boom")

    # on a thread of its own: a browser test earlier on this worker may leave Playwright's
    # event loop running on this one, and asyncio.run refuses to nest
    with ThreadPoolExecutor(1) as pool:
        response = pool.submit(lambda: asyncio.run(call())).result()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code
    assert "retry" in body["detail"]
    assert "unique constraint" not in response.text and "shared memory" not in response.text
