"""Storage of held day claims and meter periods (domain/settlement.py, households.py):
written by intake, read and closed by settlement. A held claim answers replays of its event id
until it settles into an `events` row."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import any_of
from tanpuhui.adapters.db.intake_repository import quantities_json
from tanpuhui.domain.events import BehaviourEvent, Evidence
from tanpuhui.domain.intake import Held, Outcome, OutcomeKind, StoredOutcome
from tanpuhui.domain.settlement import held_message
from tanpuhui.domain.shards import shard_of_enterprise
from tanpuhui.services.ports import HeldClaim

p = t.provisional_claims.c


class SqlSettlement:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def hold(
        self,
        enterprise_id: uuid.UUID,
        held: Sequence[Held],
        received_at: datetime,
        new_id: Callable[[], uuid.UUID],
    ) -> None:
        if not held:
            return
        shard = shard_of_enterprise(enterprise_id)
        self.conn.execute(
            t.provisional_claims.insert(),
            [
                {
                    "shard": shard,
                    "id": new_id(),
                    "enterprise_id": enterprise_id,
                    "event_id": c.event.event_id,
                    "payload_hash": c.event.payload_hash,
                    "subject": c.event.subject,
                    "behaviour": c.event.behaviour,
                    "started_at": c.event.started_at,
                    "ended_at": c.event.ended_at,
                    "region": c.event.region,
                    "quantities": quantities_json(c.event.quantities),
                    "evidence_ref": c.event.evidence.ref if c.event.evidence else None,
                    "evidence_issuer": c.event.evidence.issuer if c.event.evidence else None,
                    "methodology": c.quantification.methodology.key,
                    "received_at": received_at,
                    "closes_at": until,  # as decided (decision.py), not recomputed
                }
                for c, until in held
            ],
        )

    def held_outcomes(
        self, enterprise_id: uuid.UUID, event_ids: Sequence[str]
    ) -> dict[str, StoredOutcome]:
        """What replays of still-held event ids are answered."""
        query = sa.select(
            p.event_id, p.payload_hash, p.methodology, p.closes_at, p.evidence_issuer
        ).where(
            p.shard == shard_of_enterprise(enterprise_id),
            p.enterprise_id == enterprise_id,
            p.settled_at.is_(None),
            any_of(self.conn, p.event_id, list(event_ids)),
        )
        return {
            r.event_id: StoredOutcome(
                r.payload_hash,
                Outcome(
                    -1,
                    r.event_id,
                    OutcomeKind.PROVISIONAL,
                    methodology=r.methodology,
                    message=held_message(r.closes_at, _names_meter(r.evidence_issuer)),
                ),
            )
            for r in self.conn.execute(query)
        }

    def due(self, now: datetime, enterprise_id: uuid.UUID | None, limit: int) -> list[HeldClaim]:
        """Held claims whose window has closed, oldest first."""
        query = (
            sa.select(t.provisional_claims)
            .where(p.settled_at.is_(None), p.closes_at <= now)
            .order_by(p.closes_at, p.id)
            .limit(limit)
        )
        if enterprise_id is not None:
            query = query.where(p.shard == shard_of_enterprise(enterprise_id))
            query = query.where(p.enterprise_id == enterprise_id)
        return [_held(r) for r in self.conn.execute(query)]

    def due_of_meters(self, now: datetime, meters: Sequence[str]) -> list[HeldClaim]:
        """Held claims of any enterprise naming one of `meters` whose window has closed: the
        rival reports of a meter's period settle together (households.py)."""
        if not meters:
            return []
        query = (
            sa.select(t.provisional_claims)
            .where(
                p.settled_at.is_(None),
                p.closes_at <= now,
                any_of(self.conn, p.evidence_issuer, list(meters)),
            )
            .order_by(p.closes_at, p.id)
        )
        return [_held(r) for r in self.conn.execute(query)]

    def mark_settled(
        self, enterprise_id: uuid.UUID, ids: Sequence[uuid.UUID], now: datetime
    ) -> None:
        """Mark an enterprise's held claims settled (they answer replays no longer)."""
        if ids:
            self.conn.execute(
                t.provisional_claims.update()
                .where(p.shard == shard_of_enterprise(enterprise_id))
                .where(any_of(self.conn, p.id, list(ids)))
                .values(settled_at=now)
            )


def _names_meter(issuer: str | None) -> bool:
    return issuer is not None and issuer.startswith("meter:")


def _held(r: sa.Row[object]) -> HeldClaim:
    m = r._mapping
    quantities = {k: Decimal(v) for k, v in json.loads(str(m["quantities"])).items()}
    evidence = Evidence(m["evidence_ref"], m["evidence_issuer"]) if m["evidence_ref"] else None
    event = BehaviourEvent(
        m["event_id"], m["subject"], m["behaviour"], m["started_at"], m["ended_at"], quantities,
        m["region"], evidence, m["payload_hash"],
    )  # fmt: skip
    return HeldClaim(m["id"], m["enterprise_id"], m["received_at"], event)
