"""Retirement and carbon-market export: serial-numbered blocks with lineage (DESIGN.md §5,
invariant 8; docs/retirement.md).

An enterprise **retires** grams it holds (for a beneficiary, a purpose, a period): they move
to `retired:{enterprise}` and never move again. The operator **exports** an enterprise's
verified grams to a carbon-market registry in whole tonnes: they wait in `exporting:{enterprise}`
while the export is `pending_export`, then move to `exported:{registry}` (final) or back to the
enterprise (`returned`).

Both produce **serial-numbered blocks**. The serial numbers of an asset class count grams:
one class's numbers are handed out from one counter, so the blocks of a class are contiguous,
non-overlapping integer ranges `start … end` (inclusive, size = end − start + 1). A class is
programme-or-platform × behaviour group × province × vintage month × quality tier; a block's
serial is `TPH-<group>-<province>-<YYYYMM>-<tier>-<start>-<end>` (numbers zero-padded to 12
digits; tiers Q1 text, Q2 2nd, Q3 derived, Q4 operator-set, Q0 unknown).

Invariants kept here: an allocation takes exactly the grams asked for, oldest first, or
refuses (`insufficient_balance`); a retirement's blocks sum to its grams, one block per class,
each block's lineage (its lots) sums to its size; an export's blocks are whole tonnes of one
class each; a block's status moves only `pending_export → exported | returned` and
`returned → pending_export` (a new attempt); a retired or exported block never moves.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from tanpuhui.domain.errors import ConflictError, InsufficientBalanceError, InvalidInputError
from tanpuhui.domain.ledger import Entry, Posting
from tanpuhui.domain.market import Lot

PLATFORM = "TPH"  # the programme-or-platform part of a serial: reductions of the platform
TONNE = 1_000_000  # grams
MAX_RETIRE_GRAMS = 10**13  # a typo guard, as for offers (10 kt)
MAX_EXPORT_TONNES = 10**6
MAX_TEXT = 500  # beneficiary, purpose, registry, reference
TIERS = {"text": "Q1", "2nd": "Q2", "derived": "Q3", "operator-set": "Q4"}
UNKNOWN_TIER = "Q0"
_DIGITS = 12
_SERIAL = re.compile(
    r"^(?P<programme>[A-Z0-9]+)-(?P<group>[a-z0-9_.]+)-(?P<province>\d{6})-(?P<vintage>\d{6})"
    r"-(?P<tier>Q[0-4])-(?P<start>\d{12})-(?P<end>\d{12})$"
)


def retired_account(enterprise_id: uuid.UUID) -> str:
    return f"retired:{enterprise_id}"


def exporting_account(enterprise_id: uuid.UUID) -> str:
    """Where an enterprise's grams wait while an export of them is pending (locked)."""
    return f"exporting:{enterprise_id}"


def exported_account(registry: str) -> str:
    return f"exported:{registry}"


class BlockStatus(StrEnum):
    RETIRED = "retired"
    PENDING_EXPORT = "pending_export"
    EXPORTED = "exported"
    RETURNED = "returned"


#: Where a block may go; retired and exported go nowhere.
BLOCK_MOVES = {
    BlockStatus.PENDING_EXPORT: frozenset({BlockStatus.EXPORTED, BlockStatus.RETURNED}),
    BlockStatus.RETURNED: frozenset({BlockStatus.PENDING_EXPORT}),
}


def check_move(block: str, current: BlockStatus, to: BlockStatus) -> None:
    if to not in BLOCK_MOVES.get(current, frozenset()):
        raise ConflictError(
            f"block {block} is {current.value}; it cannot become {to.value}",
            code="block_not_pending" if to is not BlockStatus.PENDING_EXPORT else "block_locked",
        )


class AssetClass(NamedTuple):
    programme: str
    group: str
    province: str
    vintage: str  # YYYY-MM
    tier: str  # Q0 … Q4

    @property
    def key(self) -> str:
        return "-".join(
            (self.programme, self.group, self.province, self.vintage.replace("-", ""), self.tier)
        )


def class_of(asset: str, quality: str | None) -> AssetClass:
    """The serial class of a lot of `asset` (`co2e:{group}:{province}:{YYYY-MM}`)."""
    kind, group, province, vintage = [*asset.split(":"), "", "", ""][:4]
    if kind != "co2e":
        raise InvalidInputError(f"{asset!r} is not a CO2e asset class")
    return AssetClass(PLATFORM, group, province, vintage, TIERS.get(quality or "", UNKNOWN_TIER))


def format_serial(cls: AssetClass, start: int, end: int) -> str:
    return f"{cls.key}-{start:0{_DIGITS}d}-{end:0{_DIGITS}d}"


def parse_serial(serial: str) -> tuple[AssetClass, int, int]:
    """A block serial's class, first and last number; refuses a malformed one."""
    m = _SERIAL.match(serial)
    if m is None:
        raise InvalidInputError(f"{serial!r} is not a block serial", code="invalid_serial")
    v = m["vintage"]
    cls = AssetClass(m["programme"], m["group"], m["province"], f"{v[:4]}-{v[4:]}", m["tier"])
    start, end = int(m["start"]), int(m["end"])
    if not 1 <= start <= end:
        raise InvalidInputError(f"{serial!r} is not a block serial", code="invalid_serial")
    return cls, start, end


@dataclass(frozen=True, slots=True)
class Block:
    """A serial-numbered block: `start … end` of its class, backed by `lots`."""

    asset_class: AssetClass
    start: int
    end: int
    lots: tuple[Lot, ...]
    status: BlockStatus
    id: uuid.UUID

    @property
    def grams(self) -> int:
        return self.end - self.start + 1

    @property
    def serial(self) -> str:
        return format_serial(self.asset_class, self.start, self.end)


class BlockPlan(NamedTuple):
    """A block before it has serial numbers: its class and the lots behind it."""

    asset_class: AssetClass
    lots: tuple[Lot, ...]

    @property
    def grams(self) -> int:
        return sum(lot.grams for lot in self.lots)


def oldest_first(lots: Iterable[Lot]) -> list[Lot]:
    """The allocation order of sales, retirements and exports: by the behaviour's start,
    then the reduction id."""
    return sorted(
        (lot for lot in lots if lot.grams > 0), key=lambda x: (x.started_at, x.reduction_id)
    )


def take(lots: Iterable[Lot], grams: int) -> list[Lot]:
    """Take `grams` from `lots` oldest first (each part keeps its reduction id), or refuse."""
    taken: list[Lot] = []
    left = grams
    for lot in oldest_first(lots):
        if left == 0:
            break
        part = min(left, lot.grams)
        taken.append(lot._replace(grams=part))
        left -= part
    if left:
        raise InsufficientBalanceError(
            f"the enterprise holds {grams - left} g that can go; {grams} g were asked",
            details={"available_grams": grams - left, "requested_grams": grams},
        )
    return taken


def plan_blocks(taken: Sequence[Lot]) -> list[BlockPlan]:
    """One block per class, in the order the classes first appear among the (oldest first)
    lots; each block's lots keep that order."""
    by_class: dict[AssetClass, list[Lot]] = {}
    for lot in taken:
        by_class.setdefault(class_of(lot.asset, lot.quality), []).append(lot)
    return [BlockPlan(cls, tuple(lots)) for cls, lots in by_class.items()]


def plan_export(lots: Iterable[Lot], tonnes: int) -> list[BlockPlan]:
    """Whole-tonne blocks, one class each, for `tonnes`: classes in the order of their oldest
    lot, each giving its whole tonnes until enough are taken; within a class oldest first.
    Refuses when the lots hold fewer whole tonnes per class than asked."""
    ordered = oldest_first(lots)
    by_class: dict[AssetClass, list[Lot]] = {}
    for lot in ordered:
        by_class.setdefault(class_of(lot.asset, lot.quality), []).append(lot)
    plans: list[BlockPlan] = []
    left = tonnes
    for cls, class_lots in by_class.items():
        whole = min(left, sum(x.grams for x in class_lots) // TONNE)
        if whole:
            plans.append(BlockPlan(cls, tuple(take(class_lots, whole * TONNE))))
            left -= whole
        if left == 0:
            return plans
    raise InsufficientBalanceError(
        f"the enterprise holds {tonnes - left} whole verified tonnes per class; {tonnes} asked",
        details={"available_tonnes": tonnes - left, "requested_tonnes": tonnes},
    )


def number_blocks(
    plans: Sequence[BlockPlan],
    starts: Mapping[str, int],
    status: BlockStatus,
    ids: Sequence[uuid.UUID],
) -> list[Block]:
    """The blocks with their serial numbers: `starts` is the first number handed out to each
    class key (the counter gives a range of exactly the block's size)."""
    return [
        Block(p.asset_class, starts[p.asset_class.key], starts[p.asset_class.key] + p.grams - 1,
              p.lots, status, block_id)
        for p, block_id in zip(plans, ids, strict=True)
    ]  # fmt: skip


def movement_entry(
    entry_id: uuid.UUID, kind: str, now: datetime, source: str, target: str,
    lots: Iterable[Lot], memo: str,
) -> Entry:  # fmt: skip
    """An entry moving each lot's grams from `source` to `target`, every line keeping its
    reduction id (retirement, export_lock, export, export_return)."""
    lines: list[Posting] = []
    for lot in lots:
        lines.append(Posting(source, lot.asset, -lot.grams, lot.reduction_id))
        lines.append(Posting(target, lot.asset, lot.grams, lot.reduction_id))
    return Entry(entry_id, kind, now, tuple(lines), memo)


def block_violations(blocks: Iterable[tuple[str, int, int, int]]) -> list[tuple[str, str]]:
    """Overlapping or malformed serial ranges among stored blocks (class key, start, end,
    lineage grams): (subject, message) pairs for `ledger verify`."""
    found: list[tuple[str, str]] = []
    by_class: dict[str, list[tuple[int, int, int]]] = {}
    for key, start, end, lineage in blocks:
        by_class.setdefault(key, []).append((start, end, lineage))
    for key, ranges in sorted(by_class.items()):
        last_end = 0
        for start, end, lineage in sorted(ranges):
            serial = f"{key}-{start:0{_DIGITS}d}-{end:0{_DIGITS}d}"
            if start <= last_end:
                found.append((serial, f"overlaps the range ending at {last_end}"))
            if lineage != end - start + 1:
                found.append((serial, f"has {end - start + 1} numbers, its lineage {lineage} g"))
            last_end = max(last_end, end)
    return found


class RetirementRequest(NamedTuple):
    grams: int
    beneficiary: str
    purpose: str
    period: str | None


def check_request(r: RetirementRequest) -> None:
    if not 1 <= r.grams <= MAX_RETIRE_GRAMS:
        raise InvalidInputError(f"a retirement is 1 to {MAX_RETIRE_GRAMS} grams")
    for name, text in (("beneficiary", r.beneficiary), ("purpose", r.purpose)):
        if not text.strip() or len(text) > MAX_TEXT:
            raise InvalidInputError(f"a {name} is 1 to {MAX_TEXT} characters")
    if r.period is not None and not re.fullmatch(r"\d{4}(-\d{2})?(/\d{4}(-\d{2})?)?", r.period):
        raise InvalidInputError(
            f"a period is YYYY, YYYY-MM or a range YYYY-MM/YYYY-MM, not {r.period!r}",
            code="invalid_period",
        )


def check_registry(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise InvalidInputError(
            f"a registry name is 1-64 letters, digits, '.', '_' or '-', not {name!r}",
            code="invalid_registry",
        )


@dataclass(frozen=True, slots=True)
class Retirement:
    id: uuid.UUID
    enterprise_id: uuid.UUID
    request_id: str
    grams: int
    beneficiary: str
    purpose: str
    period: str | None
    certificate: str  # its signed certificate's serial (services/certificates.py)
    entry_id: uuid.UUID
    created_at: datetime


class ExportStatus(StrEnum):
    PENDING_EXPORT = "pending_export"
    EXPORTED = "exported"
    RETURNED = "returned"


@dataclass(frozen=True, slots=True)
class Export:
    """One export attempt of whole-tonne blocks to a receiving registry."""

    id: uuid.UUID
    enterprise_id: uuid.UUID
    registry: str
    tonnes: int
    status: ExportStatus
    reference: str | None
    created_at: datetime
    marked_at: datetime | None = None

    def settled(self, to: ExportStatus, reference: str | None, now: datetime) -> Export:
        """The attempt marked exported (with the registry's reference) or returned; refuses
        every other move (exported and returned are final for an attempt)."""
        if self.status is not ExportStatus.PENDING_EXPORT or to is ExportStatus.PENDING_EXPORT:
            raise ConflictError(
                f"export {self.id} is {self.status.value}; it cannot become {to.value}",
                code="export_not_pending",
            )
        if to is ExportStatus.EXPORTED and not (reference and len(reference) <= MAX_TEXT):
            raise InvalidInputError(
                f"an exported mark needs the registry's reference (1 to {MAX_TEXT} characters)"
            )
        return Export(
            self.id, self.enterprise_id, self.registry, self.tonnes, to,
            reference if to is ExportStatus.EXPORTED else None, self.created_at, now,
        )  # fmt: skip
