"""Settings: one typed object, read once from the environment (`TANPUHUI_*`), passed down.

Nothing reads the environment anywhere else; nothing is read at import time.
"""

from __future__ import annotations

import re
from datetime import timedelta, timezone, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tanpuhui.domain.errors import ConfigurationError
from tanpuhui.domain.intake import MAX_BATCH_EVENTS

_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TANPUHUI_", extra="ignore")

    #: SQLite file by default; `postgresql://…` for production.
    database_url: str = "sqlite:///./tanpuhui.db"
    #: `dev` allows insecure conveniences; `prod` refuses to start with them.
    mode: Literal["dev", "prod"] = "dev"
    #: The platform's civil time zone: days (caps) and vintages (asset classes) are counted in it.
    #: An IANA name or a fixed offset such as +08:00 (China Standard Time, no daylight saving).
    timezone: str = "+08:00"
    #: Connections kept per process (PostgreSQL).
    pool_size: int = 5
    #: API limits: sustained requests per second per credential, and the burst allowed.
    rate_limit_per_s: float = Field(default=20.0, gt=0)
    rate_limit_burst: float = Field(default=40.0, ge=1)
    #: Largest request body accepted (bytes) and largest batch (events).
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_batch: int = Field(default=MAX_BATCH_EVENTS, ge=1, le=MAX_BATCH_EVENTS)
    #: Distinct subjects settled per transaction (PostgreSQL takes one or two advisory locks
    #: each: keep 2 × this × concurrent writers below max_locks_per_transaction × connections).
    max_subjects_per_transaction: int = Field(default=4000, ge=10, le=100_000)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        parse_timezone(value)
        return value

    def tz(self) -> tzinfo:
        return parse_timezone(self.timezone)

    def check_production(self) -> None:
        """Refuse to start in prod mode with the embedded database."""
        if self.mode == "prod" and self.database_url.startswith("sqlite"):
            raise ConfigurationError("TANPUHUI_MODE=prod needs a PostgreSQL TANPUHUI_DATABASE_URL")


def parse_timezone(value: str) -> tzinfo:
    match = _OFFSET.match(value)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
