"""Read queries of the pages: a holder's ledger sliced by day, behaviour and enterprise; one
reduction of a holder; the person's claims that were not credited (with what they lost to,
shown only when it is the person's own); regional totals with their persons (for
k-suppression); an enterprise's intake counts and rejections by reason; the issuance batches
of the verifier queue (a reference table, newest first).

Every person query is bounded by the holder (`events.holder`, the claims index) or by the
person's own bindings; enterprise queries by the enterprise.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.audit_repository import _sealed
from tanpuhui.adapters.db.certificates_repository import _stored
from tanpuhui.adapters.db.mrv_repository import _batch
from tanpuhui.adapters.db.queries import SqlQueries, _decode, current_traces
from tanpuhui.adapters.db.repositories import SqlBindings
from tanpuhui.adapters.db.retirement_repository import _export
from tanpuhui.domain.audit import SealedRecord
from tanpuhui.domain.retirement import Export
from tanpuhui.domain.shards import shard_of_account, shard_of_enterprise
from tanpuhui.services.certificate_ports import StoredCertificate
from tanpuhui.services.page_ports import Cursor, NotCredited, RejectedReason, Share, Slice
from tanpuhui.services.ports import IssuanceBatch, ReductionView

_ACTIVE = t.events.c.state == "active"
#: the predicate of the partial index `ix_events_not_credited`, spelled so the planners of both
#: engines match it (literal constants, not parameters)
_NOT_CREDITED = sa.text(
    "(events.outcome = 'duplicate' OR events.resolution IN ('capped', 'duplicate', 'too_frequent'))"
)


class SqlPages:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def slices(self, holder: str) -> list[Slice]:
        """The holder's live grams and reductions per (day, behaviour, enterprise): one pass
        over the holder's claims index, from which every total and breakdown is summed."""
        e, ent = t.events.c, t.enterprises.c
        rows = self.conn.execute(
            sa.select(
                e.day, e.behaviour, e.enterprise_id, sa.func.sum(e.live_grams), sa.func.count()
            )
            .where(_ACTIVE, e.shard == shard_of_account(holder), e.holder == holder)
            .group_by(e.day, e.behaviour, e.enterprise_id)
        ).all()
        names = dict(self.conn.execute(sa.select(ent.id, ent.name)).all()) if rows else {}
        return [
            Slice(d, str(b), str(names.get(eid, eid)), int(g), int(n)) for d, b, eid, g, n in rows
        ]

    def reductions_page(
        self, holder: str, limit: int, cursor: Cursor | None, *, older: bool = True
    ) -> list[ReductionView]:
        """Up to `limit` of the holder's active reductions next to `cursor` — the older ones
        (newest first) or, with `older=False`, the newer ones (oldest first) — in the order
        (started_at, id): keyset paging on the claims index `ix_events_claims (holder,
        started_at)`, so the 200th page costs what the first does (no OFFSET)."""
        e, ent = t.events.c, t.enterprises.c
        query = (
            sa.select(
                e.id, ent.name, e.event_id, e.behaviour, e.region, e.started_at, e.ended_at,
                e.day, e.outcome, e.grams, e.live_grams, e.holder, e.state, e.resolution,
                e.trace, e.current_methodology_id,
            )
            .select_from(t.events.join(t.enterprises, ent.id == e.enterprise_id))
            .where(e.shard == shard_of_account(holder), e.state == "active", e.holder == holder)
            .order_by(*((e.started_at.desc(), e.id.desc()) if older else (e.started_at, e.id)))
            .limit(limit)
        )  # fmt: skip
        if cursor is not None:
            at, at_id = cursor.at, uuid.UUID(cursor.id)
            # the bound on the indexed column limits the range scan; the id breaks the tie
            if older:
                query = query.where(e.started_at <= at, sa.or_(e.started_at < at, e.id < at_id))
            else:
                query = query.where(e.started_at >= at, sa.or_(e.started_at > at, e.id > at_id))
        rows = self.conn.execute(query).all()
        traces = current_traces(self.conn, [(r.id, r.current_methodology_id) for r in rows])
        return [
            ReductionView(
                r.id, r.name, r.event_id, r.behaviour, r.region, r.started_at, r.ended_at,
                r.day, r.outcome, r.grams, r.live_grams, r.holder, r.state, r.resolution,
                _decode(trace) if (trace := traces.get(r.id, r.trace)) else {},
            )
            for r in rows
        ]  # fmt: skip

    def certificates_of(self, shard: int, holder: str) -> list[StoredCertificate]:
        """The holder's certificates, newest first (the unique key (shard, holder, award)
        bounds the read to the holder's rows)."""
        c = t.certificates.c
        rows = self.conn.execute(
            sa.select(t.certificates)
            .where(c.shard == shard, c.holder == holder)
            .order_by(c.issued_at.desc(), c.serial)
        )
        return [_stored(r) for r in rows]

    def exports_of(self, enterprise_id: uuid.UUID) -> list[Export]:
        """The enterprise's export attempts, newest first."""
        x = t.exports.c
        rows = self.conn.execute(
            sa.select(t.exports)
            .where(x.shard == shard_of_enterprise(enterprise_id), x.enterprise_id == enterprise_id)
            .order_by(x.created_at.desc(), x.id)
        )
        return [_export(r) for r in rows]

    def recent_exports(self, limit: int) -> list[Export]:
        """Every enterprise's latest export attempts, pending ones first (the operator's)."""
        x = t.exports.c
        pending = sa.case((x.status == "pending_export", 0), else_=1)
        rows = self.conn.execute(
            sa.select(t.exports).order_by(pending, x.created_at.desc(), x.id).limit(limit)
        )
        return [_export(r) for r in rows]

    def reduction_of(self, holder: str, reduction_id: uuid.UUID) -> ReductionView | None:
        for r in SqlQueries(self.conn).recent_reductions(holder, 1, only=reduction_id):
            return r
        return None

    def not_credited(self, person_id: uuid.UUID, limit: int) -> list[NotCredited]:
        """The person's subjects' events that credited nothing, newest first. The subjects come
        from the person's own shard (`person_bindings`), not from a join with `bindings`, whose
        rows live in the subjects' shards (and a subject bound twice is listed once)."""
        subjects = {
            (x.enterprise_id, x.subject) for x in SqlBindings(self.conn).subjects_of(person_id)
        }
        if not subjects:
            return []
        e, ent = t.events.c, t.enterprises.c
        kept = t.events.alias("kept")
        kept_ent = t.enterprises.alias("kept_enterprise")
        why = sa.case(
            (e.outcome == "duplicate", "duplicate"),
            else_=sa.func.coalesce(e.resolution, e.outcome),
        )
        query = (
            sa.select(
                e.event_id,
                ent.name,
                e.behaviour,
                e.started_at,
                why.label("why"),
                kept.c.holder,
                kept.c.behaviour.label("kb"),
                kept.c.started_at.label("ks"),
                kept_ent.c.name.label("ke"),
            )
            .select_from(
                t.events.join(t.enterprises, ent.id == e.enterprise_id)
                .outerjoin(
                    kept,
                    kept.c.id == sa.func.coalesce(e.duplicate_of, e.resolution_ref),
                )
                .outerjoin(kept_ent, kept_ent.c.id == kept.c.enterprise_id)
            )
            .where(sa.tuple_(e.enterprise_id, e.subject).in_(sorted(subjects)))
            .where(_NOT_CREDITED)
            .order_by(e.received_at.desc())
            .limit(limit)
        )
        mine = f"person:{person_id}"
        return [
            NotCredited(
                r.event_id,
                r.name,
                r.behaviour,
                r.started_at,
                r.why,
                r.holder == mine,
                r.kb if r.holder == mine else None,
                r.ks if r.holder == mine else None,
                r.ke if r.holder == mine else None,
            )
            for r in self.conn.execute(query)
        ]

    def region_persons(self, prefix_length: int) -> list[Share]:
        """Grams (from the regional aggregates) and distinct persons per region prefix."""
        rt, e = t.region_totals.c, t.events.c
        grams: dict[Any, Any] = dict(
            self.conn.execute(
                sa.select(
                    sa.func.substr(rt.region, 1, prefix_length).label("p"), sa.func.sum(rt.grams)
                ).group_by("p")
            ).all()
        )
        persons: dict[Any, Any] = dict(
            self.conn.execute(
                sa.select(
                    sa.func.substr(e.region, 1, prefix_length).label("p"),
                    sa.func.count(sa.distinct(e.holder)),
                )
                .where(_ACTIVE, e.holder.like("person:%"))
                .group_by("p")
            ).all()
        )
        return [
            Share(str(p), int(grams.get(p, 0)), int(persons.get(p, 0)))
            for p in sorted(set(grams) | set(persons))
        ]

    def intake_counts(self, enterprise_id: uuid.UUID) -> dict[str, int]:
        e = t.events.c
        rows = self.conn.execute(
            sa.select(e.outcome, sa.func.count())
            .where(e.enterprise_id == enterprise_id)
            .group_by(e.outcome)
        )
        return {str(o): int(n) for o, n in rows}

    def rejected(self, enterprise_id: uuid.UUID, examples: int) -> list[RejectedReason]:
        e = t.events.c
        counts = self.conn.execute(
            sa.select(e.reason, sa.func.count())
            .where(e.enterprise_id == enterprise_id, e.outcome == "rejected")
            .group_by(e.reason)
            .order_by(sa.func.count().desc(), e.reason)
        ).all()
        reasons = []
        for reason, count in counts:
            sample = self.conn.execute(
                sa.select(e.event_id, e.message)
                .where(e.enterprise_id == enterprise_id, e.outcome == "rejected")
                .where(e.reason == reason)
                .order_by(e.received_at.desc(), e.event_id)
                .limit(examples)
            )
            reasons.append(
                RejectedReason(str(reason), int(count), [(i, m or "") for i, m in sample])
            )
        return reasons

    def batches(
        self, limit: int, cursor: Cursor | None = None, *, older: bool = True
    ) -> list[IssuanceBatch]:
        """Issuance batches in the verifier queue's order — open ones first, then newest
        first — next to `cursor` (keyset: the batches after it, or before it with
        `older=False`, nearest first)."""
        b = t.issuance_batches.c
        rank = sa.case((b.state == "open", 0), else_=1)
        order = (rank, b.created_at.desc(), b.id.desc()) if older else (
            rank.desc(), b.created_at, b.id)  # fmt: skip
        query = sa.select(t.issuance_batches).order_by(*order).limit(limit)
        if cursor is not None:
            r, at, at_id = (0 if cursor.open else 1), cursor.at, uuid.UUID(cursor.id)
            same = sa.and_(
                rank == r, sa.or_(b.created_at < at, sa.and_(b.created_at == at, b.id < at_id))
            )
            if not older:
                same = sa.and_(
                    rank == r, sa.or_(b.created_at > at, sa.and_(b.created_at == at, b.id > at_id))
                )
            query = query.where(sa.or_(rank > r if older else rank < r, same))
        return [_batch(r) for r in self.conn.execute(query)]

    def audit_page(
        self, actor: str | None, kind: str | None, limit: int, cursor: int | None, *, older: bool
    ) -> list[SealedRecord]:
        """Audit records newest first by their sequence number, next to `cursor` (keyset on
        the primary key: those below it, or above it with `older=False`, nearest first)."""
        a = t.audit_log.c
        query = sa.select(t.audit_log).order_by(a.seq.desc() if older else a.seq).limit(limit)
        if actor is not None:
            query = query.where(a.actor == actor)
        if kind is not None:
            query = query.where(a.kind == kind)
        if cursor is not None:
            query = query.where(a.seq < cursor if older else a.seq > cursor)
        return [_sealed(r) for r in self.conn.execute(query)]
