"""The storage the leaderboard and certificate services need (adapters/db/
certificates_repository.py implements it)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from tanpuhui.domain.leaderboard import Tally


@dataclass(frozen=True, slots=True)
class DisplayName:
    person_id: uuid.UUID
    name: str
    opted_in: bool
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    shard: int
    serial: str
    kind: str
    holder: str  # the account it is about (person:… or enterprise:…)
    award: str  # the idempotency key: one certificate per holder and award
    content: bytes  # canonical JSON, exactly as signed
    signature: str  # base64 Ed25519 over SIGNING_CONTEXT + content
    key_name: str
    issued_at: datetime


class CertificateRepository(Protocol):
    def set_display_name(self, name: DisplayName) -> None: ...
    def find_display_name(self, person_id: uuid.UUID) -> DisplayName | None: ...
    def opted_in_names(self, person_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]: ...
    def tallies(
        self,
        behaviours: Sequence[str] | None,
        group: str | None,
        prefixes: Sequence[str],
        first: date,
        last: date,
    ) -> list[Tally]: ...
    def find_award(self, shard: int, holder: str, award: str) -> StoredCertificate | None: ...
    def find(self, shard: int, serial: str) -> StoredCertificate | None: ...
    def add(self, cert: StoredCertificate) -> None: ...
