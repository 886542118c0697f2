"""The market: offers, sales and holds, and the lineage of what holders own (DESIGN.md §5).

An **offer** is a platform enterprise's standing bid: what it pays (points of a programme per
kg, or one coupon from a pool it uploaded), which grams it accepts (asset classes by behaviour
group, province and vintage month; a minimum quality tier), limits per sale and per person, a
budget in grams and a validity window. It is `open`, `paused` or `closed` (closed is final).

A **sale** moves grams from a person to the enterprise, allocated oldest first over the
person's eligible lots, and the incentive to the person, in one entry. Where the incentive is
settled outside the platform the sale is a **hold** that reserves the lots until it is
confirmed (the entry is posted then), voided or expired. A hold's states are
`held → confirmed | voided | expired` and nothing else; a hold whose expiry has passed *is*
expired whatever its stored status says (`effective_status`), so expiry needs nobody to call.

**Lineage** (invariant 10): a holder's lots are the reductions behind its grams. A reduction
never split is one lot of its holder (its event row says holder and live grams, no extra row);
a sale adds a signed delta per (holder, reduction): minus on the seller, plus on the buyer. The
grams of a holder's lots equal its balance per class. A correction down (re-quantification)
takes the grams back from the lots that hold the reduction, holder by holder (`take_back`);
what none of them can give (reserved by an open hold, retired, settled elsewhere) the buffer
covers, and that cover counts to the event holder's lineage.

Invariants kept here: an allocation never takes more grams from a lot than it has, and takes
exactly the grams asked for or refuses (`InsufficientBalanceError`); the sale entry balances
per asset (`Entry`); a hold cannot leave a final state.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from tanpuhui.domain.errors import (
    HoldExpiredError,
    HoldStateError,
    InsufficientBalanceError,
    InvalidInputError,
    OfferClosedError,
    TanpuhuiError,
)
from tanpuhui.domain.ledger import Entry, Posting, is_holder, points_asset
from tanpuhui.domain.methodology import Confidence, quality_rank

#: Offers larger than this are refused (a typo guard: 10 kt CO2e).
MAX_BUDGET_GRAMS = 10**13


class OfferStatus(StrEnum):
    OPEN = "open"
    PAUSED = "paused"
    CLOSED = "closed"


class SaleStatus(StrEnum):
    COMPLETED = "completed"  # posted at once
    HELD = "held"  # reserved, waiting for the enterprise's confirmation
    CONFIRMED = "confirmed"  # a hold, posted
    VOIDED = "voided"
    EXPIRED = "expired"


#: Where a hold may go (a completed sale and the final states go nowhere).
HOLD_MOVES = {
    SaleStatus.HELD: frozenset({SaleStatus.CONFIRMED, SaleStatus.VOIDED, SaleStatus.EXPIRED})
}
#: Sales whose grams count against the budget and the per-person limit.
LIVE = frozenset({SaleStatus.COMPLETED, SaleStatus.HELD, SaleStatus.CONFIRMED})


@dataclass(frozen=True, slots=True)
class Offer:
    id: uuid.UUID
    enterprise_id: uuid.UUID
    status: OfferStatus
    budget_grams: int
    min_grams: int
    max_per_person_grams: int | None
    groups: tuple[str, ...]  # empty: every behaviour group
    regions: tuple[str, ...]  # provinces; empty: everywhere
    vintages: tuple[str, ...]  # YYYY-MM; empty: every vintage
    min_quality: Confidence | None
    programme: str | None  # points offers: the programme and the rate
    points_per_kg: int | None
    coupons: bool  # coupon offers pay one code of the uploaded pool per sale
    valid_from: datetime
    valid_until: datetime | None
    hold_minutes: int | None  # sales are holds with this expiry
    created_at: datetime

    def accepts(self, asset: str, quality: str | None) -> bool:
        """Whether a lot of class `asset` (`co2e:{group}:{province}:{YYYY-MM}`) and quality
        tier `quality` may be sold to this offer."""
        kind, group, province, vintage = [*asset.split(":"), "", "", ""][:4]
        if kind != "co2e":
            return False
        if self.groups and group not in self.groups:
            return False
        if self.regions and province not in self.regions:
            return False
        if self.vintages and vintage not in self.vintages:
            return False
        if self.min_quality is None:
            return True
        return quality is not None and quality_rank(Confidence(quality)) <= quality_rank(
            self.min_quality
        )

    def refusal(self, now: datetime, grams: int) -> TanpuhuiError | None:
        """Why a sale of `grams` now is refused by the offer's own terms, or None."""
        if grams <= 0:
            return InvalidInputError("a sale needs a positive number of grams")
        if self.status is not OfferStatus.OPEN:
            return OfferClosedError(f"offer {self.id} is {self.status.value}")
        return self.terms_refusal(now, grams)

    def terms_refusal(self, now: datetime, grams: int) -> TanpuhuiError | None:
        """`refusal` by the terms that never change once published (all but the status,
        which a sale checks where it takes the budget)."""
        if grams <= 0:
            return InvalidInputError("a sale needs a positive number of grams")
        if now < self.valid_from or (self.valid_until is not None and now >= self.valid_until):
            return OfferClosedError(f"offer {self.id} is outside its validity window")
        if grams < self.min_grams:
            return InvalidInputError(
                f"offer {self.id} buys at least {self.min_grams} g per sale", code="below_minimum"
            )
        if self.points_per_kg is not None and points_for(grams, self.points_per_kg) < 1:
            return InvalidInputError(
                f"{grams} g earn no whole point at {self.points_per_kg} points/kg",
                code="below_minimum",
            )
        return None


def smallest_sale(offer: Offer) -> int:
    """The fewest grams a sale to `offer` may have: its minimum, raised for a points offer to
    the grams of one whole point (a sale that earns no point is refused)."""
    if offer.points_per_kg is None:
        return offer.min_grams
    return max(offer.min_grams, -(-1000 // offer.points_per_kg))


def points_for(grams: int, points_per_kg: int) -> int:
    """The points a sale earns: whole points, rounded down (conservative, like grams)."""
    return grams * points_per_kg // 1000


class Lot(NamedTuple):
    """Grams of one reduction a holder owns (and may sell: minus what its holds reserve)."""

    reduction_id: uuid.UUID
    asset: str
    grams: int
    started_at: datetime
    quality: str | None


def allocate(lots: Iterable[Lot], grams: int, offer: Offer) -> list[Lot]:
    """Take `grams` from the eligible lots, oldest first (ties by reduction id); every block
    keeps its reduction id. Refuses with `insufficient_balance` when they cannot cover it."""
    eligible = sorted(
        (lot for lot in lots if lot.grams > 0 and offer.accepts(lot.asset, lot.quality)),
        key=lambda lot: (lot.started_at, lot.reduction_id),
    )
    taken: list[Lot] = []
    left = grams
    for lot in eligible:
        if left == 0:
            break
        part = min(left, lot.grams)
        taken.append(lot._replace(grams=part))
        left -= part
    if left:
        raise InsufficientBalanceError(
            f"the person holds {grams - left} g the offer accepts; {grams} g were asked",
            details={"available_grams": grams - left, "requested_grams": grams},
        )
    return taken


def available_lots(lots: Iterable[Lot], reserved: Iterable[Lot]) -> list[Lot]:
    """The lots a holder may still sell: what it owns minus what its open holds reserve."""
    held: dict[uuid.UUID, int] = defaultdict(int)
    for r in reserved:
        held[r.reduction_id] += r.grams
    if not held:
        return list(lots)
    return [lot._replace(grams=lot.grams - held.get(lot.reduction_id, 0)) for lot in lots]


@dataclass(frozen=True, slots=True)
class Sale:
    id: uuid.UUID
    offer_id: uuid.UUID
    person_id: uuid.UUID
    enterprise_id: uuid.UUID
    request_id: str
    grams: int
    status: SaleStatus
    points: int  # the incentive in points (0 for a coupon offer)
    programme: str | None
    coupon: str | None
    entry_id: uuid.UUID | None  # the posted entry (None while held, voided or expired)
    created_at: datetime
    expires_at: datetime | None  # holds only
    settled_at: datetime | None = None  # confirmed, voided or expired at

    def effective_status(self, now: datetime) -> SaleStatus:
        """The status by the clock: a hold past its expiry is expired even if nobody swept it."""
        if (
            self.status is SaleStatus.HELD
            and self.expires_at is not None
            and now >= self.expires_at
        ):
            return SaleStatus.EXPIRED
        return self.status

    def moved_to(self, status: SaleStatus, now: datetime, entry_id: uuid.UUID | None) -> Sale:
        """The hold in its next state; refuses every move the state machine does not have."""
        current = self.effective_status(now)
        if current is SaleStatus.EXPIRED and status is not SaleStatus.EXPIRED:
            raise HoldExpiredError(f"hold {self.id} expired at {self.expires_at}")
        if status not in HOLD_MOVES.get(self.status, frozenset()):
            raise HoldStateError(f"sale {self.id} is {current.value}, not held")
        return replace(self, status=status, entry_id=entry_id, settled_at=now)


def sale_entry(
    entry_id: uuid.UUID,
    now: datetime,
    seller: str,
    buyer: str,
    lots: Sequence[Lot],
    points: tuple[str, str, int] | None,
    memo: str,
) -> Entry:
    """The entry of a sale: per lot, the seller's grams to the buyer (each line keeps its
    reduction id); with points, (payer account, programme, points) to the seller."""
    lines: list[Posting] = []
    for lot in lots:
        lines.append(Posting(seller, lot.asset, -lot.grams, lot.reduction_id))
        lines.append(Posting(buyer, lot.asset, lot.grams, lot.reduction_id))
    if points is not None and points[2] > 0:
        payer, programme, amount = points
        lines.append(Posting(payer, points_asset(programme), -amount))
        lines.append(Posting(seller, points_asset(programme), amount))
    return Entry(entry_id, "sale", now, tuple(lines), memo)


def lineage_deltas(entry: Entry) -> dict[tuple[str, uuid.UUID, str], int]:
    """How a movement changes (holder, reduction, asset) lots: its lines with a reduction id."""
    deltas: dict[tuple[str, uuid.UUID, str], int] = defaultdict(int)
    for p in entry.postings:
        if p.reduction_id is not None:
            deltas[(p.account, p.reduction_id, p.asset)] += p.amount
    return {k: v for k, v in deltas.items() if v != 0}


def take_back(
    grams: int, holder: str, lots: Mapping[str, int]
) -> tuple[list[tuple[str, int]], int]:
    """Take `grams` of one reduction back from the lots that hold it (a correction down or a
    reversal): its event holder's lot first, then the other holders' (those it was sold to)
    by account. `lots` is what each holder may give (its lot less what open holds reserve).
    Returns the takes (holder, grams > 0) and the shortfall nobody holding it could give
    (retired or settled elsewhere: the buffer covers it)."""
    takes: list[tuple[str, int]] = []
    left = grams
    for who in [holder, *sorted(h for h in lots if h != holder)]:
        part = min(left, max(0, lots.get(who, 0)))
        if part:
            takes.append((who, part))
            left -= part
    return takes, left


def correction_lineage(
    entry: Entry, holder_of: Mapping[uuid.UUID, str]
) -> dict[tuple[str, uuid.UUID, str], int]:
    """How a correction changes the lineage rollup: grams taken back from a holder other than
    the reduction's event holder leave that holder's delta, and the event row (whose live
    grams drop by the whole decrease) gives them back to the event holder's delta, so each
    holder's lot shrinks by exactly what it gave."""
    deltas: dict[tuple[str, uuid.UUID, str], int] = defaultdict(int)
    for p in entry.postings:
        owner = holder_of.get(p.reduction_id) if p.reduction_id is not None else None
        if owner is None or p.account == owner or not is_holder(p.account):
            continue
        assert p.reduction_id is not None
        deltas[(p.account, p.reduction_id, p.asset)] += p.amount
        deltas[(owner, p.reduction_id, p.asset)] -= p.amount
    return {k: v for k, v in deltas.items() if v != 0}
