"""The demo's API server process, owned by the demo.

It ends with the demo (`die_with_parent`, whatever ends the demo, SIGKILL included), binds its
own port (exit status `PORT_TAKEN` when it is in use) and stamps every response with the random
instance token the demo gave it, so the demo never talks to a server that is not its own.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from typing import Any

import httpx

from tanpuhui.adapters.processes import die_with_parent, failure_of, listen, port_error
from tanpuhui.adapters.system import SharedClock
from tanpuhui.bootstrap import build, tune_runtime
from tanpuhui.config import Settings
from tanpuhui.domain.errors import ConfigurationError

HOST = "127.0.0.1"
INSTANCE_HEADER = "x-tanpuhui-demo-instance"
PORT_TAKEN = 98  # the server process's exit status when its port is in use (EADDRINUSE)


def serve_api(url: str, port: int, clock: Any, token: str, failures: Any = None) -> None:
    """The API server process: ends with the demo (`die_with_parent`); exits PORT_TAKEN when
    the port is in use; every response carries the demo's instance token. Why it could not
    start goes to `failures` (a SimpleQueue), for the demo to report."""
    die_with_parent()
    try:
        sock = listen(HOST, port)
    except ConfigurationError:
        sys.exit(PORT_TAKEN)
    try:
        server = _server(url, clock, token)
    except Exception as exc:
        if failures is None:
            raise
        failures.put(failure_of(exc))
        sys.exit(1)
    server.run(sockets=[sock])


def _server(url: str, clock: Any, token: str) -> Any:
    import uvicorn

    from tanpuhui.api.app import create_app

    tune_runtime()
    settings = Settings(database_url=url, rate_limit_per_s=5000, rate_limit_burst=5000)
    api = create_app(build(settings, clock=SharedClock(clock)))
    config = uvicorn.Config(
        _stamped(api, token), log_level="warning", timeout_graceful_shutdown=3, lifespan="on"
    )
    return uvicorn.Server(config)


def _stamped(app: Any, token: str) -> Any:
    """`app` with the header `INSTANCE_HEADER: token` on every HTTP response."""
    stamp = (INSTANCE_HEADER.encode(), token.encode())

    async def stamped(scope: Any, receive: Any, send: Any) -> None:
        async def send_stamped(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), stamp]}
            await send(message)

        await app(scope, receive, send_stamped if scope["type"] == "http" else send)

    return stamped


def wait_ready(base: str, port: int, process: Any, token: str, failures: Any = None) -> None:
    """Until the demo's own server answers ready. A server that answers without the demo's
    token is someone else's (a stale demo, another program): reported, never talked to."""
    for _ in range(300):
        if not process.is_alive():
            if process.exitcode == PORT_TAKEN:
                raise port_error(HOST, port)
            why = "" if failures is None or failures.empty() else f": {failures.get().message}"
            raise ConfigurationError(
                f"the API server did not start (exit code {process.exitcode}){why}"
            )
        try:
            answer = httpx.get(f"{base}/readyz", timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        if answer.headers.get(INSTANCE_HEADER) != token:
            raise ConfigurationError(
                f"{base} is answered by another server, not this demo's (a stale tanpuhui "
                f"demo or server?): stop it, or choose another port with --port",
                code="foreign_server",
            )
        if answer.status_code == 200:
            return
        time.sleep(0.1)
    raise ConfigurationError("the API server did not become ready")


def stop(process: multiprocessing.process.BaseProcess) -> None:
    if process.is_alive():
        process.terminate()
        process.join(10)
    if process.is_alive():
        process.kill()
    process.join()
