"""Signing in to the pages: who a principal is, one-time sign-in codes and sessions.

A **principal** is whoever signs in: a person (`person:{id}`), an enterprise's user
(`user:{id}` of one scene or platform enterprise), an operator (`operator:{id}`), or an
official — a government account (`government:{id}`, scoped to its region) or a verifier
(`verifier:{id}`). Every row about a principal's sign-in (its codes, its sessions) lives in the
shard of its *owner account*: the person's account, the enterprise's account for its users,
the principal's own key for operators and officials — so signing in,
reading a session and "sign out everywhere" never leave one shard.

Invariants kept here (the database keeps the rest): a code is short-lived (`CODE_TTL`), used
at most once, and dies after `MAX_CODE_ATTEMPTS` wrong guesses; at most `MAX_CODES_PER_WINDOW`
codes are issued to one principal per `CODE_WINDOW`; a session token names its shard
(`{shard}.{secret}`) so it is found without searching every shard, and only its digest is kept.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tanpuhui.domain.shards import shard_of_account

#: Sign-in codes are six digits: easy to type on a phone, safe with few attempts and a short life.
CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
MAX_CODE_ATTEMPTS = 5
MAX_CODES_PER_WINDOW = 5
CODE_WINDOW = timedelta(minutes=15)
SESSION_TTL = timedelta(days=14)


class PrincipalKind(StrEnum):
    PERSON = "person"
    USER = "user"  # a scene enterprise's user
    OPERATOR = "operator"
    GOVERNMENT = "government"  # an official of `officials`, scoped to a region
    VERIFIER = "verifier"  # an official of `officials`


#: the principals that are officials (their accounts live in `officials`, not `web_users`)
OFFICIAL_KINDS = frozenset({PrincipalKind.GOVERNMENT, PrincipalKind.VERIFIER})


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    id: uuid.UUID
    enterprise_id: uuid.UUID | None = None  # set for users only

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.id}"

    @property
    def owner_account(self) -> str:
        """The account whose shard this principal's sign-in rows live in."""
        if self.kind is PrincipalKind.PERSON:
            return f"person:{self.id}"
        if self.kind is PrincipalKind.USER:
            return f"enterprise:{self.enterprise_id}"
        return self.key  # operators and officials: their own key

    @property
    def shard(self) -> int:
        return shard_of_account(self.owner_account)


@dataclass(frozen=True, slots=True)
class WebUser:
    """Someone who signs in for an enterprise (kind USER) or for the platform (OPERATOR)."""

    id: uuid.UUID
    kind: PrincipalKind
    name: str
    enterprise_id: uuid.UUID | None
    created_at: datetime

    @property
    def principal(self) -> Principal:
        return Principal(self.kind, self.id, self.enterprise_id)


@dataclass(frozen=True, slots=True)
class SignInCode:
    id: uuid.UUID
    principal: Principal
    digest: bytes
    created_at: datetime
    expires_at: datetime
    attempts: int = 0
    used_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        return self.used_at is None and now < self.expires_at and self.attempts < MAX_CODE_ATTEMPTS


@dataclass(frozen=True, slots=True)
class Session:
    digest: bytes
    shard: int
    principal: Principal
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def valid(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


def session_token(shard: int, secret: str) -> str:
    return f"{shard}.{secret}"


def split_session_token(token: str) -> tuple[int, str] | None:
    """`(shard, secret)` of a cookie's token, or None when it is not one of ours."""
    head, dot, secret = token.partition(".")
    if not dot or not head.isdigit() or len(head) > 6 or not 16 <= len(secret) <= 128:
        return None
    return int(head), secret


def sign_in_path(kind: PrincipalKind, account: uuid.UUID | str, code: str) -> str:
    """The page that opens the sign-in form filled in (opening it signs nobody in)."""
    return f"/signin/code?as={kind.value}&account={account}&code={code}"


def parse_principal_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        return None
