"""Issuance batches and their reductions (schema `issuance_batches`, `batch_reductions`).

A reduction joins at most one batch (the primary key decides: a concurrent batch over the
same reductions loses the race); a batch's state changes once, guarded by `state = 'open'`
in the UPDATE itself, so two verifiers cannot both decide it.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import any_of, chunks, insert_rows
from tanpuhui.domain.errors import ConflictError, NotFoundError
from tanpuhui.domain.mrv import BatchState, Statement
from tanpuhui.domain.shards import shard_of_account
from tanpuhui.services.ports import BatchCandidate, IssuanceBatch


class SqlMrv:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def candidates(
        self, methodology_id: uuid.UUID, bounds: tuple[str, str] | None, first: date, last: date
    ) -> list[BatchCandidate]:
        """Active reductions of this version, region range and days, in no batch yet."""
        e, b = t.events.c, t.batch_reductions.c
        query = sa.select(e.id, e.holder, e.live_grams, e.region, e.behaviour, e.day).where(
            e.state == "active",
            sa.func.coalesce(e.current_methodology_id, e.methodology_id) == methodology_id,
            e.day.between(first, last),
            ~sa.exists().where(b.reduction_id == e.id),
        )
        if bounds is not None:
            query = query.where(e.region.between(*bounds))
        return [
            BatchCandidate(r.id, r.holder, int(r.live_grams), r.region, r.behaviour, r.day)
            for r in self.conn.execute(query.order_by(e.id))
        ]

    def enterprise_candidates(
        self, enterprise_id: uuid.UUID, first: date, last: date
    ) -> list[BatchCandidate]:
        """Active reductions of this scene enterprise's events of these days, in no batch yet."""
        e, b = t.events.c, t.batch_reductions.c
        version = sa.func.coalesce(e.current_methodology_id, e.methodology_id)
        query = sa.select(
            e.id, e.holder, e.live_grams, e.region, e.behaviour, e.day, version.label("version")
        ).where(
            e.enterprise_id == enterprise_id,
            e.state == "active",
            e.day.between(first, last),
            ~sa.exists().where(b.reduction_id == e.id),
        )
        return [
            BatchCandidate(
                r.id, r.holder, int(r.live_grams), r.region, r.behaviour, r.day, r.version
            )
            for r in self.conn.execute(query.order_by(e.id))
        ]

    def versions_of(self, reduction_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
        """The reductions by the methodology version they are quantified with now."""
        e = t.events.c
        version = sa.func.coalesce(e.current_methodology_id, e.methodology_id).label("version")
        found: dict[uuid.UUID, list[uuid.UUID]] = {}
        for part in chunks(reduction_ids, 5000):
            for r in self.conn.execute(
                sa.select(e.id, version).where(any_of(self.conn, e.id, part))
            ):
                found.setdefault(r.version, []).append(r.id)
        return {v: sorted(ids) for v, ids in sorted(found.items())}

    def add_statement(self, s: Statement) -> None:
        self.conn.execute(
            sa.insert(t.mrv_statements).values(
                id=s.id, batch_id=s.batch_id, action=s.action, actor=s.actor, at=s.at,
                statement=s.text, signature=s.signature, public_key=s.public_key,
            )
        )  # fmt: skip

    def statements(self, batch_id: uuid.UUID) -> list[Statement]:
        m = t.mrv_statements.c
        rows = self.conn.execute(
            sa.select(t.mrv_statements).where(m.batch_id == batch_id).order_by(m.at, m.id)
        )
        return [
            Statement(r.id, r.batch_id, r.action, r.actor, r.at, r.statement, r.signature,
                      r.public_key)
            for r in rows
        ]  # fmt: skip

    def statement_seen(self, text: str) -> bool:
        m = t.mrv_statements.c
        found = self.conn.execute(sa.select(m.id).where(m.statement == text).limit(1))
        return found.first() is not None

    def batch_ids(self) -> list[uuid.UUID]:
        c = t.issuance_batches.c
        return list(self.conn.execute(sa.select(c.id).order_by(c.created_at, c.id)).scalars())

    def add(self, batch: IssuanceBatch, members: list[BatchCandidate]) -> None:
        self.conn.execute(
            sa.insert(t.issuance_batches).values(
                id=batch.id,
                methodology_id=batch.methodology_id,
                enterprise_id=batch.enterprise_id,
                region=batch.region,
                month=batch.month,
                state=batch.state.value,
                report=json.dumps(batch.report),
                created_by=batch.created_by,
                created_at=batch.created_at,
            )
        )
        try:
            insert_rows(
                self.conn,
                t.batch_reductions,
                ("shard", "reduction_id", "batch_id", "grams", "state"),
                [
                    (shard_of_account(m.holder), m.id, batch.id, m.grams, "in_review")
                    for m in members
                ],
            )
        except sa.exc.IntegrityError:
            raise ConflictError(
                "another batch took some of these reductions meanwhile", code="batch_overlap"
            ) from None

    def get(self, batch_id: uuid.UUID) -> IssuanceBatch:
        row = self.conn.execute(
            sa.select(t.issuance_batches).where(t.issuance_batches.c.id == batch_id)
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"no issuance batch {batch_id}", code="unknown_batch")
        return _batch(row)

    def members(self, batch_id: uuid.UUID) -> list[uuid.UUID]:
        b = t.batch_reductions.c
        query = sa.select(b.reduction_id).where(b.batch_id == batch_id).order_by(b.reduction_id)
        return list(self.conn.execute(query).scalars())

    def record_sample(
        self, batch_id: uuid.UUID, seed: int, sample: list[dict[str, Any]], by: uuid.UUID
    ) -> None:
        c = t.issuance_batches.c
        self.conn.execute(
            t.issuance_batches.update()
            .where(c.id == batch_id)
            .values(sample_seed=seed, sample=json.dumps(sample), sampled_by=by)
        )

    def decide(
        self, batch_id: uuid.UUID, state: BatchState, by: uuid.UUID, at: datetime,
        comment: str, entry_id: uuid.UUID | None,
    ) -> None:  # fmt: skip
        c, b = t.issuance_batches.c, t.batch_reductions.c
        done = self.conn.execute(
            t.issuance_batches.update()
            .where(c.id == batch_id, c.state == BatchState.OPEN.value)
            .values(
                state=state.value, decided_by=by, decided_at=at, comment=comment, entry_id=entry_id
            )
        )
        if done.rowcount != 1:
            raise ConflictError(f"batch {batch_id} is decided already", code="batch_decided")
        verdict = "verified" if state is BatchState.APPROVED else "rejected"
        self.conn.execute(
            t.batch_reductions.update().where(b.batch_id == batch_id).values(state=verdict)
        )

    def verification(self, reduction_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The verification state of each reduction in a batch (absent: never batched)."""
        b = t.batch_reductions.c
        rows = self.conn.execute(
            sa.select(b.reduction_id, b.state).where(b.reduction_id.in_(reduction_ids))
        )
        return {r.reduction_id: r.state for r in rows}


def _batch(r: Any) -> IssuanceBatch:
    return IssuanceBatch(
        r.id, r.methodology_id, r.region, r.month, BatchState(r.state), json.loads(r.report),
        r.created_by, r.created_at, r.sample_seed, json.loads(r.sample) if r.sample else None,
        r.decided_by, r.decided_at, r.comment, r.enterprise_id,
    )  # fmt: skip
