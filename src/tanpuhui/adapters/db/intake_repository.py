"""Storage of the intake pipeline: one query per kind of state a batch needs, bulk writes.

`load_state` reads, for one batch: the stored outcomes of its event ids, the active claims of
its holders around its days, and the evidence fingerprints it carries — three queries.
`save` writes every event row of the batch in one bulk insert, the batch record, and the
holders' balance changes; the ledger repository then seals the issuance entry.

A rejected event keeps what was sent (`raw`) as JSON of at most RAW_LIMIT characters that is
always valid JSON (`bounded_raw`): an over-long one is stored as a summary object with the
SHA-256 and size of the whole. `stored_raw` reads it back defensively, so one unreadable row
(also one written before this rule) cannot break a read of the events around it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import sqlalchemy as sa

from tanpuhui.adapters.catalogue_files import load_regions
from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import any_of, chunks, fetch_tuples, in_shards, insert_rows
from tanpuhui.adapters.db.stripes import writer_stripe
from tanpuhui.domain.binding import Move, PendingReduction
from tanpuhui.domain.claims import Claim, ClaimScope
from tanpuhui.domain.households import MeterScope, meter_named
from tanpuhui.domain.intake import (
    BatchDecision,
    EventRecord,
    IntakeState,
    Outcome,
    OutcomeKind,
    StoredOutcome,
)
from tanpuhui.domain.models import Quantification
from tanpuhui.domain.quantity import format_decimal
from tanpuhui.domain.shards import (
    shard_of_account,
    shard_of_digest,
    shard_of_enterprise,
    shard_of_event,
    shard_of_event_key,
)

EVENT_COLUMNS = (
    "shard",
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
    "quality",
    "region_version",
)
RAW_LIMIT = 8192
#: picks the shard a writer's regional totals go to (a stripe, not a secret: any spread will do)
#: An over-long raw event is summarised: its top-level fields of at most these sizes (JSON
#: characters), up to this many, the rest named only by count.
_SUMMARY_KEY, _SUMMARY_VALUE, _SUMMARY_FIELDS = 64, 200, 24
_encode = msgspec.json.Encoder().encode


def bounded_raw(value: object) -> str:
    """`value` as JSON text (ASCII escapes, so even lone surrogates are storable) of at most
    RAW_LIMIT characters, always valid JSON: when the whole is longer, a summary object
    `{"truncated": true, "sha256": …, "size": …, "fields": {…}, "omitted_fields": n}`."""
    text = json.dumps(value, ensure_ascii=True, default=str)
    if len(text) <= RAW_LIMIT:
        return text
    fields: dict[str, object] = {}
    omitted = 0
    if isinstance(value, dict):
        for key, item in value.items():
            key_text = str(key)
            item_text = json.dumps(item, ensure_ascii=True, default=str)
            key_size = len(json.dumps(key_text, ensure_ascii=True))
            small = key_size <= _SUMMARY_KEY and len(item_text) <= _SUMMARY_VALUE
            if small and len(fields) < _SUMMARY_FIELDS:
                fields[key_text] = json.loads(item_text)
            else:
                omitted += 1
    summary = {
        "truncated": True,
        "sha256": hashlib.sha256(text.encode("ascii")).hexdigest(),
        "size": len(text),
        "fields": fields,
        "omitted_fields": omitted,
    }
    return json.dumps(summary, ensure_ascii=True)


def stored_raw(text: str | None) -> object | None:
    """A stored raw event as JSON-ready data; an unreadable one (cut by older code) becomes a
    marker object instead of an error, and lone surrogates become U+FFFD."""
    if not text:
        return None
    try:
        value: object = json.loads(text)
    except ValueError:
        return {
            "unreadable": True,
            "sha256": hashlib.sha256(text.encode("utf-8", "replace")).hexdigest(),
            "size": len(text),
        }
    dumped = json.dumps(value, ensure_ascii=False)
    try:
        dumped.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: keep the rest, replace those
        clean: object = json.loads(
            dumped.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        )
        return clean
    return value


e = t.events.c
_TRACE_HEADS: dict[tuple[str, tuple[str, ...], tuple[str, ...]], tuple[str, str]] = {}


def trace_json(q: Quantification) -> str:
    """`json(q.trace())`, fast: the part fixed by methodology and factors is cached."""
    return traced(q)[0]


def traced(q: Quantification) -> tuple[str, str]:
    """(`json(q.trace())`, `q.quality.value`), fast: what the methodology and the factors fix
    (the quality among it) is cached, so a batch pays for its inputs and result only."""
    head, quality = _trace_head(q)
    inputs = ",".join(f'"{name}":"{format_decimal(value)}"' for name, value in q.inputs)
    gross = "" if q.gross_grams is None else f',"gross_grams":"{format_decimal(q.gross_grams)}"'
    return (
        f'{head}{inputs}}}{gross},"exact_grams":"{format_decimal(q.exact_grams)}",'
        f'"grams":{q.grams}}}',
        quality,
    )


_STATIC_TRACE_KEYS = frozenset(
    ("methodology", "content_hash", "model", "factors", "quality", "uncertainty_deduction")
)


def _trace_head(q: Quantification) -> tuple[str, str]:
    m = q.methodology
    names = tuple(name for name, _ in q.inputs)
    # keyed by content hash, not code@version: one process may serve several databases
    key = (m.content_hash, names, tuple(u.factor.id for u in q.factors))
    cached = _TRACE_HEADS.get(key)
    if cached is None:
        # the quality and its deduction are fixed by the factors too
        static = {k: v for k, v in q.trace().items() if k in _STATIC_TRACE_KEYS}
        head = _encode(static).decode()[:-1] + ',"inputs":{'
        cached = _TRACE_HEADS[key] = (head, q.quality.value)
    return cached


def quantities_json(quantities: Mapping[str, Decimal]) -> str:
    if len(quantities) == 1:
        ((k, v),) = quantities.items()
        return f'{{"{k}":"{format_decimal(v)}"}}'
    return _encode({k: format_decimal(v) for k, v in sorted(quantities.items())}).decode()


def event_row(
    r: EventRecord,
    enterprise_id: uuid.UUID,
    batch_id: uuid.UUID,
    received_at: datetime,
    methodology_ids: Mapping[str, uuid.UUID],
) -> tuple[Any, ...]:
    """The stored row of one event, in EVENT_COLUMNS order."""
    o, ev, c = r.outcome, r.event, r.candidate
    kind = _KIND_TEXT[o.kind]
    methodology_id = methodology_ids[o.methodology] if o.methodology else None
    if ev is None or c is None:  # failed validation or quantification: keep what was sent
        raw = None
        if r.raw is not None:
            # ASCII escapes: whatever was sent (even lone surrogates) is storable text
            raw = bounded_raw(r.raw)
        if ev is None:
            return (
                shard_of_enterprise(enterprise_id), r.id, enterprise_id, r.event_id, batch_id,
                received_at, r.payload_hash,
                None, None, None, None, None, None, None, None, raw, kind, o.reason, o.message,
                0, 0, None, methodology_id, None, None, None, None, None, None, None, None, 0,
                None, None, None,
            )  # fmt: skip
        evidence = ev.evidence
        return (
            shard_of_event(None, enterprise_id, ev.subject), r.id, enterprise_id, r.event_id,
            batch_id, received_at, r.payload_hash, ev.subject, ev.behaviour, ev.started_at,
            ev.ended_at, ev.region, quantities_json(ev.quantities),
            evidence.ref if evidence else None, evidence.issuer if evidence else None, raw, kind,
            o.reason, o.message, 0, 0, None, methodology_id, None, None, None, None, None, None,
            None, None, 0, None, None, load_regions().version,
        )  # fmt: skip
    evidence = ev.evidence
    credited = o.grams > 0
    trace, quality = (None, None) if o.kind is OutcomeKind.DUPLICATE else traced(c.quantification)
    holder = r.holder if credited else None
    return (
        shard_of_event(holder, enterprise_id, ev.subject), r.id, enterprise_id, r.event_id,
        batch_id, received_at, r.payload_hash, ev.subject, ev.behaviour, ev.started_at,
        ev.ended_at, ev.region, quantities_json(ev.quantities),
        evidence.ref if evidence else None, evidence.issuer if evidence else None, None, kind,
        o.reason, o.message, o.grams, o.grams_cut, o.duplicate_of, methodology_id,
        trace, c.group.code, c.day,
        c.asset if credited else None, holder, o.entry_id, holder,
        "active" if credited else None, o.grams,
        c.fingerprint if credited else None, quality, load_regions().version,
    )  # fmt: skip


_KIND_TEXT = {kind: kind.value for kind in OutcomeKind}
_FP = EVENT_COLUMNS.index("evidence_fp")


def stored_outcome(r: Any) -> Outcome:
    """The outcome a stored event row records (its methodology as `m_code`, `m_version`)."""
    return Outcome(
        position=-1,
        event_id=r.event_id,
        kind=OutcomeKind(r.outcome),
        grams=r.grams,
        grams_cut=r.grams_cut,
        duplicate_of=r.duplicate_of,
        reason=r.reason,
        message=r.message,
        methodology=f"{r.m_code}@{r.m_version}" if r.m_code else None,
        entry_id=r.entry_id,
        reduction_id=r.id if r.grams > 0 else None,
    )


def drop_evidence_keys(conn: sa.Connection, reduction_ids: Sequence[uuid.UUID]) -> None:
    """Free the evidence of reductions that no longer back grams (reversed at binding or
    corrected to nothing): it may back another reduction from now on."""
    k = t.evidence_keys.c
    for part in chunks(list(reduction_ids), 5000):
        held = conn.execute(
            sa.select(e.id, e.evidence_fp).where(
                any_of(conn, e.id, part), e.evidence_fp.is_not(None)
            )
        ).all()
        if held:
            conn.execute(
                t.evidence_keys.delete().where(
                    k.shard == sa.bindparam("k"),
                    k.evidence_fp == sa.bindparam("fp"),
                    k.reduction_id == sa.bindparam("rid"),
                ),
                [{"k": shard_of_digest(f), "fp": f, "rid": rid} for rid, f in held],
            )


class SqlIntake:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        # the key shards of the batch being decided: computed by its lookup, used by its save
        self._key_shards: dict[tuple[uuid.UUID, str], int] = {}

    def _key_shard(self, enterprise_id: uuid.UUID, event_id: str) -> int:
        key = (enterprise_id, event_id)
        shard = self._key_shards.get(key)
        if shard is None:
            shard = self._key_shards[key] = shard_of_event_key(enterprise_id, event_id)
        return shard

    # --- reads -------------------------------------------------------------------------------

    def load_state(
        self,
        enterprise_id: uuid.UUID,
        event_ids: Sequence[str],
        holders: Sequence[str],
        scopes: Sequence[ClaimScope],
        fingerprints: Sequence[bytes],
        meters: Sequence[MeterScope] = (),
    ) -> IntakeState:
        self._key_shards.clear()  # one batch's at a time
        state = IntakeState()
        if event_ids:
            state.existing = self._stored_outcomes(enterprise_id, event_ids)
        if holders and scopes:
            state.claims = self._claims(holders, scopes)
        if meters and scopes:
            state.claims = {**state.claims, **self._meter_claims(meters, scopes)}
        if fingerprints:
            state.evidence = self.evidence_claims(fingerprints)
            if state.evidence:  # whose they are: the reductions, by id (they move at binding)
                rows = self.conn.execute(
                    sa.select(e.id, e.holder).where(
                        any_of(self.conn, e.id, list(state.evidence.values()))
                    )
                )
                holder_of = {r[0]: r[1] for r in rows}
                state.evidence_holders = {fp: holder_of[rid] for fp, rid in state.evidence.items()}
        return state

    def evidence_claims(self, fingerprints: Sequence[bytes]) -> dict[bytes, uuid.UUID]:
        """The active reduction that holds each fingerprint (`evidence_keys`, their shards)."""
        k = t.evidence_keys.c
        found: dict[bytes, uuid.UUID] = {}
        for part in chunks(list(fingerprints), 5000):
            rows = self.conn.execute(
                sa.select(k.evidence_fp, k.reduction_id).where(
                    in_shards(self.conn, k.shard, (shard_of_digest(f) for f in part)),
                    any_of(self.conn, k.evidence_fp, part),
                )
            )
            found.update((r[0], r[1]) for r in rows)
        return found

    def event_rows(
        self, enterprise_id: uuid.UUID, event_ids: Sequence[str]
    ) -> dict[str, uuid.UUID]:
        """The event row stored under each key (`event_keys`, the keys' shards)."""
        k = t.event_keys.c
        found: dict[str, uuid.UUID] = {}
        for part in chunks(list(event_ids), 5000):
            shards = [self._key_shard(enterprise_id, i) for i in part]
            rows = self.conn.execute(
                sa.select(k.event_id, k.event_row).where(
                    in_shards(self.conn, k.shard, shards),
                    k.enterprise_id == enterprise_id,
                    any_of(self.conn, k.event_id, part),
                )
            )
            found.update((r[0], r[1]) for r in rows)
        return found

    def _stored_outcomes(
        self, enterprise_id: uuid.UUID, event_ids: Sequence[str]
    ) -> dict[str, StoredOutcome]:
        stored = self.event_rows(enterprise_id, event_ids)
        if not stored:  # the usual case: new keys, one query
            return {}
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
                m.code.label("m_code"),
                m.version.label("m_version"),
            )
            .select_from(t.events.outerjoin(t.methodology_versions, m.id == e.methodology_id))
            .where(any_of(self.conn, e.id, list(stored.values())))
        )
        return {
            r.event_id: StoredOutcome(r.payload_hash, stored_outcome(r))
            for r in self.conn.execute(query)
        }

    def _claims(
        self, holders: Sequence[str], scopes: Sequence[ClaimScope]
    ) -> dict[str, list[Claim]]:
        """Active claims of `holders` within the scopes, one query (index: holder, started)."""
        conditions = [
            sa.and_(
                e.group_code == scope.group,
                sa.or_(
                    any_of(self.conn, e.day, scope.days),
                    sa.and_(e.started_at >= scope.since, e.started_at < scope.until),
                ),
            )
            for scope in scopes
        ]
        since = min(*(s.since for s in scopes), *(self._day_start(s.days[0]) for s in scopes))
        query = sa.select(
            e.holder, e.id, e.group_code, e.behaviour, e.started_at, e.ended_at, e.day,
            e.live_grams, e.evidence_issuer,
        ).where(
            in_shards(self.conn, e.shard, (shard_of_account(h) for h in holders)),
            e.state == "active",
            any_of(self.conn, e.holder, holders),
            e.started_at >= since,
            sa.or_(*conditions),
        )  # fmt: skip
        claims: dict[str, list[Claim]] = defaultdict(list)
        for r in fetch_tuples(self.conn, query):
            claims[r[0]].append(Claim(r[1], r[2], r[3], r[4], r[5], r[6], r[7], meter_named(r[8])))
        return claims

    def _meter_claims(
        self, meters: Sequence[MeterScope], scopes: Sequence[ClaimScope]
    ) -> dict[str, list[Claim]]:
        """Active claims of the meters, whoever holds them, keyed as the batch knows each
        meter (households.py): one query."""
        since, until = min(s.since for s in scopes), max(s.until for s in scopes)
        query = sa.select(
            e.evidence_issuer, e.enterprise_id, e.id, e.group_code, e.behaviour, e.started_at,
            e.ended_at, e.day, e.live_grams,
        ).where(
            e.state == "active",
            any_of(self.conn, e.evidence_issuer, sorted({m.issuer for m in meters})),
            e.started_at >= since - timedelta(days=1),
            e.started_at < until,
        )  # fmt: skip
        claims: dict[str, list[Claim]] = defaultdict(list)
        for r in self.conn.execute(query):
            for m in meters:
                if m.issuer == r[0] and m.enterprise_id in (None, r[1]):
                    claims[m.key].append(Claim(*r[2:], r[0]))
        return claims

    @staticmethod
    def _day_start(day: date) -> datetime:
        # a day starts no earlier than 14 hours before UTC midnight, whatever the time zone
        return datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=14)

    def claims_for(
        self, holders: Sequence[str], scopes: Sequence[ClaimScope]
    ) -> dict[str, list[Claim]]:
        return self._claims(holders, scopes) if holders and scopes else {}

    def claims_of(self, holder: str, scopes: Sequence[ClaimScope]) -> list[Claim]:
        return self._claims([holder], scopes).get(holder, []) if scopes else []

    def holders_with_claims(self, holders: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for part in chunks(list(holders), 5000):
            rows = self.conn.execute(
                sa.select(e.holder)
                .distinct()
                .where(
                    in_shards(self.conn, e.shard, (shard_of_account(h) for h in part)),
                    e.state == "active",
                    any_of(self.conn, e.holder, part),
                )
            )
            found.update(r[0] for r in rows)
        return found

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
            .where(e.shard == shard_of_account(holder), e.state == "active", e.holder == holder)
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
        if decision.replaced:  # rejected events sent again: their rows and keys go
            replaced = self.event_rows(enterprise_id, decision.replaced)
            self.conn.execute(
                t.events.delete().where(
                    e.outcome == "rejected", any_of(self.conn, e.id, list(replaced.values()))
                )
            )
            k = t.event_keys.c
            self.conn.execute(
                t.event_keys.delete().where(
                    k.shard == sa.bindparam("k"),
                    k.enterprise_id == enterprise_id,
                    k.event_id == sa.bindparam("i"),
                ),
                [{"k": self._key_shard(enterprise_id, i), "i": i} for i in replaced],
            )
        rows = [
            event_row(r, enterprise_id, batch_id, received_at, methodology_ids)
            for r in decision.records
        ]
        insert_rows(self.conn, t.events, EVENT_COLUMNS, rows)
        # the platform-wide keys: a second event under one key, or a second active reduction
        # of one piece of evidence, fails here (a race lost: the batch is decided again)
        insert_rows(
            self.conn,
            t.event_keys,
            ("shard", "enterprise_id", "event_id", "event_row"),
            [(self._key_shard(enterprise_id, r[3]), enterprise_id, r[3], r[1]) for r in rows],
        )
        self._key_shards.clear()
        evidenced = [(shard_of_digest(r[_FP]), r[_FP], r[1]) for r in rows if r[_FP] is not None]
        if evidenced:
            insert_rows(
                self.conn, t.evidence_keys, ("shard", "evidence_fp", "reduction_id"), evidenced
            )
        counts: dict[str, int] = defaultdict(int)
        unkeyed = []
        for o in decision.outcomes:
            counts[o.kind.value + ("_replayed" if o.replayed else "")] += 1
            if o.event_id is None:
                unkeyed.append({"index": o.position, "reason": o.reason, "message": o.message})
        self.conn.execute(
            t.batches.insert().values(
                shard=shard_of_enterprise(enterprise_id),
                id=batch_id,
                enterprise_id=enterprise_id,
                received_at=received_at,
                source=source,
                event_count=len(decision.outcomes),
                counts=json.dumps(dict(sorted(counts.items()))),
                unkeyed=json.dumps(unkeyed) if unkeyed else None,
            )
        )

    def close_batch(self, enterprise_id: uuid.UUID, batch_id: uuid.UUID) -> int:
        """Number the batch in its enterprise's commit order: the enterprise's `feed_heads`
        row is locked from here until commit, so its numbers follow commits. Only batches of
        the same enterprise wait here (and only for each other's commit). Call last."""
        b, shard = t.batches.c, shard_of_enterprise(enterprise_id)
        seq = self.conn.execute(
            sa.text(
                "INSERT INTO feed_heads (shard, enterprise_id, batch_seq) VALUES (:k, :e, 1) "
                "ON CONFLICT (shard, enterprise_id) "
                "DO UPDATE SET batch_seq = feed_heads.batch_seq + 1 RETURNING batch_seq"
            ).bindparams(sa.bindparam("e", type_=sa.Uuid)),
            {"k": shard, "e": enterprise_id},
        ).scalar_one()
        self.conn.execute(
            t.batches.update().where(b.shard == shard, b.id == batch_id).values(seq=seq)
        )
        return int(seq)

    def apply_moves(
        self, person_account: str, moves: Sequence[Move], resolved_at: datetime
    ) -> None:
        """Resolve the pending reductions at binding: a moved one goes to the person — its row
        into the person's shard, as a copy followed by the deletion of the original (the
        database refuses any other deletion of a credited event: migration 0023) —, one
        reversed there loses its evidence key (the evidence may back another reduction)."""
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
        target = shard_of_account(person_account)
        moved = [mv.reduction_id for mv in moves if mv.moved]
        for part in chunks(moved, 5000):
            ids = any_of(self.conn, e.id, part)
            columns = [c for c in t.events.columns if c.name != "shard"]
            self.conn.execute(
                t.events.insert().from_select(
                    ["shard", *(c.name for c in columns)],
                    sa.select(sa.literal(target, sa.SmallInteger), *columns).where(
                        ids, e.shard != target
                    ),
                )
            )
            self.conn.execute(t.events.delete().where(ids, e.shard != target))
        reversed_ = [mv.reduction_id for mv in moves if not mv.moved]
        if reversed_:
            drop_evidence_keys(self.conn, reversed_)

    def add_region_totals(self, deltas: Mapping[tuple[str, str, date], int]) -> None:
        """Adjust the regional aggregates, in the rows of the stripe this transaction holds
        (`stripes.writer_stripe`: no two open transactions share one; readers sum them)."""
        items = sorted((k, v) for k, v in deltas.items() if v)
        if not items:
            return
        shard = writer_stripe(self.conn)
        regions, groups, days = zip(*(k for k, _ in items), strict=True)
        amounts = [v for _, v in items]
        if self.conn.dialect.name == "postgresql":
            self.conn.exec_driver_sql(
                "INSERT INTO region_totals (shard, region, group_code, day, grams) "
                "SELECT %(k)s, * FROM "
                "unnest(%(r)s::text[], %(g)s::text[], %(d)s::date[], %(a)s::int8[]) "
                "ON CONFLICT (shard, region, group_code, day) "
                "DO UPDATE SET grams = region_totals.grams + EXCLUDED.grams",
                {"k": shard, "r": list(regions), "g": list(groups), "d": list(days), "a": amounts},
            )
        else:
            self.conn.exec_driver_sql(
                "INSERT INTO region_totals (shard, region, group_code, day, grams) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (shard, region, group_code, day) "
                "DO UPDATE SET grams = grams + excluded.grams",
                [(shard, r, g, d.isoformat(), a) for (r, g, d), a in items],
            )
