"""Storage of the per-shard Merkle logs: the queue, heads, leaves, stored subtrees and
checkpoints.

A writer never appends to a log itself: `enqueue` stores its lines' leaves, one row per
(shard, entry), in the writer's own transaction, touching no head (writers of the same shard
do not wait for each other either). `sequence` integrates queued lines: it locks the heads of
the shards asked for in ascending shard order — `SKIP LOCKED` after a writer's commit, so a
shard another sequencer holds is skipped, never waited for (its lines stay queued for the
next pass); waiting for them before a checkpoint — computes the new interior hashes in Python
from the stored frontier, writes leaves and complete subtrees of 16 leaves and up in bulk,
moves the heads and deletes exactly the queue rows it integrated.
Proofs read the stored subtrees and rehash at most 15 leaves per missing node.
"""

from __future__ import annotations

import uuid
import weakref
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import any_of, insert_rows
from tanpuhui.domain.checkpoint import Leaf, PublishedCheckpoint, StoredLeaf
from tanpuhui.domain.ledger import Posting
from tanpuhui.domain.log_checks import LineKey, StoredEntry
from tanpuhui.domain.merkle import NODE_KEEP_LEVEL, Frontier, SubtreeHash, append, tree_hash

#: complete subtrees stored from this level (2**4 = 16 leaves) up
NODE_LEVEL = NODE_KEEP_LEVEL
LEAF_COLUMNS = ("shard", "idx", "entry_id", "posting_line", "reduction_id", "hash")
NODE_COLUMNS = ("shard", "level", "idx", "hash")
QUEUE_COLUMNS = ("shard", "entry_id", "lines")
#: a queued line: posting line (4 bytes, 0: a line on an event row) ‖ reduction id (16 bytes,
#: zero: none) ‖ leaf hash (32 bytes)
QUEUED_LINE = 52
#: queue rows deleted per SQLite statement (two bind parameters each, under its limit)
DELETE_CHUNK = 4000
_NO_ID = bytes(16)
#: A unit of work that queued at least this many lines integrates them after its commit (a
#: batch: one more short transaction for thousands of lines). A smaller one — a sale, a
#: binding, a redemption: a handful of lines, for which that transaction would be a third of
#: the work — leaves them to the next pass over their shards (every batch's pass integrates
#: all that is queued in the shards it takes) or the next checkpoint.
INLINE_SEQUENCE_LINES = 64


#: The shard count of each engine's database, once read (`SqlLogs.shards`).
_SHARDS: weakref.WeakKeyDictionary[sa.Engine, int] = weakref.WeakKeyDictionary()


class LoggedLine(NamedTuple):
    leaf: Leaf
    posting_line: int | None  # None: the line is on an event row, named by its reduction id


def pack_lines(lines: Iterable[LoggedLine]) -> bytes:
    return b"".join(
        (x.posting_line or 0).to_bytes(4, "big")
        + (x.leaf.line.reduction_id.bytes if x.leaf.line.reduction_id else _NO_ID)
        + x.leaf.hash
        for x in lines
    )


def unpack_lines(packed: bytes) -> list[tuple[int | None, uuid.UUID | None, bytes]]:
    """(posting line, reduction id, leaf hash) of each queued line, in entry order."""
    out: list[tuple[int | None, uuid.UUID | None, bytes]] = []
    for i in range(0, len(packed), QUEUED_LINE):
        line = int.from_bytes(packed[i : i + 4], "big")
        rid = packed[i + 4 : i + 20]
        out.append(
            (line or None, uuid.UUID(bytes=rid) if rid != _NO_ID else None, packed[i + 20 : i + 52])
        )
    return out


def pack_heads(heads: Sequence[tuple[int, bytes]]) -> bytes:
    return b"".join(n.to_bytes(8, "big") + r for n, r in heads)


def unpack_heads(packed: bytes) -> list[tuple[int, bytes]]:
    return [
        (int.from_bytes(packed[i : i + 8], "big"), packed[i + 8 : i + 40])
        for i in range(0, len(packed), 40)
    ]


class SqlLogs:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self._shards: int | None = None
        #: the shards this unit of work queued lines for, and how many lines
        self.queued: set[int] = set()
        self.queued_lines_count = 0

    def shards(self) -> int:
        """The shard count (set by the migration, fixed for a database): read once per engine,
        not once per unit of work (a sale is a dozen statements; this was one of them)."""
        if self._shards is None:
            known = _SHARDS.get(self.conn.engine)
            if known is None:
                known = int(self.conn.execute(sa.select(t.ledger_config.c.shards)).scalar_one())
                _SHARDS[self.conn.engine] = known
            self._shards = known
        return self._shards

    def enqueue(self, entry_id: uuid.UUID, lines: Sequence[LoggedLine]) -> None:
        """Queue an entry's lines for their shards' logs (no head is read or locked)."""
        self.enqueue_many([(entry_id, lines)])

    def enqueue_many(self, entries: Sequence[tuple[uuid.UUID, Sequence[LoggedLine]]]) -> None:
        """Queue the lines of several entries: one row per (shard, entry), one insert."""
        rows = []
        for entry_id, lines in entries:
            by_shard: dict[int, list[LoggedLine]] = defaultdict(list)
            for line in lines:
                by_shard[line.leaf.shard].append(line)
            rows += [(k, entry_id, pack_lines(todo)) for k, todo in sorted(by_shard.items())]
            self.queued.update(by_shard)
            self.queued_lines_count += len(lines)
        insert_rows(self.conn, t.log_queue, QUEUE_COLUMNS, rows)

    def queued_shards(self) -> list[int]:
        """The shards with lines waiting to be integrated."""
        q = t.log_queue.c
        return list(self.conn.execute(sa.select(q.shard).distinct().order_by(q.shard)).scalars())

    def queued_lines(self, entry_ids: Sequence[uuid.UUID]) -> list[tuple[uuid.UUID, StoredLeaf]]:
        """The queued lines of the given entries (index -1: not in a log yet)."""
        q = t.log_queue.c
        return [
            (r.entry_id, StoredLeaf(r.shard, -1, line, rid, digest))
            for r in self.conn.execute(
                sa.select(q.shard, q.entry_id, q.lines).where(
                    any_of(self.conn, q.entry_id, entry_ids)
                )
            )
            for line, rid, digest in unpack_lines(r.lines)
        ]

    def sequence(self, shards: Iterable[int] | None = None, *, wait: bool = False) -> int:
        """Integrate the queued lines of `shards` (all shards with queued lines: None) into
        their logs, oldest entry first; returns how many lines. `wait=False` skips a shard
        whose head another transaction holds."""
        wanted = sorted(set(shards)) if shards is not None else self.queued_shards()
        if not wanted:
            return 0
        h, q = t.log_heads.c, t.log_queue.c
        heads = self.conn.execute(
            sa.select(h.shard, h.size, h.frontier)
            .where(h.shard.in_(wanted))
            .order_by(h.shard)
            .with_for_update(skip_locked=not wait)
        ).all()
        if not heads:
            return 0
        queued: dict[int, list[tuple[uuid.UUID, bytes]]] = defaultdict(list)
        for r in self.conn.execute(
            sa.select(q.shard, q.entry_id, q.lines)
            .where(q.shard.in_([x.shard for x in heads]))
            .order_by(q.shard, q.entry_id)
        ):
            queued[r.shard].append((r.entry_id, bytes(r.lines)))
        leaves: list[tuple[object, ...]] = []
        nodes: list[tuple[object, ...]] = []
        moved: list[tuple[int, int, bytes, bytes]] = []
        done_rows: list[tuple[int, uuid.UUID]] = []
        for head in heads:
            todo = [
                (entry_id, line, rid, digest)
                for entry_id, packed in queued.get(head.shard, ())
                for line, rid, digest in unpack_lines(packed)
            ]
            if not todo:
                continue
            before = Frontier.unpack(head.size, head.frontier)
            after, made = append(before, (x[3] for x in todo), NODE_LEVEL)
            leaves.extend(
                (head.shard, head.size + i, entry_id, line, rid, digest)
                for i, (entry_id, line, rid, digest) in enumerate(todo)
            )
            nodes.extend((head.shard, n.level, n.index, n.hash) for n in made)
            moved.append((head.shard, after.size, after.root(), after.pack()))
            done_rows.extend((head.shard, entry_id) for entry_id, _ in queued[head.shard])
        if not leaves:
            return 0
        insert_rows(self.conn, t.log_leaves, LEAF_COLUMNS, leaves)
        if nodes:
            insert_rows(self.conn, t.log_nodes, NODE_COLUMNS, nodes)
        self._move_heads(moved)
        self._unqueue(done_rows)
        return len(leaves)

    def _unqueue(self, rows: list[tuple[int, uuid.UUID]]) -> None:
        """Delete exactly these queue rows (rows queued since they were read stay)."""
        if self.conn.dialect.name == "postgresql":
            self.conn.exec_driver_sql(
                "DELETE FROM log_queue WHERE (shard, entry_id) IN "
                "(SELECT * FROM unnest(%(k)s::int2[], %(e)s::uuid[]))",
                {"k": [k for k, _ in rows], "e": [e for _, e in rows]},
            )
            return
        q = t.log_queue.c
        for i in range(0, len(rows), DELETE_CHUNK):
            self.conn.execute(
                t.log_queue.delete().where(
                    sa.tuple_(q.shard, q.entry_id).in_(rows[i : i + DELETE_CHUNK])
                )
            )

    def _move_heads(self, moved: list[tuple[int, int, bytes, bytes]]) -> None:
        if self.conn.dialect.name == "postgresql":
            self.conn.exec_driver_sql(
                "UPDATE log_heads SET size = m.size, root = m.root, frontier = m.frontier "
                "FROM unnest(%(k)s::int2[], %(n)s::int8[], %(r)s::bytea[], %(f)s::bytea[]) "
                "AS m(shard, size, root, frontier) WHERE log_heads.shard = m.shard",
                {
                    "k": [m[0] for m in moved],
                    "n": [m[1] for m in moved],
                    "r": [m[2] for m in moved],
                    "f": [m[3] for m in moved],
                },
            )
        else:
            self.conn.exec_driver_sql(
                "UPDATE log_heads SET size = ?, root = ?, frontier = ? WHERE shard = ?",
                [(n, r, f, k) for k, n, r, f in moved],
            )

    def heads(self) -> list[tuple[int, bytes]]:
        """Every shard's (size, root), in shard order."""
        h = t.log_heads.c
        return [
            (r.size, r.root) for r in self.conn.execute(sa.select(h.size, h.root).order_by(h.shard))
        ]

    def head(self, shard: int) -> tuple[int, bytes] | None:
        h = t.log_heads.c
        r = self.conn.execute(sa.select(h.size, h.root).where(h.shard == shard)).first()
        return (r.size, r.root) if r else None

    def subtrees(self, shard: int) -> SubtreeHash:
        """Complete subtree hashes of one shard's log, from stored nodes and leaves."""
        n, lv = t.log_nodes.c, t.log_leaves.c

        def complete(lo: int, hi: int) -> bytes:
            level = (hi - lo).bit_length() - 1
            if level >= NODE_LEVEL:
                stored = self.conn.execute(
                    sa.select(n.hash).where(
                        n.shard == shard, n.level == level, n.idx == lo >> level
                    )
                ).scalar_one_or_none()
                if stored is not None:
                    return bytes(stored)
            hashes = self.conn.execute(
                sa.select(lv.hash)
                .where(lv.shard == shard, lv.idx >= lo, lv.idx < hi)
                .order_by(lv.idx)
            ).scalars()
            return tree_hash([bytes(x) for x in hashes])

        return complete

    def leaves_of(self, entry_id: uuid.UUID) -> list[StoredLeaf]:
        lv = t.log_leaves.c
        return [
            StoredLeaf(r.shard, r.idx, r.posting_line, r.reduction_id, bytes(r.hash))
            for r in self.conn.execute(
                sa.select(lv.shard, lv.idx, lv.posting_line, lv.reduction_id, lv.hash)
                .where(lv.entry_id == entry_id)
                .order_by(lv.shard, lv.idx)
            )
        ]

    def stored_entry(self, entry_id: uuid.UUID) -> StoredEntry | None:
        """An entry exactly as stored (its lines as they are now, balanced or not)."""
        le, p, e = t.ledger_entries.c, t.postings.c, t.events.c
        head = self.conn.execute(sa.select(t.ledger_entries).where(le.id == entry_id)).first()
        if head is None:
            return None
        keyed: list[tuple[LineKey, Posting]] = [
            ((r.line, r.reduction_id), Posting(r.account, r.asset, r.amount, r.reduction_id))
            for r in self.conn.execute(
                sa.select(p.line, p.account, p.asset, p.amount, p.reduction_id)
                .where(p.entry_id == entry_id)
                .order_by(p.line)
            )
        ]
        keyed.extend(
            ((None, r.id), Posting(r.issued_account, r.asset, r.grams, r.id))
            for r in self.conn.execute(
                sa.select(e.id, e.issued_account, e.asset, e.grams)
                .where(e.entry_id == entry_id)
                .order_by(e.id)
            )
        )
        return StoredEntry(
            head.id, head.kind, head.created_at, head.memo, head.hash,
            tuple(x for _, x in keyed), tuple(k for k, _ in keyed),
        )  # fmt: skip

    def entry_of_reduction(self, reduction_id: uuid.UUID) -> uuid.UUID | None:
        e = t.events.c
        return self.conn.execute(
            sa.select(e.entry_id).where(e.id == reduction_id)
        ).scalar_one_or_none()

    # --- checkpoints -------------------------------------------------------------------

    def add_checkpoint(self, cp: PublishedCheckpoint) -> None:
        self.conn.execute(
            t.checkpoints.insert().values(
                id=cp.id, size=cp.size, root=cp.root, heads=pack_heads(cp.heads), note=cp.note,
                cosignatures=cp.cosignatures, created_at=cp.created_at,
            )
        )  # fmt: skip

    def add_cosignature(self, checkpoint_id: int, line: str) -> None:
        c = t.checkpoints.c
        self.conn.execute(
            t.checkpoints.update()
            .where(c.id == checkpoint_id)
            .values(cosignatures=c.cosignatures + line)
        )

    def checkpoint(self, checkpoint_id: int | None = None) -> PublishedCheckpoint | None:
        """A stored checkpoint by id, or the latest (None when there is none)."""
        c = t.checkpoints.c
        query = sa.select(t.checkpoints)
        query = (
            query.where(c.id == checkpoint_id)
            if checkpoint_id is not None
            else query.order_by(c.id.desc()).limit(1)
        )
        r = self.conn.execute(query).first()
        if r is None:
            return None
        return PublishedCheckpoint(
            r.id, r.size, r.root, unpack_heads(r.heads), r.note, r.cosignatures, r.created_at
        )

    def checkpoint_ids(self) -> list[int]:
        c = t.checkpoints.c
        return list(self.conn.execute(sa.select(c.id).order_by(c.id)).scalars())

    def add_shard_checkpoints(self, rows: Sequence[tuple[int, int, bytes, str, datetime]]) -> None:
        insert_rows(
            self.conn, t.shard_checkpoints, ("shard", "size", "root", "note", "created_at"), rows
        )

    def shard_checkpoint(self, shard: int, size: int) -> str | None:
        s = t.shard_checkpoints.c
        return self.conn.execute(
            sa.select(s.note).where(s.shard == shard, s.size == size)
        ).scalar_one_or_none()

    def signed_shard_sizes(self) -> dict[int, int]:
        """The largest size each shard has a signed checkpoint for."""
        s = t.shard_checkpoints.c
        return {
            r.shard: r.size
            for r in self.conn.execute(
                sa.select(s.shard, sa.func.max(s.size).label("size")).group_by(s.shard)
            )
        }
