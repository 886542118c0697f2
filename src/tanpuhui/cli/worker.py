"""The ASGI factory `tanpuhui serve --workers N` gives uvicorn (`tanpuhui.cli.worker:app`).

Each worker process is tied to the supervisor that spawned it (`die_with_parent`): if the
supervisor is killed, even with SIGKILL, its workers end instead of holding the port.
"""

from __future__ import annotations

from fastapi import FastAPI

from tanpuhui.adapters.processes import die_with_parent
from tanpuhui.api import asgi


def app() -> FastAPI:
    die_with_parent()
    return asgi.app()
