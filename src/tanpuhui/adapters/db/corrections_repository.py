"""Storage of re-quantification: reductions by the version they are quantified with now, and
corrections (one per reduction per target version)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import any_of, chunks, insert_rows
from tanpuhui.adapters.db.intake_repository import drop_evidence_keys, trace_json
from tanpuhui.domain.events import BehaviourEvent, Evidence
from tanpuhui.domain.requantify import Correction, RequantifyPlan, StoredReduction
from tanpuhui.domain.shards import shard_of_reduction

e = t.events.c
CORRECTION_COLUMNS = (
    "shard", "id", "reduction_id", "from_methodology_id", "to_methodology_id", "before_grams",
    "after_grams", "shortfall_grams", "trace", "entry_id", "created_at",
)  # fmt: skip


class SqlCorrections:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def reductions_at(
        self,
        version_id: uuid.UUID,
        since: date | None,
        after: uuid.UUID | None,
        limit: int,
        ids: Sequence[uuid.UUID] | None = None,
    ) -> list[StoredReduction]:
        """Active reductions quantified now with `version_id`, in id order."""
        query = sa.select(t.events).where(
            e.state == "active",
            sa.func.coalesce(e.current_methodology_id, e.methodology_id) == version_id,
        )
        if since is not None:
            query = query.where(e.day >= since)
        if after is not None:
            query = query.where(e.id > after)
        if ids is not None:
            query = query.where(any_of(self.conn, e.id, ids))
        rows = self.conn.execute(query.order_by(e.id).limit(limit))
        return [_stored(r) for r in rows]

    def balances_for(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
        b = t.balances.c
        found: dict[tuple[str, str], int] = {}
        accounts = sorted({a for a, _ in pairs})
        wanted = set(pairs)
        for part in chunks(accounts, 5000):
            for r in self.conn.execute(
                sa.select(b.account, b.asset, b.amount).where(any_of(self.conn, b.account, part))
            ):
                if (r.account, r.asset) in wanted:
                    found[(r.account, r.asset)] = int(r.amount)
        return found

    def record(
        self,
        plan: RequantifyPlan,
        from_id: uuid.UUID,
        to_id: uuid.UUID,
        new_ids: Sequence[uuid.UUID],
        now: datetime,
    ) -> None:
        """Store a correction for every reduction handled and move it to the new version."""
        entry_id = plan.entry.id if plan.entry is not None else None
        insert_rows(
            self.conn,
            t.corrections,
            CORRECTION_COLUMNS,
            [
                _row(cid, c, from_id, to_id, entry_id, now)
                for cid, c in zip(new_ids, plan.corrections, strict=True)
            ],
        )
        if plan.corrections:
            self.conn.execute(
                t.events.update()
                .where(e.id == sa.bindparam("rid"))
                .values(
                    current_methodology_id=sa.bindparam("version"),
                    live_grams=sa.bindparam("after"),
                    state=sa.bindparam("now_state"),
                    quality=sa.bindparam("quality"),
                ),
                [
                    # a reduction corrected to nothing no longer backs grams or claims its time
                    {
                        "rid": c.reduction_id,
                        "version": to_id,
                        "after": c.after,
                        "now_state": "active" if c.after > 0 else "reversed",
                        "quality": c.quantification.quality.value,
                    }
                    for c in plan.corrections
                ],
            )
            drop_evidence_keys(
                self.conn, [c.reduction_id for c in plan.corrections if c.after == 0]
            )


def _row(
    cid: uuid.UUID, c: Correction, from_id: uuid.UUID, to_id: uuid.UUID,
    entry_id: uuid.UUID | None, now: datetime,
) -> tuple[Any, ...]:  # fmt: skip
    return (
        shard_of_reduction(c.reduction_id), cid, c.reduction_id, from_id, to_id, c.before,
        c.after, c.shortfall, trace_json(c.quantification), entry_id if c.delta else None, now,
    )  # fmt: skip


def _stored(r: sa.Row[Any]) -> StoredReduction:
    quantities = {k: Decimal(v) for k, v in json.loads(r.quantities or "{}").items()}
    evidence = Evidence(r.evidence_ref, r.evidence_issuer) if r.evidence_ref else None
    event = BehaviourEvent(
        r.event_id, r.subject, r.behaviour, r.started_at, r.ended_at, quantities, r.region,
        evidence, r.payload_hash,
    )  # fmt: skip
    return StoredReduction(r.id, event, r.holder, r.asset, r.group_code, r.day, r.live_grams)
