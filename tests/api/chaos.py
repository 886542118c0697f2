"""A small "chaos" ASGI middleware: answers requests from a script of faults, then passes
through. It records every request it sees, so a test can count the client's attempts.

Faults, one per request, in order (requests after the script pass through; with `only`, the
script applies to requests for that path only):

- `"503"`: a 503 problem, the app is not called;
- `"429"`: a 429 problem with `Retry-After: 1`, the app is not called;
- `"drop"`: the connection breaks mid-response, the app is not called;
- `"lost"`: the app handles the request (and commits), then the connection breaks before the
  answer arrives — the case idempotent retries exist for;
- `"pass"`: the app answers.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class Seen:
    method: str
    path: str
    fault: str
    nonce: str | None = None  # the request's X-Tanpuhui-Nonce
    status: int | None = None  # what the app answered (None: the app was not called)
    lost_body: bytes = b""  # the app's answer that a "lost" fault kept from the client


class Chaos:
    def __init__(self, script: list[str], only: str | None = None) -> None:
        self.script = list(script)
        self.only = only
        self.seen: list[Seen] = []
        self.app: ASGIApp | None = None

    def wrap(self, app: ASGIApp) -> Chaos:
        self.app = app
        return self

    def attempts(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        targeted = self.only is None or scope["path"] == self.only
        fault = self.script.pop(0) if self.script and targeted else "pass"
        headers = dict(scope["headers"])
        nonce = headers.get(b"x-tanpuhui-nonce")
        seen = Seen(scope["method"], scope["path"], fault, nonce.decode() if nonce else None)
        self.seen.append(seen)
        if fault == "pass":
            await self.app(scope, receive, self._recording(send, seen))
        elif fault in ("503", "429"):
            await _drain(receive)
            await _problem(send, int(fault))
        elif fault == "drop":
            await _drain(receive)
            await _break(send)
        elif fault == "lost":
            await self.app(scope, receive, self._swallowing(seen))
            await _break(send)
        else:  # pragma: no cover - a typo in a test
            raise ValueError(f"unknown fault {fault!r}")

    @staticmethod
    def _recording(send: Send, seen: Seen) -> Send:
        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen.status = message["status"]
            await send(message)

        return recording

    @staticmethod
    def _swallowing(seen: Seen) -> Send:
        async def swallow(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen.status = message["status"]
            elif message["type"] == "http.response.body":
                seen.lost_body += message.get("body", b"")

        return swallow


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _problem(send: Send, status: int) -> None:
    code = {503: "unavailable", 429: "rate_limited"}[status]
    body = json.dumps(
        {
            "type": f"urn:tanpuhui:problem:{code}",
            "title": "chaos",
            "status": status,
            "detail": "injected by the chaos middleware",
            "code": code,
            "instance": "/",
        }
    ).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status == 429:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _break(send: Send) -> None:
    """Promise a body, send part of it and stop: the server closes the connection."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"1000")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b'{"outcomes": [', "more_body": True})
