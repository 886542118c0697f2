"""Storage of sign-in for the pages: web users, one-time sign-in codes and sessions.

Every code and session statement names its shard (the principal's), so it touches one shard.
A code is spent by an UPDATE guarded on `used_at IS NULL` and the attempt count: of two
concurrent redemptions the database lets one win.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.domain.sign_in import (
    MAX_CODE_ATTEMPTS,
    Principal,
    PrincipalKind,
    Session,
    SignInCode,
    WebUser,
)


def principal_of(key: str, enterprise_id: uuid.UUID | None) -> Principal:
    kind, _, raw = key.partition(":")
    return Principal(PrincipalKind(kind), uuid.UUID(raw), enterprise_id)


class SqlSignIn:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # users -----------------------------------------------------------------------------------

    def add_user(self, user: WebUser) -> None:
        self.conn.execute(
            t.web_users.insert().values(
                id=user.id,
                kind=user.kind.value,
                name=user.name,
                enterprise_id=user.enterprise_id,
                created_at=user.created_at,
            )
        )

    def find_user(self, user_id: uuid.UUID) -> WebUser | None:
        row = self.conn.execute(sa.select(t.web_users).where(t.web_users.c.id == user_id)).first()
        return _user(row) if row else None

    def users_of(self, enterprise_id: uuid.UUID) -> list[WebUser]:
        rows = self.conn.execute(
            sa.select(t.web_users)
            .where(t.web_users.c.enterprise_id == enterprise_id)
            .order_by(t.web_users.c.created_at)
        )
        return [_user(r) for r in rows]

    # codes -----------------------------------------------------------------------------------

    def add_code(self, code: SignInCode) -> None:
        p = code.principal
        self.conn.execute(
            t.sign_in_codes.insert().values(
                shard=p.shard,
                principal=p.key,
                id=code.id,
                code_hash=code.digest,
                created_at=code.created_at,
                expires_at=code.expires_at,
                attempts=0,
            )
        )

    def codes_since(self, principal: Principal, since: datetime) -> int:
        c = t.sign_in_codes.c
        return int(
            self.conn.execute(
                sa.select(sa.func.count())
                .select_from(t.sign_in_codes)
                .where(c.shard == principal.shard, c.principal == principal.key)
                .where(c.created_at >= since)
            ).scalar_one()
        )

    def latest_code(self, principal: Principal) -> SignInCode | None:
        c = t.sign_in_codes.c
        row = self.conn.execute(
            sa.select(t.sign_in_codes)
            .where(c.shard == principal.shard, c.principal == principal.key)
            .order_by(c.created_at.desc(), c.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        return SignInCode(
            row.id,
            principal,
            row.code_hash,
            row.created_at,
            row.expires_at,
            row.attempts,
            row.used_at,
        )

    def count_attempt(self, code: SignInCode) -> None:
        c = t.sign_in_codes.c
        self.conn.execute(
            t.sign_in_codes.update()
            .where(c.shard == code.principal.shard, c.principal == code.principal.key)
            .where(c.id == code.id)
            .values(attempts=c.attempts + 1)
        )

    def spend_code(self, code: SignInCode, now: datetime) -> bool:
        """Mark the code used; False when a concurrent sign-in spent it first."""
        c = t.sign_in_codes.c
        result = self.conn.execute(
            t.sign_in_codes.update()
            .where(c.shard == code.principal.shard, c.principal == code.principal.key)
            .where(c.id == code.id, c.used_at.is_(None), c.attempts < MAX_CODE_ATTEMPTS)
            .values(used_at=now)
        )
        return result.rowcount == 1

    # sessions --------------------------------------------------------------------------------

    def add_session(self, session: Session) -> None:
        self.conn.execute(
            t.web_sessions.insert().values(
                shard=session.shard,
                token_hash=session.digest,
                principal=session.principal.key,
                enterprise_id=session.principal.enterprise_id,
                created_at=session.created_at,
                expires_at=session.expires_at,
            )
        )

    def find_session(self, shard: int, digest: bytes) -> Session | None:
        s = t.web_sessions.c
        row = self.conn.execute(
            sa.select(t.web_sessions).where(s.shard == shard, s.token_hash == digest)
        ).first()
        if row is None:
            return None
        return Session(
            row.token_hash,
            row.shard,
            principal_of(row.principal, row.enterprise_id),
            row.created_at,
            row.expires_at,
            row.revoked_at,
        )

    def revoke_session(self, shard: int, digest: bytes, now: datetime) -> None:
        s = t.web_sessions.c
        self.conn.execute(
            t.web_sessions.update()
            .where(s.shard == shard, s.token_hash == digest, s.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    def revoke_all(self, principal: Principal, now: datetime) -> int:
        s = t.web_sessions.c
        result = self.conn.execute(
            t.web_sessions.update()
            .where(s.shard == principal.shard, s.principal == principal.key)
            .where(s.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(result.rowcount)


def _user(row: sa.Row[Any]) -> WebUser:
    return WebUser(row.id, PrincipalKind(row.kind), row.name, row.enterprise_id, row.created_at)
