"""ASGI entry for uvicorn (`tanpuhui.api.asgi:app`, a factory): settings from the environment."""

from __future__ import annotations

from fastapi import FastAPI

from tanpuhui.api.app import create_app
from tanpuhui.bootstrap import build, tune_runtime
from tanpuhui.config import Settings


def app() -> FastAPI:
    tune_runtime()
    settings = Settings()
    settings.check_production()
    return create_app(build(settings))
