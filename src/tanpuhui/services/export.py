"""Carbon-market export (issue 13 item 2; domain/retirement.py, docs/retirement.md).

The operator packages an enterprise's **verified** holdings (reductions of an issuance batch a
verifier approved, services/mrv.py) into whole-tonne blocks for a receiving registry. States
of an attempt and its blocks: `pending_export → exported | returned`. Creating an attempt moves
the grams into `exporting:{enterprise}` (locked: no sale, retirement or other export can take
them; the database's non-negative holder balances refuse it too); `exported` moves them on to
`exported:{registry}`, where they never move again; `returned` gives the holder back exactly
its lots. A returned block keeps its serial numbers and is exported again, as a new attempt,
by a later `create_export` of its holder (returned blocks are taken first while their lots are
still held). Each use case is one transaction under the enterprise's lock.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tanpuhui.domain.errors import ConflictError, InvalidInputError, NotFoundError, RaceLostError
from tanpuhui.domain.ledger import enterprise_account
from tanpuhui.domain.market import Lot, lineage_deltas
from tanpuhui.domain.retirement import (
    MAX_EXPORT_TONNES,
    TONNE,
    Block,
    BlockStatus,
    Export,
    ExportStatus,
    check_registry,
    exported_account,
    exporting_account,
    movement_entry,
    number_blocks,
    plan_export,
)
from tanpuhui.domain.shards import shard_of_enterprise
from tanpuhui.services.audit import audited
from tanpuhui.services.context import Context, retry_races
from tanpuhui.services.ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class ExportResult:
    export: Export
    blocks: list[Block]
    replayed: bool = False


def _verified(uow: UnitOfWork, lots: list[Lot]) -> list[Lot]:
    states = uow.mrv.verification([lot.reduction_id for lot in lots if lot.grams > 0])
    return [lot for lot in lots if states.get(lot.reduction_id) == "verified"]


def _reuse(returned: list[Block], lots: list[Lot], tonnes: int) -> tuple[list[Block], list[Lot]]:
    """Returned blocks exported again (oldest first) while their lots are still held and fit
    the tonnes asked; the lots left for new blocks."""
    left: dict[uuid.UUID, int] = defaultdict(int)
    for lot in lots:
        left[lot.reduction_id] += lot.grams
    reused: list[Block] = []
    wanted = tonnes * TONNE
    for block in returned:
        if block.grams > wanted or any(left[x.reduction_id] < x.grams for x in block.lots):
            continue
        for x in block.lots:
            left[x.reduction_id] -= x.grams
        reused.append(block)
        wanted -= block.grams
    rest = [
        lot._replace(grams=left[lot.reduction_id])
        for lot in {x.reduction_id: x for x in lots}.values()
    ]
    return reused, rest


def create_export(
    ctx: Context, enterprise_id: uuid.UUID, tonnes: int, registry: str, actor: str = "operator"
) -> ExportResult:
    """Package `tonnes` whole tonnes of the enterprise's verified grams for `registry`."""
    check_registry(registry)
    if not 1 <= tonnes <= MAX_EXPORT_TONNES:
        raise InvalidInputError(f"an export is 1 to {MAX_EXPORT_TONNES} whole tonnes")

    def attempt() -> ExportResult:
        with ctx.uow() as uow:
            result = _create_in(uow, ctx, enterprise_id, tonnes, registry)
            audited(
                uow, ctx, actor, "export.create", f"export:{result.export.id}",
                after={"enterprise": str(enterprise_id), "tonnes": tonnes, "registry": registry,
                       "status": result.export.status.value},
            )  # fmt: skip
            uow.commit()
        return result

    return retry_races(attempt)


def _create_in(
    uow: UnitOfWork, ctx: Context, enterprise_id: uuid.UUID, tonnes: int, registry: str
) -> ExportResult:
    now, holder = ctx.clock.now(), enterprise_account(enterprise_id)
    shard = shard_of_enterprise(enterprise_id)
    if uow.enterprises.find(enterprise_id) is None:
        raise NotFoundError(f"no enterprise {enterprise_id}")
    uow.locks.acquire([holder])
    lots = _verified(uow, uow.market.lots_of(holder))
    reused, rest = _reuse(uow.retirement.returned_blocks(enterprise_id), lots, tonnes)
    left = tonnes - sum(b.grams for b in reused) // TONNE
    plans = sorted(plan_export(rest, left), key=lambda p: p.asset_class.key) if left else []
    starts = {p.asset_class.key: uow.retirement.take_numbers(p.asset_class.key, p.grams)
              for p in plans}  # fmt: skip
    fresh = number_blocks(plans, starts, BlockStatus.PENDING_EXPORT, [ctx.ids.new() for _ in plans])
    export = Export(ctx.ids.new(), enterprise_id, registry, tonnes,
                    ExportStatus.PENDING_EXPORT, None, now)  # fmt: skip
    uow.retirement.add_export(export, shard)
    if reused:
        if not uow.retirement.move_blocks(reused, BlockStatus.PENDING_EXPORT, export.id):
            raise RaceLostError("a returned block changed concurrently")
        uow.retirement.link_blocks(export.id, shard, reused)
    uow.retirement.add_blocks(fresh, shard, enterprise_id, now, export_id=export.id)
    blocks = [*reused, *fresh]
    _post(uow, ctx, "export_lock", holder, exporting_account(enterprise_id), blocks, export)
    return ExportResult(export, uow.retirement.blocks_of_export(export.id))


def _post(
    uow: UnitOfWork, ctx: Context, kind: str, source: str, target: str,
    blocks: Sequence[Block], export: Export,
) -> None:  # fmt: skip
    lots = [lot for b in blocks for lot in b.lots]
    entry = movement_entry(
        ctx.ids.new(), kind, ctx.clock.now(), source, target, lots,
        f"{kind} of export {export.id} to {export.registry}",
    )  # fmt: skip
    uow.market.apply_lineage(lineage_deltas(entry))
    uow.ledger.open(entry)
    uow.ledger.record(entry, lines_on_events=False)


def mark_export(
    ctx: Context, export_id: uuid.UUID, to: ExportStatus, reference: str | None = None,
    actor: str = "operator",
) -> ExportResult:  # fmt: skip
    """Record the registry's answer: `exported` (with its reference) or `returned`. Marking
    an attempt again as what it is (same reference) returns it; anything else is refused."""

    def attempt() -> ExportResult:
        with ctx.uow() as uow:
            result = _mark_in(uow, ctx, export_id, to, reference)
            if not result.replayed:
                audited(
                    uow,
                    ctx,
                    actor,
                    "export.mark",
                    f"export:{export_id}",
                    before={"status": "pending_export"},
                    after={"status": result.export.status.value, "reference": reference},
                )
            uow.commit()
        return result

    return retry_races(attempt)


def _mark_in(
    uow: UnitOfWork, ctx: Context, export_id: uuid.UUID, to: ExportStatus, reference: str | None
) -> ExportResult:
    found = uow.retirement.find_export(export_id)
    if found is None:
        raise NotFoundError(f"no export {export_id}")
    holder = enterprise_account(found[0].enterprise_id)
    uow.locks.acquire([holder])
    export, shard = uow.retirement.find_export(export_id) or found  # as it is under the lock
    if export.status is to and export.reference == (
        reference if to is ExportStatus.EXPORTED else None
    ):
        return ExportResult(export, uow.retirement.blocks_of_export(export_id), replayed=True)
    settled = export.settled(to, reference, ctx.clock.now())
    blocks = [b for b in uow.retirement.blocks_of_export(export_id)
              if b.status is BlockStatus.PENDING_EXPORT]  # fmt: skip
    if not uow.retirement.settle_export(settled, shard):
        raise RaceLostError(f"export {export_id} changed concurrently")
    status = BlockStatus.EXPORTED if to is ExportStatus.EXPORTED else BlockStatus.RETURNED
    if not uow.retirement.move_blocks(blocks, status, export_id):
        raise ConflictError(f"a block of export {export_id} moved", code="export_not_pending")
    source = exporting_account(export.enterprise_id)
    target = exported_account(export.registry) if status is BlockStatus.EXPORTED else holder
    kind = "export" if status is BlockStatus.EXPORTED else "export_return"
    _post(uow, ctx, kind, source, target, blocks, export)
    return ExportResult(settled, uow.retirement.blocks_of_export(export_id))


def get_export(ctx: Context, export_id: uuid.UUID) -> ExportResult:
    with ctx.uow(write=False) as uow:
        found = uow.retirement.find_export(export_id)
        if found is None:
            raise NotFoundError(f"no export {export_id}")
        return ExportResult(found[0], uow.retirement.blocks_of_export(export_id))


FILE_COLUMNS = (
    "serial", "start", "end", "quantity_grams", "quantity_tonnes", "programme",
    "behaviour_group", "province", "vintage", "quality_tier", "quality",
    "methodologies", "status",
)  # fmt: skip
QUALITY_NAMES = {"Q1": "text", "Q2": "2nd", "Q3": "derived", "Q4": "operator-set", "Q0": ""}


def export_file(ctx: Context, export_id: uuid.UUID) -> dict[str, Any]:
    """What the receiving registry gets: the attempt and one row per block (serial, range,
    quantity, vintage, region, quality, methodologies with versions). CSV and JSON are both
    rendered from this (cli/retirement.py, api/retirement_routes.py)."""
    with ctx.uow(write=False) as uow:
        found = uow.retirement.find_export(export_id)
        if found is None:
            raise NotFoundError(f"no export {export_id}")
        export = found[0]
        blocks = uow.retirement.blocks_of_export(export_id)
        used = uow.retirement.methodologies([x.reduction_id for b in blocks for x in b.lots])
    rows = []
    for b in blocks:
        c = b.asset_class
        rows.append({
            "serial": b.serial, "start": b.start, "end": b.end, "quantity_grams": b.grams,
            "quantity_tonnes": b.grams // TONNE, "programme": c.programme,
            "behaviour_group": c.group, "province": c.province, "vintage": c.vintage,
            "quality_tier": c.tier, "quality": QUALITY_NAMES.get(c.tier, ""),
            "methodologies": sorted({used[x.reduction_id] for x in b.lots
                                     if x.reduction_id in used}),
            "status": b.status.value,
        })  # fmt: skip
    return {
        "export": str(export.id), "enterprise": str(export.enterprise_id),
        "registry": export.registry, "status": export.status.value,
        "reference": export.reference, "tonnes": export.tonnes,
        "created_at": export.created_at.isoformat(), "blocks": rows,
    }  # fmt: skip


def export_csv(data: dict[str, Any]) -> str:
    """The export file as CSV: one line per block (methodologies joined by `;`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FILE_COLUMNS)
    for row in data["blocks"]:
        writer.writerow(
            [";".join(row[k]) if k == "methodologies" else row[k] for k in FILE_COLUMNS]
        )
    return out.getvalue()
