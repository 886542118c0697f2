"""The audit trail (schema `audit_log`): appended under the unique `seq` (a concurrent
appender loses the race and retries), never updated or deleted (triggers), read back with
filters and streamed in order for `ledger verify`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.domain.audit import GENESIS, AuditRecord, SealedRecord, audit_hash
from tanpuhui.domain.errors import RaceLostError


class SqlAudit:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def append(self, record: AuditRecord, attempts: int = 8) -> SealedRecord:
        """Append after the last record. A concurrent appender that took the same `seq` wins
        (its INSERT commits first; ours fails in its savepoint): read the tail again and try
        the next place, so a busy chain costs a retry, not the caller's transaction."""
        for _ in range(attempts):
            sealed = self._try_append(record)
            if sealed is not None:
                return sealed
        raise RaceLostError("another audit record took this place")

    def _try_append(self, record: AuditRecord) -> SealedRecord | None:
        a = t.audit_log.c
        last = self.conn.execute(
            sa.select(a.seq, a.hash).order_by(a.seq.desc()).limit(1)
        ).one_or_none()
        seq, prev = (last.seq + 1, last.hash) if last is not None else (1, GENESIS)
        sealed = SealedRecord(seq, record, prev, audit_hash(prev, seq, record))
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    sa.insert(t.audit_log).values(
                        seq=seq,
                        id=record.id,
                        at=record.at,
                        actor=record.actor,
                        kind=record.kind,
                        subject=record.subject,
                        before=_json(record.before),
                        after=_json(record.after),
                        prev_hash=prev,
                        hash=sealed.hash,
                    )
                )
        except sa.exc.IntegrityError:
            return None
        return sealed

    def find(
        self, actor: str | None, kind: str | None, since: datetime | None, limit: int
    ) -> list[SealedRecord]:
        a = t.audit_log.c
        query = sa.select(t.audit_log).order_by(a.seq).limit(limit)
        if actor is not None:  # "verifier" also matches every verifier:{id}
            query = query.where(
                a.actor == actor
                if ":" in actor
                else sa.or_(a.actor == actor, a.actor.startswith(f"{actor}:", autoescape=True))
            )
        if kind is not None:
            query = query.where(a.kind == kind)
        if since is not None:
            query = query.where(a.at >= since)
        return [_sealed(r) for r in self.conn.execute(query)]

    def chain(self) -> Iterator[SealedRecord]:
        query = sa.select(t.audit_log).order_by(t.audit_log.c.seq)
        for r in self.conn.execution_options(yield_per=2000).execute(query):
            yield _sealed(r)


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _sealed(r: Any) -> SealedRecord:
    record = AuditRecord(
        r.id, r.at, r.actor, r.kind, r.subject,
        json.loads(r.before) if r.before else None, json.loads(r.after) if r.after else None,
    )  # fmt: skip
    return SealedRecord(r.seq, record, r.prev_hash, r.hash)
