"""Read-side queries for pages, the CLI and the API (no writes).

The outcome feed is ordered by the platform-wide batch commit number, but that number never
leaves the server: a feed position is named by the enterprise's own batch id
(`batch_seq_of` turns it back into the number, for that enterprise's batches only).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import any_of, chunks
from tanpuhui.adapters.db.intake_repository import stored_outcome, stored_raw
from tanpuhui.domain.intake import Outcome, OutcomeKind
from tanpuhui.domain.settlement import held_message
from tanpuhui.domain.shards import shard_of_account, shard_of_enterprise, shard_of_event_key
from tanpuhui.services.ports import EventView, ReductionView

_decode = msgspec.json.Decoder().decode


class SqlQueries:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def recent_reductions(
        self, holder: str, limit: int, *, only: uuid.UUID | None = None
    ) -> list[ReductionView]:
        """The holder's newest active reductions (`only`: just that one, if it is the holder's)."""
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
                _current_trace(),
            )
            .select_from(_with_correction(t.events.join(t.enterprises, ent.id == e.enterprise_id)))
            .where(e.shard == shard_of_account(holder), e.state == "active", e.holder == holder)
            .where(e.id == only if only is not None else sa.true())
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

    def event_of(self, enterprise_id: uuid.UUID, event_id: str) -> EventView | None:
        k = t.event_keys.c
        row_id = self.conn.execute(
            sa.select(k.event_row).where(
                k.shard == shard_of_event_key(enterprise_id, event_id),
                k.enterprise_id == enterprise_id,
                k.event_id == event_id,
            )
        ).scalar()
        row = (
            None
            if row_id is None
            else self.conn.execute(_event_query().where(e.id == row_id)).first()
        )
        return _event_view(row) if row else self._held_view(enterprise_id, event_id)

    def _held_view(self, enterprise_id: uuid.UUID, event_id: str) -> EventView | None:
        """A day claim or meter period still held (settlement.py): provisional, nothing
        credited yet."""
        p = t.provisional_claims.c
        r = self.conn.execute(
            sa.select(t.provisional_claims).where(
                p.shard == shard_of_enterprise(enterprise_id),
                p.enterprise_id == enterprise_id,
                p.event_id == event_id,
                p.settled_at.is_(None),
            )
        ).first()
        if r is None:
            return None
        outcome = Outcome(
            -1, event_id, OutcomeKind.PROVISIONAL, methodology=r.methodology,
            message=held_message(r.closes_at, (r.evidence_issuer or "").startswith("meter:")),
        )  # fmt: skip
        return EventView(
            id=r.id, event_id=event_id, batch_seq=None, received_at=r.received_at,
            outcome=outcome, subject=r.subject, behaviour=r.behaviour,
            started_at=r.started_at, ended_at=r.ended_at, region=r.region,
            quantities=json.loads(r.quantities), evidence_ref=r.evidence_ref,
            evidence_issuer=r.evidence_issuer, raw=None, trace=None, account_kind=None,
            state=None, live_grams=0, resolution=None, resolution_ref=None,
        )  # fmt: skip

    def feed(
        self, enterprise_id: uuid.UUID, after: tuple[int, uuid.UUID] | None, limit: int
    ) -> list[EventView]:
        b = t.batches.c
        query = _event_query().where(
            b.shard == shard_of_enterprise(enterprise_id),
            b.enterprise_id == enterprise_id,
            b.seq.is_not(None),
        )
        if after is not None:
            seq, last = after
            query = query.where(sa.or_(b.seq > seq, sa.and_(b.seq == seq, e.id > last)))
        rows = self.conn.execute(query.order_by(b.seq, e.id).limit(limit))
        return [_event_view(r) for r in rows]

    def batch_seq_of(self, enterprise_id: uuid.UUID, batch_id: uuid.UUID) -> int | None:
        b = t.batches.c
        seq = self.conn.execute(
            sa.select(b.seq).where(
                b.shard == shard_of_enterprise(enterprise_id),
                b.id == batch_id,
                b.enterprise_id == enterprise_id,
            )
        ).scalar_one_or_none()
        return int(seq) if seq is not None else None

    def own_events(self, enterprise_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        found: set[uuid.UUID] = set()
        for part in chunks(list(ids), 5000):
            rows = self.conn.execute(
                sa.select(e.id).where(
                    e.enterprise_id == enterprise_id, any_of(self.conn, e.id, part)
                )
            )
            found.update(r[0] for r in rows)
        return found


e = t.events.c


def _with_correction(joined: Any) -> Any:
    """…and the correction that set the version a reduction is quantified with now."""
    c = t.corrections.c
    return joined.outerjoin(
        t.corrections,
        sa.and_(c.reduction_id == e.id, c.to_methodology_id == e.current_methodology_id),
    )


def _current_trace() -> sa.ColumnElement[Any]:
    return sa.func.coalesce(t.corrections.c.trace, e.trace).label("trace")


def _event_query() -> sa.Select[Any]:
    m, b = t.methodology_versions.c, t.batches.c
    return sa.select(
        *(col for col in t.events.columns if col.name != "trace"),
        _current_trace(),
        m.code.label("m_code"),
        m.version.label("m_version"),
        b.seq.label("batch_seq"),
        b.id.label("batch_ref"),
    ).select_from(
        _with_correction(
            t.events.join(t.batches, b.id == e.batch_id).outerjoin(
                t.methodology_versions, m.id == e.methodology_id
            )
        )
    )


def _event_view(r: sa.Row[Any]) -> EventView:
    outcome = stored_outcome(r)
    return EventView(
        id=r.id,
        event_id=r.event_id,
        batch_seq=r.batch_seq,
        received_at=r.received_at,
        outcome=outcome,
        subject=r.subject,
        behaviour=r.behaviour,
        started_at=r.started_at,
        ended_at=r.ended_at,
        region=r.region,
        quantities=json.loads(r.quantities) if r.quantities else None,
        evidence_ref=r.evidence_ref,
        evidence_issuer=r.evidence_issuer,
        raw=stored_raw(r.raw),
        trace=_decode(r.trace) if r.trace else None,
        account_kind=r.holder.partition(":")[0] if r.holder else None,
        state=r.state,
        live_grams=r.live_grams,
        resolution=r.resolution,
        resolution_ref=r.resolution_ref,
        batch_id=r.batch_ref,
    )
