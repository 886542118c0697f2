"""The storage the pages need (issue 14): sign-in (users, codes, sessions) and the read
queries behind the person's ledger, the enterprise console and the landing page.

Kept apart from `ports.py` so the pages' contracts live in one place; `UnitOfWork` names the
two repositories (`sign_in`, `pages`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from tanpuhui.domain.audit import SealedRecord
from tanpuhui.domain.retirement import Export
from tanpuhui.domain.sign_in import Principal, Session, SignInCode, WebUser
from tanpuhui.services.certificate_ports import StoredCertificate
from tanpuhui.services.ports import IssuanceBatch, ReductionView


class SignInRepository(Protocol):
    def add_user(self, user: WebUser) -> None: ...
    def find_user(self, user_id: uuid.UUID) -> WebUser | None: ...
    def users_of(self, enterprise_id: uuid.UUID) -> list[WebUser]: ...
    def add_code(self, code: SignInCode) -> None: ...
    def codes_since(self, principal: Principal, since: datetime) -> int: ...
    def latest_code(self, principal: Principal) -> SignInCode | None: ...
    def count_attempt(self, code: SignInCode) -> None: ...
    def spend_code(self, code: SignInCode, now: datetime) -> bool: ...
    def add_session(self, session: Session) -> None: ...
    def find_session(self, shard: int, digest: bytes) -> Session | None: ...
    def revoke_session(self, shard: int, digest: bytes, now: datetime) -> None: ...
    def revoke_all(self, principal: Principal, now: datetime) -> int: ...


@dataclass(frozen=True, slots=True)
class Share:
    """Grams of one slice (a behaviour, an enterprise, a day, a region)."""

    key: str
    grams: int
    count: int


@dataclass(frozen=True, slots=True)
class Slice:
    """A holder's live grams and reductions of one day, behaviour and enterprise."""

    day: date
    behaviour: str
    enterprise: str
    grams: int
    count: int


@dataclass(frozen=True, slots=True)
class NotCredited:
    """A claim of the person's that was not credited, and what it lost to. `kept_*` is filled
    only when the kept claim is the person's own (never another holder's data)."""

    event_id: str
    enterprise: str
    behaviour: str | None
    started_at: datetime | None
    why: str  # duplicate | capped | too_frequent | duplicate_at_binding …
    kept_is_mine: bool
    kept_behaviour: str | None
    kept_started_at: datetime | None
    kept_enterprise: str | None


@dataclass(frozen=True, slots=True)
class RejectedReason:
    reason: str
    count: int
    examples: list[tuple[str, str]]  # (event_id, message)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page of a list that grows starts (keyset paging, never OFFSET): the items
    strictly older than (`at`, `id`) in the list's order, newest first."""

    at: datetime
    id: str
    open: bool = False  # the verifier queue's batches: open ones come first


class PageQueries(Protocol):
    def slices(self, holder: str) -> list[Slice]: ...
    def reductions_page(
        self, holder: str, limit: int, cursor: Cursor | None, *, older: bool = True
    ) -> list[ReductionView]: ...
    def certificates_of(self, shard: int, holder: str) -> list[StoredCertificate]: ...
    def exports_of(self, enterprise_id: uuid.UUID) -> list[Export]: ...
    def recent_exports(self, limit: int) -> list[Export]: ...
    def reduction_of(self, holder: str, reduction_id: uuid.UUID) -> ReductionView | None: ...
    def not_credited(self, person_id: uuid.UUID, limit: int) -> list[NotCredited]: ...
    def region_persons(self, prefix_length: int) -> list[Share]: ...
    def intake_counts(self, enterprise_id: uuid.UUID) -> dict[str, int]: ...
    def rejected(self, enterprise_id: uuid.UUID, examples: int) -> list[RejectedReason]: ...
    def batches(
        self, limit: int, cursor: Cursor | None = None, *, older: bool = True
    ) -> list[IssuanceBatch]: ...
    def audit_page(
        self, actor: str | None, kind: str | None, limit: int, cursor: int | None, *, older: bool
    ) -> list[SealedRecord]: ...
