"""`ledger verify` over the stored ledger: streams it through the checks in `domain.checks`.

One pass over the entries in chain order recomputes every hash and every balance; the claims
are read per holder in index order; every credited reduction is recomputed from its trace.
Memory stays bounded by the number of (account, asset) balances, not by the number of events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import tzinfo
from itertools import groupby

import msgspec
import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.aggregates_repository import SqlAggregates
from tanpuhui.adapters.db.audit_repository import SqlAudit
from tanpuhui.adapters.db.bulk import any_of
from tanpuhui.adapters.db.market_repository import SqlMarket
from tanpuhui.domain.audit import check_audit_chain
from tanpuhui.domain.checks import (
    SealedEntry,
    Violation,
    check_balances,
    check_chain,
    check_claims,
    check_entry_balanced,
    check_quality,
    check_region_totals,
    check_trace,
)
from tanpuhui.domain.claims import Claim
from tanpuhui.domain.households import meter_named
from tanpuhui.domain.ledger import Posting, account_kind
from tanpuhui.domain.methodology import Catalogue

ENTRY_CHUNK = 200
_decode = msgspec.json.Decoder().decode


class SqlVerify:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def violations(self, catalogue: Catalogue, tz: tzinfo) -> Iterator[Violation]:
        computed: dict[tuple[str, str], int] = defaultdict(int)
        unbalanced: list[Violation] = []
        yield from check_chain(self._entries(computed, unbalanced))
        yield from unbalanced
        stored = {
            (r.account, r.asset): r.amount
            for r in self.conn.execute(sa.select(t.balances))
            if r.amount != 0
        }
        yield from check_balances(stored, {k: v for k, v in computed.items() if v != 0})
        yield from self._reduction_lines()
        yield from self._claims(catalogue)
        yield from self._traces(catalogue)
        yield from self._region_totals(computed)
        yield from SqlAggregates(self.conn).consistency()
        yield from check_audit_chain(SqlAudit(self.conn).chain())
        yield from SqlMarket(self.conn).lineage_violations()

    def _entries(
        self, computed: dict[tuple[str, str], int], unbalanced: list[Violation]
    ) -> Iterator[SealedEntry]:
        le, p, e = t.ledger_entries.c, t.postings.c, t.events.c
        last_seq = -1
        while True:
            heads = self.conn.execute(
                sa.select(t.ledger_entries)
                .where(le.seq > last_seq)
                .order_by(le.seq)
                .limit(ENTRY_CHUNK)
            ).all()
            if not heads:
                return
            ids = [h.id for h in heads]
            lines: dict[object, list[Posting]] = defaultdict(list)
            for r in self.conn.execute(
                sa.select(p.entry_id, p.account, p.asset, p.amount, p.reduction_id).where(
                    any_of(self.conn, p.entry_id, ids)
                )
            ):
                lines[r.entry_id].append(Posting(r.account, r.asset, r.amount, r.reduction_id))
            for r in self.conn.execute(
                sa.select(e.entry_id, e.issued_account, e.asset, e.grams, e.id).where(
                    any_of(self.conn, e.entry_id, ids)
                )
            ):
                lines[r.entry_id].append(Posting(r.issued_account, r.asset, r.grams, r.id))
            for h in heads:
                postings = tuple(lines.get(h.id, ()))
                for posting in postings:
                    computed[(posting.account, posting.asset)] += posting.amount
                unbalanced.extend(check_entry_balanced(h.id, postings))
                yield SealedEntry(
                    h.id, h.seq, h.kind, h.created_at, h.prev_hash, h.hash, postings, h.memo
                )
            last_seq = heads[-1].seq

    def _reduction_lines(self) -> Iterator[Violation]:
        """Each reduction backs exactly the grams its holder lines add up to (3)."""
        e, p = t.events.c, t.postings.c
        # what backs a reduction: its holders' lines, and any shortfall its buffer covers
        holder_kinds = sa.or_(
            *(p.account.like(f"{k}:%") for k in ("person", "pending", "enterprise", "buffer"))
        )
        moved = (
            sa.select(p.reduction_id, sa.func.sum(p.amount).label("total"))
            .where(p.reduction_id.is_not(None), holder_kinds)
            .group_by(p.reduction_id)
            .subquery()
        )
        expected = e.grams + sa.func.coalesce(moved.c.total, 0)
        rows = self.conn.execute(
            sa.select(e.id, e.live_grams, e.state, expected.label("expected"))
            .select_from(t.events.outerjoin(moved, moved.c.reduction_id == e.id))
            .where(
                e.grams > 0,
                sa.or_(
                    e.live_grams != expected,
                    sa.and_(e.state == "active", e.live_grams <= 0),
                    sa.and_(e.state == "reversed", e.live_grams != 0),
                ),
            )
        )
        for r in rows:
            yield Violation(
                3,
                "reduction_lines_mismatch",
                str(r.id),
                f"backs {r.live_grams} g ({r.state}) but its ledger lines add up to {r.expected} g",
            )

    def _claims(self, catalogue: Catalogue) -> Iterator[Violation]:
        e = t.events.c
        caps: dict[str, int] = {}
        for m in catalogue.methodologies:
            if m.daily_cap_grams is not None:
                for b in m.behaviours:
                    caps[b] = max(caps.get(b, 0), m.daily_cap_grams)
        rows = self.conn.execution_options(yield_per=5000).execute(
            sa.select(
                e.holder,
                e.id,
                e.group_code,
                e.behaviour,
                e.started_at,
                e.ended_at,
                e.day,
                e.live_grams,
                e.evidence_issuer,  # two meters' periods are two acts (domain/claims.py)
            )
            .where(e.state == "active")
            .order_by(e.holder, e.started_at)
        )
        for holder, group in groupby(rows, key=lambda r: r.holder):
            claims = [Claim(*r[1:8], meter_named(r.evidence_issuer)) for r in group]
            yield from check_claims({holder: claims}, catalogue.groups, caps)

    def _traces(self, catalogue: Catalogue) -> Iterator[Violation]:
        e, m = t.events.c, t.methodology_versions.c
        by_id = {
            r.id: catalogue.get(f"{r.code}@{r.version}")
            for r in self.conn.execute(sa.select(m.id, m.code, m.version))
        }
        rows = self.conn.execution_options(yield_per=5000).execute(
            sa.select(e.id, e.methodology_id, e.trace, e.grams).where(e.grams > 0)
        )
        for r in rows:
            trace = _decode(r.trace) if r.trace else None
            yield from check_trace(r.id, by_id.get(r.methodology_id), trace, r.grams)
        c = t.corrections.c
        for r in self.conn.execution_options(yield_per=5000).execute(
            sa.select(c.reduction_id, c.to_methodology_id, c.trace, c.after_grams)
        ):
            yield from check_trace(
                r.reduction_id, by_id.get(r.to_methodology_id), _decode(r.trace), r.after_grams
            )
        yield from self._qualities()

    def _qualities(self) -> Iterator[Violation]:
        """Each traced row's stored quality against its current trace (the latest
        correction's where it was re-quantified)."""
        e, c = t.events.c, t.corrections.c
        current = sa.func.coalesce(c.trace, e.trace)
        query = (
            sa.select(e.id, e.quality, current.label("trace"))
            .select_from(
                t.events.outerjoin(
                    t.corrections,
                    sa.and_(
                        c.reduction_id == e.id, c.to_methodology_id == e.current_methodology_id
                    ),
                )
            )
            .where(e.trace.is_not(None))
        )
        for r in self.conn.execution_options(yield_per=5000).execute(query):
            yield from check_quality(r.id, r.quality, _decode(r.trace))

    def _region_totals(self, computed: dict[tuple[str, str], int]) -> Iterator[Violation]:
        e = t.events.c
        live = self.conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(e.live_grams), 0)).where(e.state == "active")
        ).scalar_one()
        regional = self.conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(t.region_totals.c.grams), 0))
        ).scalar_one()
        issued = -sum(
            amount
            for (account, asset), amount in computed.items()
            if account_kind(account) == "issuance" and asset.startswith("co2e:")
        )
        yield from check_region_totals(int(live), int(regional), issued)
