"""HTTP API fixtures: the real FastAPI app served by uvicorn on 127.0.0.1 over real HTTP.

`serve(**settings)` builds the app on this test's fresh database (SQLite or PostgreSQL, from
`database_url`) with business time fixed at `NOW` — request signatures still use the real
wall clock — and serves it on a free port from a background thread, stopped after the test.
`server` is the default one. Onboarding goes through the services, as an operator would.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from tanpuhui.adapters.crypto import generate_key, private_pem, public_raw, sign
from tanpuhui.adapters.system import FixedClock
from tanpuhui.api.app import create_app
from tanpuhui.bootstrap import App, build
from tanpuhui.client import Client
from tanpuhui.config import Settings
from tanpuhui.domain.parties import Enterprise, Person, Role
from tanpuhui.domain.signing import (
    HEADER_CREDENTIAL,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    canonical_request,
    canonical_request_v1,
)
from tanpuhui.services.access import issue_person_token, register_credential
from tanpuhui.services.context import Context
from tanpuhui.services.parties import add_enterprise, add_person
from tests.conftest import NOW

PROBLEM = "application/problem+json"
#: What must never leak into a response: tracebacks, SQL, driver or ORM names.
LEAKS = ("Traceback", 'File "', "sqlalchemy", "psycopg", "sqlite3", "SELECT ", "INSERT ", " FROM ")


@dataclass
class LiveServer:
    base_url: str
    app: App
    api: FastAPI
    http: httpx.Client  # plain, unsigned HTTP to the server

    @property
    def ctx(self) -> Context:
        return self.app.ctx


@dataclass(frozen=True)
class Onboarded:
    """A scene enterprise with one API credential; the private key stays with the test."""

    enterprise: Enterprise
    credential_id: uuid.UUID
    key: Ed25519PrivateKey
    base_url: str

    def client(self, **kw: Any) -> Client:
        kw.setdefault("backoff", 0.01)
        kw.setdefault("timeout", 30.0)
        return Client(self.base_url, str(self.credential_id), private_pem(self.key), **kw)

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    def headers(self, method: str, path_and_query: str, body: bytes = b"", **kw: Any) -> dict:
        kw.setdefault("host", self.host)
        return signed_headers(self.key, self.credential_id, method, path_and_query, body, **kw)


@dataclass(frozen=True)
class Persona:
    person: Person
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def signed_headers(
    key: Ed25519PrivateKey,
    credential_id: uuid.UUID | str,
    method: str,
    path_and_query: str,
    body: bytes = b"",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
    content_type: str | None = "application/json",
    host: str = "",
    version: int = 2,
) -> dict[str, str]:
    """The four signature headers for exactly this request (docs: domain.signing), signed
    for `host` (signature version 2; `version=1` for the deprecated one)."""
    ts = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_urlsafe(18)
    if version == 1:
        message = canonical_request_v1(method, path_and_query, ts, nonce, body)
    else:
        message = canonical_request(method, host, path_and_query, credential_id, ts, nonce, body)
    headers = {
        HEADER_CREDENTIAL: str(credential_id),
        HEADER_TIMESTAMP: str(ts),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: sign(key, message),
    }
    if content_type is not None:
        headers["Content-Type"] = content_type
    return headers


def onboard_enterprise(server: LiveServer, name: str = "Bikes") -> Onboarded:
    enterprise = add_enterprise(server.ctx, name, {Role.SCENE})
    key = generate_key()
    credential = register_credential(server.ctx, enterprise.id, public_raw(key))
    return Onboarded(enterprise, credential.id, key, server.base_url)


def onboard_person(server: LiveServer) -> Persona:
    person = add_person(server.ctx)
    return Persona(person, issue_person_token(server.ctx, person.id))


def send_signed(
    server: LiveServer,
    who: Onboarded,
    method: str,
    path_and_query: str,
    body: bytes = b"",
    **kw: Any,
) -> httpx.Response:
    """One request signed by `who` for exactly these bytes, sent as is (no retries)."""
    headers = who.headers(method, path_and_query, body, **kw)
    return server.http.request(method, path_and_query, content=body or None, headers=headers)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """`response` is an RFC 9457 problem with this status and stable code, and leaks nothing."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].split(";")[0] == PROBLEM, response.headers
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"] == f"urn:tanpuhui:problem:{code}"
    assert {"title", "detail", "instance"} <= body.keys()
    assert_no_leak(response)
    return dict(body)


def assert_no_leak(response: httpx.Response) -> None:
    text = response.text
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} in response: {text[:500]}"


class LogWatch(logging.Handler):
    """Every log record with a traceback, or at ERROR and above, from any thread."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.bad: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR or "Traceback" in str(record.msg):
            self.bad.append(f"{record.name}: {record.getMessage()}")


@pytest.fixture
def log() -> Iterator[LogWatch]:
    watch = LogWatch()
    root = logging.getLogger()
    root.addHandler(watch)
    try:
        yield watch
    finally:
        root.removeHandler(watch)


class _NoSecondTraceback(logging.Filter):
    """Starlette re-raises an unhandled error after the app has logged it and sent its 500, and
    uvicorn then logs it again with a traceback — in the server thread, while the test thread
    may be formatting a failure. Python 3.11 cannot format tracebacks (`ast.parse`) in two
    threads at once ("AST constructor recursion depth mismatch"), so drop that duplicate; the
    app's own log record (tanpuhui.api) keeps the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.exc_info is None


class _ServerThread:
    def __init__(self, api: Callable[..., Any]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            api,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.quiet = _NoSecondTraceback()
        logging.getLogger("uvicorn.error").addFilter(self.quiet)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("uvicorn did not start within 20 s")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        if self.thread.is_alive():  # pragma: no cover - a hung connection
            self.server.force_exit = True
            self.thread.join(timeout=5)
        self.sock.close()
        logging.getLogger("uvicorn.error").removeFilter(self.quiet)
        assert not self.thread.is_alive(), "the uvicorn thread did not stop"


Serve = Callable[..., LiveServer]


@pytest.fixture
def serve(database_url: str) -> Iterator[Serve]:
    """Start the app over real HTTP: `serve(max_batch=5, wrap=Middleware)` → `LiveServer`.
    Keyword arguments other than `wrap` are `Settings`; `wrap(api)` may wrap the ASGI app."""
    started: list[tuple[_ServerThread, LiveServer]] = []

    def start(wrap: Callable[[FastAPI], Any] | None = None, **settings: Any) -> LiveServer:
        app = build(Settings(database_url=database_url, **settings), clock=FixedClock(NOW))
        api = create_app(app)
        thread = _ServerThread(wrap(api) if wrap else api)
        try:
            thread.start()
        except BaseException:
            app.close()
            raise
        base_url = f"http://127.0.0.1:{thread.port}"
        live = LiveServer(base_url, app, api, httpx.Client(base_url=base_url, timeout=30))
        started.append((thread, live))
        return live

    yield start
    for thread, live in reversed(started):
        live.http.close()
        thread.stop()
        live.app.close()


@pytest.fixture
def server(serve: Serve) -> LiveServer:
    """The app with default settings, but a rate limit no test walking the feed runs into, and
    room for the many refused requests of the security tests (all from 127.0.0.1)."""
    return serve(
        rate_limit_per_s=1000,
        rate_limit_burst=1000,
        auth_failures_per_minute=60_000,
        auth_failure_burst=1000,
    )


@pytest.fixture
def bikes(server: LiveServer) -> Onboarded:
    return onboard_enterprise(server, "Bikes")


@pytest.fixture
def client(bikes: Onboarded) -> Iterator[Client]:
    with bikes.client() as c:
        yield c
