"""`ledger verify` over the stored ledger: streams it through the checks in `domain.checks`.

One pass over the entries (in id order) recomputes every entry digest, every leaf and every
balance; one pass per shard replays its log against its head, its stored subtrees and every
stored checkpoint; the claims
are read per holder in index order; every credited reduction is recomputed from its trace.
Memory stays bounded by the number of (account, asset) balances, not by the number of events.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import tzinfo
from itertools import groupby
from typing import Any

import msgspec
import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.aggregates_repository import SqlAggregates
from tanpuhui.adapters.db.audit_repository import SqlAudit
from tanpuhui.adapters.db.bulk import any_of
from tanpuhui.adapters.db.log_repository import SqlLogs
from tanpuhui.adapters.db.market_repository import SqlMarket
from tanpuhui.adapters.db.retirement_repository import SqlRetirement
from tanpuhui.domain.audit import check_audit_chain
from tanpuhui.domain.checkpoint import Checkpoint, shard_origin
from tanpuhui.domain.checks import (
    Violation,
    check_balances,
    check_claims,
    check_entry_balanced,
    check_quality,
    check_region_totals,
    check_trace,
)
from tanpuhui.domain.claims import Claim
from tanpuhui.domain.households import meter_named
from tanpuhui.domain.ledger import Posting, account_kind
from tanpuhui.domain.log_checks import (
    LineKey,
    NoteKey,
    StoredEntry,
    check_checkpoint_heads,
    check_entry,
    check_head,
    check_note,
    replay_shard,
)
from tanpuhui.domain.methodology import Catalogue
from tanpuhui.domain.shards import (
    shard_of_account,
    shard_of_digest,
    shard_of_enterprise,
    shard_of_event,
    shard_of_event_key,
    shard_of_person,
    shard_of_reduction,
    shard_of_subject,
)

ENTRY_CHUNK = 200
_decode = msgspec.json.Decoder().decode


class SqlVerify:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.logs = SqlLogs(conn)

    def violations(
        self, catalogue: Catalogue, tz: tzinfo, notes: NoteKey | None = None
    ) -> Iterator[Violation]:
        computed: dict[tuple[str, str], int] = defaultdict(int)
        yield from self._entries(computed)
        stored: dict[tuple[str, str], int] = defaultdict(int)
        for r in self.conn.execute(sa.select(t.balances)):
            stored[(r.account, r.asset)] += r.amount
        yield from check_balances(
            {k: v for k, v in stored.items() if v != 0},
            {k: v for k, v in computed.items() if v != 0},
        )
        yield from self._misplaced_balances()
        yield from self._misplaced_rows()
        yield from self._bindings()
        yield from self._event_keys()
        yield from self._logs(notes)
        yield from self._queue()
        yield from self._reduction_lines()
        yield from self._claims(catalogue)
        yield from self._traces(catalogue)
        yield from self._region_totals(computed)
        yield from SqlAggregates(self.conn).consistency()
        yield from check_audit_chain(SqlAudit(self.conn).chain())
        yield from SqlMarket(self.conn).lineage_violations()
        yield from SqlRetirement(self.conn).violations()

    def _entries(self, computed: dict[tuple[str, str], int]) -> Iterator[Violation]:
        """Every entry, in id order, against its digest, its balance and its leaves."""
        le = t.ledger_entries.c
        shards = self.logs.shards()
        last: uuid.UUID | None = None
        while True:
            query = sa.select(t.ledger_entries).order_by(le.id).limit(ENTRY_CHUNK)
            heads = self.conn.execute(query if last is None else query.where(le.id > last)).all()
            if not heads:
                return
            ids = [h.id for h in heads]
            lines = self._lines(ids)
            leaves = self._leaves(ids)
            for h in heads:
                keyed = lines.get(h.id, [])
                postings = tuple(p for _, p in keyed)
                for posting in postings:
                    computed[(posting.account, posting.asset)] += posting.amount
                yield from check_entry_balanced(h.id, postings)
                entry = StoredEntry(
                    h.id, h.kind, h.created_at, h.memo, h.hash, postings,
                    tuple(k for k, _ in keyed),
                )  # fmt: skip
                yield from check_entry(entry, shards, leaves.get(h.id, {}))
            last = heads[-1].id

    def _lines(self, ids: list[uuid.UUID]) -> dict[object, list[tuple[LineKey, Posting]]]:
        p, e = t.postings.c, t.events.c
        lines: dict[object, list[tuple[LineKey, Posting]]] = defaultdict(list)
        for r in self.conn.execute(
            sa.select(p.entry_id, p.line, p.account, p.asset, p.amount, p.reduction_id)
            .where(any_of(self.conn, p.entry_id, ids))
            .order_by(p.entry_id, p.line)
        ):
            posting = Posting(r.account, r.asset, r.amount, r.reduction_id)
            lines[r.entry_id].append(((r.line, r.reduction_id), posting))
        for ev in self.conn.execute(
            sa.select(e.entry_id, e.issued_account, e.asset, e.grams, e.id).where(
                any_of(self.conn, e.entry_id, ids)
            )
        ):
            posting = Posting(ev.issued_account, ev.asset, ev.grams, ev.id)
            lines[ev.entry_id].append(((None, ev.id), posting))
        return lines

    def _leaves(self, ids: list[uuid.UUID]) -> dict[object, dict[tuple[int, LineKey], bytes]]:
        """The leaves of these entries' lines: in a log, or queued for one (a line both in a
        log and in the queue is reported by `_queue`)."""
        lv = t.log_leaves.c
        leaves: dict[object, dict[tuple[int, LineKey], bytes]] = defaultdict(dict)
        for r in self.conn.execute(
            sa.select(lv.entry_id, lv.shard, lv.posting_line, lv.reduction_id, lv.hash).where(
                any_of(self.conn, lv.entry_id, ids)
            )
        ):
            leaves[r.entry_id][(r.shard, (r.posting_line, r.reduction_id))] = bytes(r.hash)
        for entry_id, x in self.logs.queued_lines(ids):
            leaves[entry_id].setdefault((x.shard, (x.posting_line, x.reduction_id)), x.hash)
        return leaves

    def _queue(self) -> Iterator[Violation]:
        """Queued lines belong to an entry and are not in a log already."""
        q, le, lv = t.log_queue.c, t.ledger_entries.c, t.log_leaves.c
        orphans = self.conn.execute(
            sa.select(q.shard, q.entry_id)
            .select_from(t.log_queue.outerjoin(t.ledger_entries, le.id == q.entry_id))
            .where(le.id.is_(None))
        )
        for r in orphans:
            yield Violation(
                9, "leaf_without_line", str(r.entry_id),
                f"shard {r.shard} queues lines of an entry that does not exist",
            )  # fmt: skip
        twice = self.conn.execute(
            sa.select(q.shard, q.entry_id).where(
                sa.exists().where(lv.shard == q.shard, lv.entry_id == q.entry_id)
            )
        )
        for r in twice:
            yield Violation(
                9, "leaf_without_line", str(r.entry_id),
                f"shard {r.shard} queues lines of the entry its log holds already",
            )  # fmt: skip

    def _misplaced_balances(self) -> Iterator[Violation]:
        """An account's balance rows live in its owner's shard (issuance: any shard)."""
        shards = self.logs.shards()
        for r in self.conn.execute(sa.select(t.balances.c.shard, t.balances.c.account).distinct()):
            if (
                account_kind(r.account) != "issuance"
                and shard_of_account(r.account, shards) != r.shard
            ):
                yield Violation(
                    1, "balance_mismatch", r.account, f"a balance row sits in shard {r.shard}"
                )

    def _misplaced_rows(self) -> Iterator[Violation]:
        """Rows found by their key sit in the shard that key names (a row elsewhere is one the
        keyed lookups never see: a binding intake misses, a held claim a replay re-holds)."""
        placed: list[tuple[sa.Table, Any]] = [
            (t.persons, lambda r: (str(r.id), shard_of_person(r.id))),
            (t.bindings, lambda r: (str(r.id), shard_of_subject(r.enterprise_id, r.subject))),
            (t.person_bindings, lambda r: (str(r.binding_id), shard_of_person(r.person_id))),
            (t.person_tokens, lambda r: (r.token_hash.hex()[:16], shard_of_digest(r.token_hash))),
            (t.binding_codes, lambda r: (r.code_hash.hex()[:16], shard_of_digest(r.code_hash))),
            (t.batches, lambda r: (str(r.id), shard_of_enterprise(r.enterprise_id))),
            (t.provisional_claims, lambda r: (str(r.id), shard_of_enterprise(r.enterprise_id))),
            (t.corrections, lambda r: (str(r.id), shard_of_reduction(r.reduction_id))),
            (t.events, lambda r: (str(r.id), shard_of_event(r.holder, r.enterprise_id, r.subject))),
            (t.event_keys, lambda r: (r.event_id, shard_of_event_key(r.enterprise_id, r.event_id))),
            (t.evidence_keys, lambda r: (r.evidence_fp.hex(), shard_of_digest(r.evidence_fp))),
        ]
        for table, where in placed:
            keys = [c for c in table.primary_key.columns if c.name != "shard"]
            wanted = {"enterprise_id", "subject", "person_id", "reduction_id", "holder"}
            needed = (wanted & set(table.c.keys())) - {c.name for c in keys}
            columns = [table.c.shard, *keys, *(table.c[n] for n in sorted(needed))]
            rows = self.conn.execution_options(yield_per=5000).execute(sa.select(*columns))
            for r in rows:
                subject, shard = where(r)
                if r.shard != shard:
                    yield Violation(
                        3, "misplaced_row", subject,
                        f"a {table.name} row sits in shard {r.shard}, its key's is {shard}",
                    )  # fmt: skip

    def _bindings(self) -> Iterator[Violation]:
        """Every binding is listed in its person's shard and nothing else is; a binding, token
        or binding code names a person who exists (what foreign keys checked while these
        rows lived with their person)."""
        b, pb = t.bindings.c, t.person_bindings.c
        same = sa.and_(
            pb.binding_id == b.id, pb.binding_shard == b.shard, pb.person_id == b.person_id
        )
        unlisted = sa.select(b.id).where(~sa.exists().where(same))
        for r in self.conn.execute(unlisted):
            yield Violation(3, "binding_mismatch", str(r.id), "not listed in its person's shard")
        stray = sa.select(pb.binding_id).where(~sa.exists().where(same))
        for r in self.conn.execute(stray):
            yield Violation(
                3, "binding_mismatch", str(r.binding_id), "listed for a person, but no such binding"
            )
        p = t.persons.c
        for table in (t.bindings, t.person_tokens, t.binding_codes):
            orphans = (
                sa.select(table.c.person_id)
                .distinct()
                .where(~sa.exists().where(p.id == table.c.person_id))
            )
            for r in self.conn.execute(orphans):
                yield Violation(
                    3, "binding_mismatch", str(r.person_id), f"{table.name} names no person"
                )

    def _event_keys(self) -> Iterator[Violation]:
        """The platform-wide keys agree with the events, both ways: every event has its key
        (enterprise, event id) naming it, every active reduction with evidence holds its
        fingerprint's key, and no key names anything else; no event is in two shards (a move
        left its original behind). Set differences: one pass over each table."""
        e, k, v = t.events.c, t.event_keys.c, t.evidence_keys.c
        events = sa.select(e.enterprise_id, e.event_id, e.id)
        keys = sa.select(k.enterprise_id, k.event_id, k.event_row)
        evidenced = sa.select(e.evidence_fp, e.id).where(
            e.state == "active", e.evidence_fp.is_not(None)
        )
        evidence = sa.select(v.evidence_fp, v.reduction_id)
        pairs: list[tuple[Any, str]] = [
            (
                sa.except_(events, keys),
                "an event whose key (enterprise, event id) does not name it",
            ),
            (sa.except_(keys, events), "an event key that names no such event"),
            (sa.except_(evidenced, evidence), "an active reduction whose evidence key is not its"),
            (sa.except_(evidence, evidenced), "an evidence key held by no active reduction"),
        ]
        for query, message in pairs:
            for r in self.conn.execute(query):
                yield Violation(3, "key_mismatch", str(r[-1]), message)
        twice = sa.select(e.id).group_by(e.id).having(sa.func.count() > 1)
        for r in self.conn.execute(twice):
            yield Violation(3, "key_mismatch", str(r.id), "an event in two shards")

    def _logs(self, notes: NoteKey | None) -> Iterator[Violation]:
        """Replay every shard's log; check its head, the stored checkpoints and the shards'
        own checkpoints against what the logs recompute to."""
        lv, n, s = t.log_leaves.c, t.log_nodes.c, t.shard_checkpoints.c
        checkpoints = [self.logs.checkpoint(i) for i in self.logs.checkpoint_ids()]
        shard_notes = self.conn.execute(
            sa.select(t.shard_checkpoints).order_by(s.shard, s.size)
        ).all()
        sizes: dict[int, set[int]] = defaultdict(set)
        for cp in checkpoints:
            for k, (size, _) in enumerate(cp.heads if cp else ()):
                sizes[k].add(size)
        for r in shard_notes:
            sizes[r.shard].add(r.size)
        replays = []
        # two ordered streams, grouped by shard as they come (not two statements per shard:
        # 2,048 of them for an empty ledger); a shard's rows are about 1/S of all
        leaves = _ShardRows(
            self.conn.execute(
                sa.select(lv.shard, lv.idx, lv.hash)
                .order_by(lv.shard, lv.idx)
                .execution_options(yield_per=_STREAM)
            )
        )
        nodes = _ShardRows(
            self.conn.execute(
                sa.select(n.shard, n.level, n.idx, n.hash)
                .order_by(n.shard)
                .execution_options(yield_per=_STREAM)
            )
        )
        for head in self.conn.execute(sa.select(t.log_heads).order_by(t.log_heads.c.shard)).all():
            replay, found = replay_shard(
                head.shard,
                ((r.idx, bytes(r.hash)) for r in leaves.of(head.shard)),
                {(r.level, r.idx): bytes(r.hash) for r in nodes.of(head.shard)},
                sizes[head.shard],
            )
            yield from found
            yield from check_head(head.shard, replay, head.size, head.root, head.frontier)
            replays.append(replay)
        leaves.close()
        nodes.close()
        for cp in checkpoints:
            if cp is None:
                continue
            subject = f"checkpoint {cp.id}"
            yield from check_checkpoint_heads(subject, cp.size, cp.root, cp.heads, replays)
            if notes is not None:
                body = Checkpoint(notes.origin, cp.size, cp.root)
                yield from check_note(subject, cp.note, body, notes.check, notes.key_id)
        for r in shard_notes:
            subject = f"shard {r.shard} checkpoint {r.size}"
            if r.shard >= len(replays) or replays[r.shard].roots.get(r.size) != r.root:
                yield Violation(
                    9, "checkpoint_head_mismatch", subject, "not a prefix of the stored log"
                )
            if notes is not None:
                body = Checkpoint(shard_origin(notes.origin, r.shard), r.size, r.root)
                yield from check_note(subject, r.note, body, notes.check, notes.key_id)

    def _reduction_lines(self) -> Iterator[Violation]:
        """Each reduction backs exactly the grams its holder lines add up to (3)."""
        e, p = t.events.c, t.postings.c
        # what backs a reduction: its holders' lines (retired and exported grams still back
        # it), and any shortfall its buffer covers
        kinds = ("person", "pending", "enterprise", "buffer", "retired", "exporting", "exported")
        holder_kinds = sa.or_(*(p.account.like(f"{k}:%") for k in kinds))
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


#: Rows fetched at a time from a verify stream (a server-side cursor on PostgreSQL).
_STREAM = 20_000


class _ShardRows:
    """The rows of a result ordered by shard, handed out one shard at a time, in order."""

    def __init__(self, result: sa.CursorResult[Any]) -> None:
        self._result = result
        self._rows = iter(result)
        self._next: Any = next(self._rows, None)

    def close(self) -> None:
        self._result.close()  # a server-side cursor left open until the transaction ends

    def of(self, shard: int) -> list[Any]:
        """The rows of `shard` (shards must be asked for in increasing order; the rows of a
        shard never asked for are skipped)."""
        while self._next is not None and self._next.shard < shard:
            self._next = next(self._rows, None)
        out = []
        while self._next is not None and self._next.shard == shard:
            out.append(self._next)
            self._next = next(self._rows, None)
        return out
