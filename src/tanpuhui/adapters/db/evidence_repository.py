"""Storage of the issuer registry (domain/evidence.py): who is, and who may cite, an issuer."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import any_of
from tanpuhui.domain.evidence import IssuerGrant, IssuerRights, rights_from

g = t.issuer_grants.c


class SqlEvidence:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def grants_of(self, issuer: str) -> list[IssuerGrant]:
        query = sa.select(g.issuer, g.enterprise_id, g.is_issuer, g.granted_at).where(
            g.issuer == issuer
        )
        return [IssuerGrant(*r) for r in self.conn.execute(query)]

    def all_grants(self) -> list[IssuerGrant]:
        """The whole registry, by issuer, the issuer itself first, then by grant time."""
        query = sa.select(g.issuer, g.enterprise_id, g.is_issuer, g.granted_at).order_by(
            g.issuer, g.is_issuer.desc(), g.granted_at, g.enterprise_id
        )
        return [IssuerGrant(*r) for r in self.conn.execute(query)]

    def issuer_identity(self, enterprise_id: uuid.UUID) -> str | None:
        """The issuer the enterprise is registered as, if any (at most one: a unique index)."""
        query = sa.select(g.issuer).where(g.enterprise_id == enterprise_id, g.is_issuer)
        return self.conn.execute(query).scalar_one_or_none()

    def grant(self, grant: IssuerGrant) -> None:
        self.conn.execute(t.issuer_grants.insert().values(**grant._asdict()))

    def rights_for(self, enterprise_id: uuid.UUID, issuers: Sequence[str]) -> IssuerRights:
        """One query: the registry entries of the named issuers and the enterprise's own."""
        mine = sa.and_(g.enterprise_id == enterprise_id, g.is_issuer)
        condition = sa.or_(any_of(self.conn, g.issuer, list(issuers)), mine) if issuers else mine
        query = sa.select(g.issuer, g.enterprise_id, g.is_issuer, g.granted_at).where(condition)
        grants = [IssuerGrant(*r) for r in self.conn.execute(query)]
        return rights_from(enterprise_id, grants, issuers)
