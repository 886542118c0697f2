"""Storage of API access: credentials, seen nonces, rate buckets, person tokens, binding codes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tanpuhui.adapters.db import schema as t
from tanpuhui.domain.parties import Credential
from tanpuhui.domain.shards import shard_of_digest


class SqlAccess:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # credentials -------------------------------------------------------------------------

    def add_credential(self, credential: Credential) -> None:
        self.conn.execute(
            t.credentials.insert().values(
                id=credential.id,
                enterprise_id=credential.enterprise_id,
                public_key=credential.public_key,
                label=credential.label,
                created_at=credential.created_at,
                expires_at=credential.expires_at,
                revoked_at=credential.revoked_at,
            )
        )

    def find_credential(self, credential_id: uuid.UUID) -> Credential | None:
        row = self.conn.execute(
            sa.select(t.credentials).where(t.credentials.c.id == credential_id)
        ).first()
        return _credential(row) if row else None

    def find_credential_by_key(self, public_key: bytes) -> Credential | None:
        row = self.conn.execute(
            sa.select(t.credentials).where(t.credentials.c.public_key == public_key)
        ).first()
        return _credential(row) if row else None

    def credentials_of(self, enterprise_id: uuid.UUID) -> list[Credential]:
        c = t.credentials.c
        rows = self.conn.execute(
            sa.select(t.credentials).where(c.enterprise_id == enterprise_id).order_by(c.created_at)
        )
        return [_credential(r) for r in rows]

    def set_credential_end(
        self, credential_id: uuid.UUID, *, expires_at: datetime | None = None,
        revoked_at: datetime | None = None,
    ) -> None:  # fmt: skip
        values: dict[str, Any] = {}
        if expires_at is not None:
            values["expires_at"] = expires_at
        if revoked_at is not None:
            values["revoked_at"] = revoked_at
        self.conn.execute(
            t.credentials.update().where(t.credentials.c.id == credential_id).values(**values)
        )

    # replay protection and rate limiting ---------------------------------------------------

    def remember_nonce(self, credential_id: uuid.UUID, nonce: str, seen_at: datetime) -> bool:
        """Record a nonce; False when this credential used it already (a replay)."""
        n = t.request_nonces
        inserted = self.conn.execute(
            self._insert(n)
            .values(credential_id=credential_id, nonce=nonce, seen_at=seen_at)
            .on_conflict_do_nothing()
            .returning(n.c.nonce)  # (rowcount is not reliable for this on every driver)
        ).first()
        return inserted is not None

    def _insert(self, table: sa.Table) -> Any:
        """An INSERT with the dialect's ON CONFLICT clauses."""
        if self.conn.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def forget_nonces(self, before: datetime) -> int:
        n = t.request_nonces
        return self.conn.execute(n.delete().where(n.c.seen_at < before)).rowcount

    def take_token(
        self, credential_id: uuid.UUID, now: datetime, rate_per_s: float, burst: float
    ) -> float:
        """Take one request token from the credential's bucket. Returns 0 when taken, else the
        seconds until one is available (nothing is taken then)."""
        b = t.rate_buckets
        current = (
            sa.select(b.c.tokens, b.c.updated_at)
            .where(b.c.credential_id == credential_id)
            .with_for_update()
        )
        row = self.conn.execute(current).first()
        if row is None:
            # The credential's first request: a full bucket. Concurrent first requests (other
            # workers) may create it at the same moment; whichever loses waits for the winner
            # and then takes its token from the bucket the winner made.
            self.conn.execute(
                self._insert(b)
                .values(credential_id=credential_id, tokens=burst, updated_at=now)
                .on_conflict_do_nothing()
            )
            row = self.conn.execute(current).one()
        elapsed = max(0.0, (now - row.updated_at).total_seconds())
        tokens: float = min(burst, float(row.tokens) + elapsed * rate_per_s)
        if tokens < 1:
            self.conn.execute(
                b.update().where(b.c.credential_id == credential_id)
                .values(tokens=tokens, updated_at=now)
            )  # fmt: skip
            return (1 - tokens) / rate_per_s
        self.conn.execute(
            b.update().where(b.c.credential_id == credential_id)
            .values(tokens=tokens - 1, updated_at=now)
        )  # fmt: skip
        return 0.0

    # persons' tokens and binding codes ----------------------------------------------------

    def add_person_token(self, digest: bytes, person_id: uuid.UUID, created_at: datetime) -> None:
        self.conn.execute(
            t.person_tokens.insert().values(
                shard=shard_of_digest(digest),
                token_hash=digest,
                person_id=person_id,
                created_at=created_at,
            )
        )

    def person_of_token(self, digest: bytes) -> uuid.UUID | None:
        p = t.person_tokens.c
        return self.conn.execute(
            sa.select(p.person_id).where(
                p.shard == shard_of_digest(digest), p.token_hash == digest, p.revoked_at.is_(None)
            )
        ).scalar_one_or_none()

    def add_binding_code(
        self, digest: bytes, person_id: uuid.UUID, created_at: datetime, expires_at: datetime
    ) -> None:
        self.conn.execute(
            t.binding_codes.insert().values(
                shard=shard_of_digest(digest), code_hash=digest, person_id=person_id,
                created_at=created_at, expires_at=expires_at,
            )
        )  # fmt: skip

    def redeem_binding_code(
        self, digest: bytes, enterprise_id: uuid.UUID, now: datetime
    ) -> tuple[uuid.UUID, bool] | None:
        """Use a code once: (the person it was issued to, True), or — when this enterprise
        redeemed it already (a retried request) — (that person, False); None if unknown,
        expired, or used by someone else."""
        c = t.binding_codes.c
        row = self.conn.execute(
            sa.select(c.person_id, c.expires_at, c.used_at, c.used_by)
            .where(c.shard == shard_of_digest(digest), c.code_hash == digest)
            .with_for_update()
        ).first()  # fmt: skip
        if row is None:
            return None
        if row.used_at is not None:
            return (row.person_id, False) if row.used_by == enterprise_id else None
        if row.expires_at <= now:
            return None
        self.conn.execute(
            t.binding_codes.update()
            .where(c.shard == shard_of_digest(digest), c.code_hash == digest)
            .values(used_at=now, used_by=enterprise_id)
        )  # fmt: skip
        return row.person_id, True


def _credential(row: sa.Row[Any]) -> Credential:
    return Credential(
        row.id, row.enterprise_id, row.public_key, row.label, row.created_at, row.expires_at,
        row.revoked_at,
    )  # fmt: skip
