"""Officials (schema `officials`): government, verifier and operator accounts, looked up by
the hash of their bearer token; the unique keys decide races (one name per kind)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.domain.errors import ConflictError
from tanpuhui.domain.officials import Official, OfficialKind


class SqlOfficials:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, official: Official, token_hash: bytes) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    sa.insert(t.officials).values(
                        id=official.id,
                        kind=official.kind.value,
                        name=official.name,
                        region=official.region,
                        token_hash=token_hash,
                        created_at=official.created_at,
                        public_key=official.public_key,
                    )
                )
        except sa.exc.IntegrityError:
            raise ConflictError(
                f"a {official.kind.value} account named {official.name!r} exists already",
                code="official_exists",
            ) from None

    def find_by_token(self, token_hash: bytes) -> Official | None:
        row = self.conn.execute(
            sa.select(t.officials).where(
                t.officials.c.token_hash == token_hash, t.officials.c.revoked_at.is_(None)
            )
        ).one_or_none()
        return _official(row) if row is not None else None

    def list(self, kind: str | None = None) -> list[Official]:
        query = sa.select(t.officials).order_by(t.officials.c.kind, t.officials.c.name)
        if kind is not None:
            query = query.where(t.officials.c.kind == kind)
        return [_official(r) for r in self.conn.execute(query)]

    def keys(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bytes | None]:
        o = t.officials.c
        if not ids:
            return {}
        rows = self.conn.execute(sa.select(o.id, o.public_key).where(o.id.in_(ids)))
        return {r.id: r.public_key for r in rows}


def _official(r: Any) -> Official:
    return Official(
        r.id, OfficialKind(r.kind), r.name, r.region, r.created_at, r.revoked_at, r.public_key
    )
