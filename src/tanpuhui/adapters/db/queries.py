"""Read-side queries for pages, the CLI and the API (no writes).

The outcome feed is ordered by the platform-wide batch commit number, but that number never
leaves the server: a feed position is named by the enterprise's own batch id
(`batch_seq_of` turns it back into the number, for that enterprise's batches only).

An event row lives in its holder's shard, its batch in its enterprise's and a correction in
its reduction's (docs/scaling.md): no read joins them. A view is the events' rows, then their
batches and current corrections read by their keys (`_views`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import any_of, chunks, in_shards
from tanpuhui.adapters.db.intake_repository import stored_outcome, stored_raw
from tanpuhui.domain.intake import Outcome, OutcomeKind
from tanpuhui.domain.settlement import held_message
from tanpuhui.domain.shards import (
    shard_of_account,
    shard_of_enterprise,
    shard_of_event_key,
    shard_of_reduction,
)
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
                e.trace,
                e.current_methodology_id,
            )
            .select_from(t.events.join(t.enterprises, ent.id == e.enterprise_id))
            .where(e.shard == shard_of_account(holder), e.state == "active", e.holder == holder)
            .where(e.id == only if only is not None else sa.true())
            .order_by(e.started_at.desc())
            .limit(limit)
        ).all()
        traces = current_traces(self.conn, [(r.id, r.current_methodology_id) for r in rows])
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
                _decode(trace) if (trace := traces.get(r.id, r.trace)) else {},
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
        rows = (
            [] if row_id is None else self.conn.execute(_event_query().where(e.id == row_id)).all()
        )
        return self._views(rows)[0] if rows else self._held_view(enterprise_id, event_id)

    def _views(
        self, rows: Sequence[sa.Row[Any]], numbers: dict[uuid.UUID, int] | None = None
    ) -> list[EventView]:
        """Views of event rows, with their batches' numbers (unless known) and current traces
        read by key."""
        b = t.batches.c
        seq_of: dict[uuid.UUID, int | None] = dict(numbers or {})
        by_enterprise: dict[uuid.UUID, set[uuid.UUID]] = {}
        for r in rows:
            if r.batch_id not in seq_of:
                by_enterprise.setdefault(r.enterprise_id, set()).add(r.batch_id)
        for enterprise_id, batch_ids in by_enterprise.items():
            for part in chunks(sorted(batch_ids), 5000):
                seq_of.update(
                    (r[0], r[1])
                    for r in self.conn.execute(
                        sa.select(b.id, b.seq).where(
                            b.shard == shard_of_enterprise(enterprise_id),
                            b.enterprise_id == enterprise_id,
                            any_of(self.conn, b.id, part),
                        )
                    )
                )
        traces = current_traces(self.conn, [(r.id, r.current_methodology_id) for r in rows])
        return [_event_view(r, seq_of.get(r.batch_id), traces.get(r.id, r.trace)) for r in rows]

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
        """Up to `limit` outcomes after `after` (a batch number and an event id), in the order
        (batch number, id). The enterprise's numbered batches come from its shard, their
        events from their holders' — never joined: batches are taken in order until their
        counts cover what is still wanted, then their events in one query that keeps at most
        that many per batch (so a page reads less than twice its size), sorted here."""
        b = t.batches.c
        seq, last = after if after is not None else (0, None)
        views: list[EventView] = []
        while len(views) < limit:
            need = limit - len(views)
            newer = b.seq > seq if last is None else b.seq >= seq
            chosen: list[tuple[uuid.UUID, int]] = []
            covered = 0
            for r in self.conn.execute(
                sa.select(b.id, b.seq, b.event_count)
                .where(
                    b.shard == shard_of_enterprise(enterprise_id),
                    b.enterprise_id == enterprise_id,
                    b.seq.is_not(None),
                    newer,
                )
                .order_by(b.seq)
                .limit(256)
            ):
                chosen.append((r.id, int(r.seq)))
                covered += int(r.event_count)
                if covered >= need:
                    break
            if not chosen:
                break
            number = dict(chosen)
            ids = list(number)
            rank = sa.func.row_number().over(partition_by=e.batch_id, order_by=e.id).label("rank")
            where = [any_of(self.conn, e.batch_id, ids)]
            if last is not None and chosen[0][1] == seq:  # the rest of the batch it stopped in
                where.append(sa.or_(e.batch_id != chosen[0][0], e.id > last))
            ranked = _event_query().add_columns(rank).where(*where).subquery()
            rows = sorted(
                self.conn.execute(sa.select(ranked).where(ranked.c.rank <= need)),
                key=lambda r: (number[r.batch_id], r.id),
            )
            views.extend(self._views(rows[:need], number))
            seq, last = chosen[-1][1], None
        return views

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


def current_traces(
    conn: sa.Connection, reductions: Sequence[tuple[uuid.UUID, uuid.UUID | None]]
) -> dict[uuid.UUID, str]:
    """The trace of the correction that set each (reduction, current version) — none for a
    reduction still at its first version: read from the reductions' shards, by key."""
    wanted = {rid: version for rid, version in reductions if version is not None}
    c = t.corrections.c
    found: dict[uuid.UUID, str] = {}
    for part in chunks(sorted(wanted), 5000):
        for r in conn.execute(
            sa.select(c.reduction_id, c.to_methodology_id, c.trace).where(
                in_shards(conn, c.shard, (shard_of_reduction(rid) for rid in part)),
                any_of(conn, c.reduction_id, part),
            )
        ):
            if wanted[r.reduction_id] == r.to_methodology_id:
                found[r.reduction_id] = r.trace
    return found


def _event_query() -> sa.Select[Any]:
    m = t.methodology_versions.c
    return sa.select(
        *t.events.columns, m.code.label("m_code"), m.version.label("m_version")
    ).select_from(t.events.outerjoin(t.methodology_versions, m.id == e.methodology_id))


def _event_view(r: sa.Row[Any], batch_seq: int | None, trace: str | None) -> EventView:
    outcome = stored_outcome(r)
    return EventView(
        id=r.id,
        event_id=r.event_id,
        batch_seq=batch_seq,
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
        trace=_decode(trace) if trace else None,
        account_kind=r.holder.partition(":")[0] if r.holder else None,
        state=r.state,
        live_grams=r.live_grams,
        resolution=r.resolution,
        resolution_ref=r.resolution_ref,
        batch_id=r.batch_id,
    )
