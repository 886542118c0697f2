"""Read-side queries for pages, the CLI and the API (no writes)."""

from __future__ import annotations

import msgspec
import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.services.ports import ReductionView

_decode = msgspec.json.Decoder().decode


class SqlQueries:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def recent_reductions(self, holder: str, limit: int) -> list[ReductionView]:
        e, ent = t.events.c, t.enterprises.c
        rows = self.conn.execute(
            sa.select(
                e.id,
                ent.name,
                e.event_id,
                e.behaviour,
                e.region,
                e.started_at,
                e.ended_at,
                e.day,
                e.outcome,
                e.grams,
                e.live_grams,
                e.holder,
                e.state,
                e.resolution,
                e.trace,
            )
            .select_from(t.events.join(t.enterprises, ent.id == e.enterprise_id))
            .where(e.state == "active", e.holder == holder)
            .order_by(e.started_at.desc())
            .limit(limit)
        )
        return [
            ReductionView(
                r.id,
                r.name,
                r.event_id,
                r.behaviour,
                r.region,
                r.started_at,
                r.ended_at,
                r.day,
                r.outcome,
                r.grams,
                r.live_grams,
                r.holder,
                r.state,
                r.resolution,
                _decode(r.trace) if r.trace else {},
            )
            for r in rows
        ]

    def outcome_counts(self) -> dict[str, int]:
        e = t.events.c
        rows = self.conn.execute(
            sa.select(e.outcome, sa.func.count()).group_by(e.outcome).order_by(e.outcome)
        )
        return {r[0]: int(r[1]) for r in rows}
