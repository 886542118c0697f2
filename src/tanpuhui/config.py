"""Settings: one typed object, read once from the environment (`TANPUHUI_*`), passed down.

Nothing reads the environment anywhere else; nothing is read at import time.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
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

    #: A request body must arrive within this many seconds (stalled uploads are cut off).
    body_timeout_s: float = Field(default=30.0, gt=0)
    #: Failed authentications allowed per client address: sustained per minute, and a burst;
    #: past them the address is answered 429 before any work is done for it.
    auth_failures_per_minute: float = Field(default=60.0, gt=0)
    auth_failure_burst: float = Field(default=20.0, ge=1)
    #: Version 1 request signatures (no host, no credential id) are accepted until this day
    #: (UTC); empty: refused. docs/api.md gives the deprecation period.
    signature_v1_until: date | None = date(2027, 7, 1)
    #: Comma-separated host names (with `:port` when not the default) this deployment answers
    #: to; when set, requests signed for any other host are refused (`wrong_host`).
    public_hosts: str = ""
    #: Regional aggregates: a cell with fewer active persons than this is suppressed (k).
    min_persons: int = Field(default=10, ge=1)
    #: /readyz probes a write (rolled back) and is not ready when it waits longer than this.
    ready_write_timeout_s: float = Field(default=0.5, gt=0)

    #: The checkpoint log's origin (the first line of every signed checkpoint, and the key
    #: name of its signature) and the platform's Ed25519 signing key for it: PKCS#8 PEM or a
    #: base64 32-byte seed (`tanpuhui ledger keygen`). Empty: a publicly known dev key (prod
    #: refuses to start with it).
    checkpoint_origin: str = "tanpuhui.example/ledger"
    #: Where the public pages are reached: certificates' QR codes point at `{this}/verify/…`.
    public_base_url: str = "http://127.0.0.1:8000"
    #: Public certificate look-ups (API and /verify pages) per client address: sustained per
    #: minute, and a burst; past them the address is answered 429.
    certificate_lookups_per_minute: float = Field(default=60.0, gt=0)
    certificate_lookup_burst: float = Field(default=30.0, ge=1)
    checkpoint_key: str = ""
    #: The server publishes a checkpoint this often (seconds; 0: only on demand).
    checkpoint_interval_s: float = Field(default=0.0, ge=0)
    #: Business time is this moment (ISO 8601 with its offset) and stands still there, the
    #: same for every command: replaying a past day, tests that must not depend on today's
    #: date. Empty: the system clock. Request signatures and sessions keep the real clock;
    #: prod refuses it.
    now: datetime | None = None

    @field_validator("now", mode="before")
    @classmethod
    def _empty_now_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("now")
    @classmethod
    def _now_has_an_offset(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("TANPUHUI_NOW needs its UTC offset, e.g. 2026-11-17T15:30:00+08:00")
        return value

    @field_validator("signature_v1_until", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        parse_timezone(value)
        return value

    def signature_v1_deadline(self) -> datetime | None:
        day = self.signature_v1_until
        return datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None

    def host_names(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.public_hosts.split(",") if h.strip())

    def tz(self) -> tzinfo:
        return parse_timezone(self.timezone)

    def check_production(self) -> None:
        """Refuse to start in prod mode with the embedded database."""
        if self.mode == "prod" and self.database_url.startswith("sqlite"):
            raise ConfigurationError("TANPUHUI_MODE=prod needs a PostgreSQL TANPUHUI_DATABASE_URL")
        if self.mode == "prod" and not self.checkpoint_key.strip():
            raise ConfigurationError("TANPUHUI_MODE=prod needs a TANPUHUI_CHECKPOINT_KEY")
        if self.mode == "prod" and self.now is not None:
            raise ConfigurationError(
                "TANPUHUI_MODE=prod runs on the system clock: unset TANPUHUI_NOW"
            )


def parse_timezone(value: str) -> tzinfo:
    match = _OFFSET.match(value)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
