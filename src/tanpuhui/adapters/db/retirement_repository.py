"""Storage of retirements, export attempts and serial-numbered blocks (domain/retirement.py).

What the database guarantees here whatever code writes (migration 0010): serial numbers come
from one counter row per class, taken with `UPDATE … RETURNING` in the writer's transaction
(the row lock orders concurrent allocations); two blocks of a class never share a first number
(the key); a block's size is its range; retirements, block lineage and an attempt's blocks are
immutable; a block and an export move only along their state machines; no posting debits and
no balance update lowers a `retired:` or `exported:` account. `violations` is invariant 8 for
`ledger verify`: no overlapping ranges, every block's lineage sums to its size, a retirement's
blocks sum to its grams, and the retired, locked and exported balances equal their blocks.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.bulk import any_of, chunks
from tanpuhui.domain.checks import Violation
from tanpuhui.domain.market import Lot
from tanpuhui.domain.retirement import (
    Block,
    BlockStatus,
    Export,
    ExportStatus,
    Retirement,
    block_violations,
    exported_account,
    exporting_account,
    parse_serial,
    retired_account,
)


def _retirement(r: Any) -> Retirement:
    return Retirement(
        r.id, r.enterprise_id, r.request_id, r.grams, r.beneficiary, r.purpose, r.period,
        r.certificate, r.entry_id, r.created_at,
    )  # fmt: skip


def _export(r: Any) -> Export:
    return Export(
        r.id, r.enterprise_id, r.registry, r.tonnes, ExportStatus(r.status), r.reference,
        r.created_at, r.marked_at,
    )  # fmt: skip


class SqlRetirement:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # --- serial numbers ---------------------------------------------------------------------

    def take_numbers(self, key: str, count: int) -> int:
        """Hand out `count` consecutive numbers of counter `key`; returns the first. The row
        is created at 1 the first time, then updated in place: concurrent takers of one class
        queue on its row lock and get disjoint ranges."""
        c = t.serial_counters.c
        taken = self.conn.execute(
            t.serial_counters.update()
            .where(c["class"] == key)
            .values(next=c.next + count)
            .returning(c.next)
        ).scalar()
        if taken is None:
            self._create_counter(key)
            taken = self.conn.execute(
                t.serial_counters.update()
                .where(c["class"] == key)
                .values(next=c.next + count)
                .returning(c.next)
            ).scalar_one()
        return int(taken) - count

    def _create_counter(self, key: str) -> None:
        if self.conn.dialect.name == "postgresql":
            self.conn.exec_driver_sql(
                "INSERT INTO serial_counters (class, next) VALUES (%(k)s, 1)"
                " ON CONFLICT DO NOTHING",
                {"k": key},
            )
        else:
            self.conn.exec_driver_sql(
                "INSERT OR IGNORE INTO serial_counters (class, next) VALUES (?, 1)", (key,)
            )

    # --- blocks -----------------------------------------------------------------------------

    def add_blocks(
        self, blocks: Sequence[Block], shard: int, enterprise_id: uuid.UUID, now: datetime,
        *, retirement_id: uuid.UUID | None = None, export_id: uuid.UUID | None = None,
    ) -> None:  # fmt: skip
        if not blocks:
            return
        self.conn.execute(
            t.serial_blocks.insert(),
            [
                {
                    "class": b.asset_class.key, "start": b.start, "end": b.end,
                    "grams": b.grams, "id": b.id, "serial": b.serial, "shard": shard,
                    "enterprise_id": enterprise_id, "status": b.status.value,
                    "retirement_id": retirement_id, "export_id": export_id, "created_at": now,
                }
                for b in blocks
            ],
        )  # fmt: skip
        self.conn.execute(
            t.block_lineage.insert(),
            [
                {
                    "shard": shard, "class": b.asset_class.key, "start": b.start,
                    "reduction_id": lot.reduction_id, "asset": lot.asset, "grams": lot.grams,
                }
                for b in blocks
                for lot in b.lots
            ],
        )  # fmt: skip
        if export_id is not None:
            self.link_blocks(export_id, shard, blocks)

    def link_blocks(self, export_id: uuid.UUID, shard: int, blocks: Sequence[Block]) -> None:
        self.conn.execute(
            t.export_blocks.insert(),
            [
                {"shard": shard, "export_id": export_id, "class": b.asset_class.key,
                 "start": b.start}
                for b in blocks
            ],
        )  # fmt: skip

    def _blocks(self, where: Any, *, joined: bool = False) -> list[Block]:
        b, bl, e = t.serial_blocks.c, t.block_lineage.c, t.events.c
        source: sa.FromClause = t.serial_blocks
        if joined:
            eb = t.export_blocks.c
            source = source.join(
                t.export_blocks, sa.and_(eb["class"] == b["class"], eb.start == b.start)
            )
        heads = self.conn.execute(
            sa.select(b.id, b.serial, b.status).select_from(source).where(where)
            .order_by(b.created_at, b["class"], b.start)
        ).all()  # fmt: skip
        found = []
        for h in heads:
            cls, start, end = parse_serial(h.serial)
            rows = self.conn.execute(
                sa.select(bl.reduction_id, bl.asset, bl.grams).where(
                    bl["class"] == cls.key, bl.start == start
                )
            ).all()
            # the reductions live in their holders' shards: read by id, not joined
            dated = {
                r[0]: (r[1], r[2])
                for part in chunks([r[0] for r in rows], 5000)
                for r in self.conn.execute(
                    sa.select(e.id, e.started_at, e.quality).where(any_of(self.conn, e.id, part))
                )
            }
            lots = sorted(
                (Lot(r[0], r[1], int(r[2]), *dated[r[0]]) for r in rows),
                key=lambda lot: (lot.started_at, lot.reduction_id),
            )
            found.append(Block(cls, start, end, tuple(lots), BlockStatus(h.status), h.id))
        return found

    def blocks_of_retirement(self, retirement_id: uuid.UUID) -> list[Block]:
        return self._blocks(t.serial_blocks.c.retirement_id == retirement_id)

    def blocks_of_export(self, export_id: uuid.UUID) -> list[Block]:
        return self._blocks(t.export_blocks.c.export_id == export_id, joined=True)

    def returned_blocks(self, enterprise_id: uuid.UUID) -> list[Block]:
        b = t.serial_blocks.c
        return self._blocks(
            sa.and_(b.enterprise_id == enterprise_id, b.status == BlockStatus.RETURNED.value)
        )

    def move_blocks(
        self, blocks: Sequence[Block], status: BlockStatus, export_id: uuid.UUID
    ) -> bool:
        """Set the blocks' status (and attempt); False when one was not where it was read."""
        b = t.serial_blocks.c
        done = 0
        for block in blocks:
            done += self.conn.execute(
                t.serial_blocks.update()
                .where(
                    b["class"] == block.asset_class.key,
                    b.start == block.start,
                    b.status == block.status.value,
                )
                .values(status=status.value, export_id=export_id)
            ).rowcount
        return done == len(blocks)

    # --- retirements ------------------------------------------------------------------------

    def find_retirement(
        self, shard: int, enterprise_id: uuid.UUID, request_id: str
    ) -> Retirement | None:
        r = t.retirements.c
        row = self.conn.execute(
            sa.select(t.retirements).where(
                r.shard == shard, r.enterprise_id == enterprise_id, r.request_id == request_id
            )
        ).first()
        return _retirement(row) if row else None

    def get_retirement(self, retirement_id: uuid.UUID) -> Retirement | None:
        r = t.retirements.c
        row = self.conn.execute(sa.select(t.retirements).where(r.id == retirement_id)).first()
        return _retirement(row) if row else None

    def add_retirement(self, retirement: Retirement, shard: int) -> None:
        self.conn.execute(
            t.retirements.insert().values(
                shard=shard, id=retirement.id, enterprise_id=retirement.enterprise_id,
                request_id=retirement.request_id, grams=retirement.grams,
                beneficiary=retirement.beneficiary, purpose=retirement.purpose,
                period=retirement.period, certificate=retirement.certificate,
                entry_id=retirement.entry_id, created_at=retirement.created_at,
            )
        )  # fmt: skip

    def retirements_of(self, enterprise_id: uuid.UUID, shard: int) -> list[Retirement]:
        r = t.retirements.c
        rows = self.conn.execute(
            sa.select(t.retirements)
            .where(r.shard == shard, r.enterprise_id == enterprise_id)
            .order_by(r.created_at.desc(), r.id)
        )
        return [_retirement(row) for row in rows]

    # --- exports ----------------------------------------------------------------------------

    def add_export(self, export: Export, shard: int) -> None:
        self.conn.execute(
            t.exports.insert().values(
                shard=shard, id=export.id, enterprise_id=export.enterprise_id,
                registry=export.registry, tonnes=export.tonnes, status=export.status.value,
                reference=export.reference, created_at=export.created_at,
                marked_at=export.marked_at,
            )
        )  # fmt: skip

    def find_export(self, export_id: uuid.UUID) -> tuple[Export, int] | None:
        row = self.conn.execute(sa.select(t.exports).where(t.exports.c.id == export_id)).first()
        return (_export(row), row.shard) if row else None

    def settle_export(self, export: Export, shard: int) -> bool:
        x = t.exports.c
        done = self.conn.execute(
            t.exports.update()
            .where(x.shard == shard, x.id == export.id, x.status == "pending_export")
            .values(status=export.status.value, reference=export.reference,
                    marked_at=export.marked_at)
        ).rowcount  # fmt: skip
        return bool(done == 1)

    def methodologies(self, reduction_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The methodology (code@version) each reduction's grams are quantified with now."""
        e, m = t.events.c, t.methodology_versions.c
        current = sa.func.coalesce(e.current_methodology_id, e.methodology_id)
        rows = self.conn.execute(
            sa.select(e.id, m.code, m.version)
            .select_from(t.events.join(t.methodology_versions, m.id == current))
            .where(e.id.in_(list(reduction_ids)))
        )
        return {r.id: f"{r.code}@{r.version}" for r in rows}

    # --- invariant 8 ------------------------------------------------------------------------

    def violations(self) -> Iterator[Violation]:
        yield from self._ranges()
        yield from self._retirement_sums()
        yield from self._balances_against_blocks()

    def _ranges(self) -> Iterator[Violation]:
        b, bl = t.serial_blocks.c, t.block_lineage.c
        lineage = (
            sa.select(bl["class"], bl.start, sa.func.sum(bl.grams).label("grams"))
            .group_by(bl["class"], bl.start)
            .subquery()
        )
        rows = self.conn.execute(
            sa.select(b["class"], b.start, b["end"], sa.func.coalesce(lineage.c.grams, 0))
            .select_from(t.serial_blocks.outerjoin(lineage, sa.and_(
                lineage.c["class"] == b["class"], lineage.c.start == b.start)))
        )  # fmt: skip
        blocks = [(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]
        for subject, message in block_violations(blocks):
            code = "serial_overlap" if "overlaps" in message else "block_lineage_mismatch"
            yield Violation(8, code, subject, message)

    def _retirement_sums(self) -> Iterator[Violation]:
        r, b = t.retirements.c, t.serial_blocks.c
        rows = self.conn.execute(
            sa.select(r.id, r.grams, sa.func.coalesce(sa.func.sum(b.grams), 0))
            .select_from(t.retirements.outerjoin(t.serial_blocks, b.retirement_id == r.id))
            .group_by(r.id, r.grams)
        )
        for row in rows:
            if int(row[1]) != int(row[2]):
                yield Violation(
                    8, "retirement_blocks_mismatch", str(row[0]),
                    f"retires {row[1]} g, its blocks hold {row[2]} g",
                )  # fmt: skip

    def _balances_against_blocks(self) -> Iterator[Violation]:
        """The retired, locked (exporting) and exported balances per class are exactly the
        lineage of the blocks in those states: a retired gram moved away shows here."""
        b, bl, x, bal = t.serial_blocks.c, t.block_lineage.c, t.exports.c, t.balances.c
        expected: dict[tuple[str, str], int] = defaultdict(int)
        rows = self.conn.execute(
            sa.select(b.status, b.enterprise_id, x.registry, bl.asset, sa.func.sum(bl.grams))
            .select_from(
                t.block_lineage.join(
                    t.serial_blocks, sa.and_(b["class"] == bl["class"], b.start == bl.start)
                ).outerjoin(t.exports, x.id == b.export_id)
            )
            .where(b.status != BlockStatus.RETURNED.value)
            .group_by(b.status, b.enterprise_id, x.registry, bl.asset)
        )
        for status, enterprise_id, registry, asset, grams in rows:
            if status == BlockStatus.RETIRED.value:
                account = retired_account(enterprise_id)
            elif status == BlockStatus.PENDING_EXPORT.value:
                account = exporting_account(enterprise_id)
            else:
                account = exported_account(registry)
            expected[(account, asset)] += int(grams)
        stored: dict[tuple[str, str], int] = defaultdict(int)
        for r in self.conn.execute(
            sa.select(bal.account, bal.asset, sa.func.sum(bal.amount))
            .where(sa.or_(bal.account.like("retired:%"), bal.account.like("exported:%"),
                          bal.account.like("exporting:%")))
            .group_by(bal.account, bal.asset)
        ):  # fmt: skip
            if int(r[2]):
                stored[(r[0], r[1])] += int(r[2])
        for key in sorted(set(expected) | set(stored)):
            if expected.get(key, 0) != stored.get(key, 0):
                yield Violation(
                    8, "retired_balance_mismatch", f"{key[0]} {key[1]}",
                    f"holds {stored.get(key, 0)} g, its blocks {expected.get(key, 0)} g",
                )  # fmt: skip
