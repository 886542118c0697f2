"""Storage of the intake pipeline: one query per kind of state a batch needs, bulk writes.

`load_state` reads, for one batch: the stored outcomes of its event ids, the active claims of
its holders around its days, and the evidence fingerprints it carries — three queries.
`save` writes every event row of the batch in one bulk insert, the batch record, and the
holders' balance changes; the ledger repository then seals the issuance entry.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import msgspec
import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import any_of, insert_rows
from tanpuhui.domain.binding import Move, PendingReduction
from tanpuhui.domain.claims import Claim
from tanpuhui.domain.intake import (
    BatchDecision,
    EventRecord,
    IntakeState,
    Outcome,
    OutcomeKind,
    StoredOutcome,
)
from tanpuhui.domain.ledger import is_holder
from tanpuhui.domain.quantity import format_decimal

EVENT_COLUMNS = (
    "id",
    "enterprise_id",
    "event_id",
    "batch_id",
    "received_at",
    "payload_hash",
    "subject",
    "behaviour",
    "started_at",
    "ended_at",
    "region",
    "quantities",
    "evidence_ref",
    "evidence_issuer",
    "raw",
    "outcome",
    "reason",
    "message",
    "grams",
    "grams_cut",
    "duplicate_of",
    "methodology_id",
    "trace",
    "group_code",
    "day",
    "asset",
    "issued_account",
    "entry_id",
    "holder",
    "state",
    "live_grams",
    "evidence_fp",
)
RAW_LIMIT = 8192
_encode = msgspec.json.Encoder().encode
e = t.events.c


def event_row(
    r: EventRecord,
    enterprise_id: uuid.UUID,
    batch_id: uuid.UUID,
    received_at: datetime,
    methodology_ids: Mapping[str, uuid.UUID],
) -> tuple[Any, ...]:
    """The stored row of one event, in EVENT_COLUMNS order."""
    o, ev, c = r.outcome, r.event, r.candidate
    credited = o.grams > 0
    raw = None
    if ev is None and r.raw is not None:
        raw = json.dumps(r.raw, ensure_ascii=False, default=str)[:RAW_LIMIT]
    return (
        r.id,
        enterprise_id,
        r.event_id,
        batch_id,
        received_at,
        r.payload_hash,
        ev.subject if ev else None,
        ev.behaviour if ev else None,
        ev.started_at if ev else None,
        ev.ended_at if ev else None,
        ev.region if ev else None,
        _encode({k: format_decimal(v) for k, v in ev.quantities.items()}).decode() if ev else None,
        ev.evidence.ref if ev and ev.evidence else None,
        ev.evidence.issuer if ev and ev.evidence else None,
        raw,
        o.kind.value,
        o.reason,
        o.message,
        o.grams,
        o.grams_cut,
        o.duplicate_of,
        methodology_ids[o.methodology] if o.methodology else None,
        _encode(c.quantification.trace()).decode()
        if c and o.kind != OutcomeKind.DUPLICATE
        else None,
        c.group.code if c else None,
        c.day if c else None,
        c.asset if credited and c else None,
        r.holder if credited else None,
        o.entry_id,
        r.holder if credited else None,
        "active" if credited else None,
        o.grams,
        c.fingerprint if credited and c else None,
    )


class SqlIntake:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # --- reads -------------------------------------------------------------------------------

    def load_state(
        self,
        enterprise_id: uuid.UUID,
        event_ids: Sequence[str],
        holders: Sequence[str],
        window: tuple[datetime, datetime] | None,
        fingerprints: Sequence[bytes],
    ) -> IntakeState:
        state = IntakeState()
        if event_ids:
            state.existing = self._stored_outcomes(enterprise_id, event_ids)
        if holders and window:
            state.claims = self._claims(holders, window)
        if fingerprints:
            rows = self.conn.execute(
                sa.select(e.evidence_fp, e.id).where(
                    e.state == "active", any_of(self.conn, e.evidence_fp, fingerprints)
                )
            )
            state.evidence = {r.evidence_fp: r.id for r in rows}
        return state

    def _stored_outcomes(
        self, enterprise_id: uuid.UUID, event_ids: Sequence[str]
    ) -> dict[str, StoredOutcome]:
        m = t.methodology_versions.c
        query = (
            sa.select(
                e.id,
                e.event_id,
                e.payload_hash,
                e.outcome,
                e.reason,
                e.message,
                e.grams,
                e.grams_cut,
                e.duplicate_of,
                e.entry_id,
                m.code,
                m.version,
            )
            .select_from(t.events.outerjoin(t.methodology_versions, m.id == e.methodology_id))
            .where(e.enterprise_id == enterprise_id, any_of(self.conn, e.event_id, event_ids))
        )
        stored = {}
        for r in self.conn.execute(query):
            outcome = Outcome(
                index=-1,
                event_id=r.event_id,
                kind=OutcomeKind(r.outcome),
                grams=r.grams,
                grams_cut=r.grams_cut,
                duplicate_of=r.duplicate_of,
                reason=r.reason,
                message=r.message,
                methodology=f"{r.code}@{r.version}" if r.code else None,
                entry_id=r.entry_id,
                reduction_id=r.id if r.grams > 0 else None,
            )
            stored[r.event_id] = StoredOutcome(r.payload_hash, outcome)
        return stored

    def _claims(
        self, holders: Sequence[str], window: tuple[datetime, datetime]
    ) -> dict[str, list[Claim]]:
        query = sa.select(
            e.holder,
            e.id,
            e.group_code,
            e.behaviour,
            e.started_at,
            e.ended_at,
            e.day,
            e.live_grams,
        ).where(
            e.state == "active",
            any_of(self.conn, e.holder, holders),
            e.started_at >= window[0],
            e.started_at < window[1],
        )
        claims: dict[str, list[Claim]] = defaultdict(list)
        for r in self.conn.execute(query):
            claims[r.holder].append(
                Claim(
                    r.id, r.group_code, r.behaviour, r.started_at, r.ended_at, r.day, r.live_grams
                )
            )
        return claims

    def claims_of(self, holder: str, window: tuple[datetime, datetime]) -> list[Claim]:
        return self._claims([holder], window).get(holder, [])

    def pending_reductions(self, holder: str) -> list[PendingReduction]:
        m = t.methodology_versions.c
        rows = self.conn.execute(
            sa.select(
                e.id,
                e.behaviour,
                e.group_code,
                m.code,
                m.version,
                e.started_at,
                e.ended_at,
                e.day,
                e.live_grams,
                e.asset,
                e.region,
            )
            .select_from(t.events.join(t.methodology_versions, m.id == e.methodology_id))
            .where(e.state == "active", e.holder == holder)
            .order_by(e.started_at, e.id)
        )
        return [
            PendingReduction(
                r.id,
                r.behaviour,
                r.group_code,
                f"{r.code}@{r.version}",
                r.started_at,
                r.ended_at,
                r.day,
                r.live_grams,
                r.asset,
                r.region,
            )
            for r in rows
        ]

    # --- writes ------------------------------------------------------------------------------

    def save(
        self,
        batch_id: uuid.UUID,
        enterprise_id: uuid.UUID,
        received_at: datetime,
        source: str,
        decision: BatchDecision,
        methodology_ids: Mapping[str, uuid.UUID],
    ) -> None:
        if decision.replaced:
            self.conn.execute(
                t.events.delete().where(
                    e.enterprise_id == enterprise_id,
                    e.outcome == "rejected",
                    any_of(self.conn, e.event_id, decision.replaced),
                )
            )
        rows = [
            event_row(r, enterprise_id, batch_id, received_at, methodology_ids)
            for r in decision.records
        ]
        insert_rows(self.conn, t.events, EVENT_COLUMNS, rows)
        counts: dict[str, int] = defaultdict(int)
        unkeyed = []
        for o in decision.outcomes:
            counts[o.kind.value + ("_replayed" if o.replayed else "")] += 1
            if o.event_id is None:
                unkeyed.append({"index": o.index, "reason": o.reason, "message": o.message})
        self.conn.execute(
            t.batches.insert().values(
                id=batch_id,
                enterprise_id=enterprise_id,
                received_at=received_at,
                source=source,
                event_count=len(decision.outcomes),
                counts=json.dumps(dict(sorted(counts.items()))),
                unkeyed=json.dumps(unkeyed) if unkeyed else None,
            )
        )

    def apply_moves(
        self, person_account: str, moves: Sequence[Move], resolved_at: datetime
    ) -> None:
        if not moves:
            return
        statement = (
            t.events.update()
            .where(e.id == sa.bindparam("rid"))
            .values(
                holder=sa.bindparam("new_holder"),
                state=sa.bindparam("new_state"),
                live_grams=sa.bindparam("new_live"),
                resolution=sa.bindparam("new_resolution"),
                resolution_ref=sa.bindparam("new_ref"),
                resolved_at=sa.bindparam("new_resolved_at"),
            )
        )
        self.conn.execute(
            statement,
            [
                {
                    "rid": mv.reduction_id,
                    "new_holder": person_account if mv.moved else None,
                    "new_state": "active" if mv.moved else "reversed",
                    "new_live": mv.moved,
                    "new_resolution": mv.resolution.value,
                    "new_ref": mv.duplicate_of,
                    "new_resolved_at": resolved_at,
                }
                for mv in moves
            ],
        )

    def add_region_totals(self, deltas: Mapping[tuple[str, str, date], int]) -> None:
        """Adjust the regional aggregates (hot rows: call after the ledger's chain lock)."""
        items = sorted((k, v) for k, v in deltas.items() if v)
        if not items:
            return
        regions, groups, days = zip(*(k for k, _ in items), strict=True)
        amounts = [v for _, v in items]
        if self.conn.dialect.name == "postgresql":
            self.conn.exec_driver_sql(
                "INSERT INTO region_totals (region, group_code, day, grams) "
                "SELECT * FROM unnest(%(r)s::text[], %(g)s::text[], %(d)s::date[], %(a)s::int8[]) "
                "ON CONFLICT (region, group_code, day) "
                "DO UPDATE SET grams = region_totals.grams + EXCLUDED.grams",
                {"r": list(regions), "g": list(groups), "d": list(days), "a": amounts},
            )
        else:
            self.conn.exec_driver_sql(
                "INSERT INTO region_totals (region, group_code, day, grams) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (region, group_code, day) "
                "DO UPDATE SET grams = grams + excluded.grams",
                [(r, g, d.isoformat(), a) for (r, g, d), a in items],
            )


def holder_deltas(deltas: Mapping[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    return {k: v for k, v in deltas.items() if is_holder(k[0])}
