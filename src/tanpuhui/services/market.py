"""The market's use cases: offers, sales, holds and holdings (domain/market.py).

Concurrent sales of one process are committed in groups (`_sell_group`, by
services/group_commit.py): what succeeds is sold together in one transaction that does per
group what a sale alone does per sale — one lock statement for all the sellers, one read of
their lots, one statement each for the sales, entries, postings, balances, queued log lines
and seals, and each offer's budget once for the group's total — and exactly as each would be
alone (a seller's second sale in a group allocates from what the first left); every request
a group cannot simply sell (a coupon or hold offer, a refusal, a replay, a budget too short)
is sold alone by its caller as below, with its precise answer.

`sell_reductions` alone is one transaction: it takes the person's lock (the same advisory lock
binding takes, so no two movements of one person interleave), checks the offer's terms and
the person's limit, allocates the grams oldest first over the person's available lots
(posted minus what open holds reserve), stores the sale (a hold reserves its lots; a request
id seen before stores nothing) and posts the entry through the ledger (which refuses a holder
going negative: the second guard). The offer's budget comes last, so its row (every seller of
the offer updates it; the database refuses a negative budget) is locked for the shortest time;
the same conditional update refuses a paused or closed offer. Anything raised rolls the whole
sale back; only then is a refusal sorted out (a stored sale under the request id is returned,
then a closed offer or an unknown person is the answer), so a sale that succeeds pays for none
of these reads.

A hold is confirmed (posted) or voided by the enterprise, or expires by the clock: expired
holds reserve nothing and count against no budget from the moment they expire, and
`expire_holds` (a command or worker) sweeps them, giving their budget back to the offer. A
voided or expired coupon hold gives its code back to the pool (a sale that finds the pool
empty sweeps the offer's expired holds first, as it does for the budget).
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import NamedTuple

from tanpuhui.domain.errors import (
    BudgetExhaustedError,
    ConflictError,
    ForbiddenError,
    InsufficientBalanceError,
    InvalidInputError,
    NotFoundError,
    OfferClosedError,
    PerPersonLimitError,
    RaceLostError,
    TanpuhuiError,
)
from tanpuhui.domain.events import valid_id
from tanpuhui.domain.ledger import Entry, enterprise_account, person_account
from tanpuhui.domain.market import (
    MAX_BUDGET_GRAMS,
    Lot,
    Offer,
    OfferStatus,
    Sale,
    SaleStatus,
    allocate,
    available_lots,
    lineage_deltas,
    points_for,
    sale_entry,
    smallest_sale,
)
from tanpuhui.domain.methodology import Confidence
from tanpuhui.domain.parties import Role
from tanpuhui.domain.points import points_issuance_account
from tanpuhui.domain.shards import shard_of_person
from tanpuhui.services.context import Context, retry_races
from tanpuhui.services.ports import UnitOfWork

MAX_COUPONS = 1_000_000


@dataclass(frozen=True, slots=True)
class OfferTerms:
    """What `create_offer` is asked for (the CLI and API parse into this)."""

    budget_grams: int
    points_per_kg: int | None = None
    programme: str | None = None
    coupons: tuple[str, ...] = ()
    min_grams: int = 1
    max_per_person_grams: int | None = None
    groups: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    vintages: tuple[str, ...] = ()
    min_quality: Confidence | None = None
    valid_until: datetime | None = None
    hold_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class OfferView:
    offer: Offer
    remaining_grams: int  # budget neither sold nor held (expired holds count as free)
    coupons_left: int | None


@dataclass(frozen=True, slots=True)
class SaleResult:
    sale: Sale
    status: SaleStatus  # by the clock (a hold past its expiry is expired)
    lots: list[Lot]
    replayed: bool = False


def _check_terms(terms: OfferTerms) -> None:
    if not 1 <= terms.budget_grams <= MAX_BUDGET_GRAMS:
        raise InvalidInputError(f"a budget is 1 to {MAX_BUDGET_GRAMS} grams")
    points, coupons = terms.points_per_kg is not None, bool(terms.coupons)
    if points == coupons or (points and not terms.programme):
        raise InvalidInputError(
            "an offer pays either points (--points-per-kg with --programme) or coupons"
        )
    if points and not 1 <= (terms.points_per_kg or 0) <= 1_000_000:
        raise InvalidInputError("points per kg are 1 to 1,000,000")
    if not 1 <= terms.min_grams <= terms.budget_grams:
        raise InvalidInputError("the minimum per sale is 1 g up to the budget")
    if terms.max_per_person_grams is not None and terms.max_per_person_grams < terms.min_grams:
        raise InvalidInputError("the maximum per person is below the minimum per sale")
    if terms.hold_minutes is not None and not 1 <= terms.hold_minutes <= 60 * 24 * 30:
        raise InvalidInputError("a hold lasts 1 minute to 30 days")
    for region in terms.regions:
        if not (len(region) == 6 and region.isdigit() and region.endswith("0000")):
            raise InvalidInputError(f"{region!r} is not a province code (e.g. 510000)")
    for vintage in terms.vintages:
        if not (len(vintage) == 7 and vintage[4] == "-" and vintage.replace("-", "").isdigit()):
            raise InvalidInputError(f"{vintage!r} is not a vintage month (YYYY-MM)")
    if len(terms.coupons) > MAX_COUPONS or len(set(terms.coupons)) != len(terms.coupons):
        raise InvalidInputError(f"a coupon pool holds up to {MAX_COUPONS} distinct codes")


def create_offer(ctx: Context, enterprise_id: uuid.UUID, terms: OfferTerms) -> OfferView:
    _check_terms(terms)
    now = ctx.clock.now()
    if terms.valid_until is not None and terms.valid_until <= now:
        raise InvalidInputError("an offer's validity must end in the future")
    offer = Offer(
        id=ctx.ids.new(),
        enterprise_id=enterprise_id,
        status=OfferStatus.OPEN,
        budget_grams=terms.budget_grams,
        min_grams=terms.min_grams,
        max_per_person_grams=terms.max_per_person_grams,
        groups=tuple(sorted(set(terms.groups))),
        regions=tuple(sorted(set(terms.regions))),
        vintages=tuple(sorted(set(terms.vintages))),
        min_quality=terms.min_quality,
        programme=terms.programme if terms.points_per_kg is not None else None,
        points_per_kg=terms.points_per_kg,
        coupons=bool(terms.coupons),
        valid_from=now,
        valid_until=terms.valid_until,
        hold_minutes=terms.hold_minutes,
        created_at=now,
    )
    with ctx.uow() as uow:
        _platform(uow, enterprise_id)
        if offer.programme is not None and not uow.market.programme_versions(offer.programme):
            raise NotFoundError(f"no points programme {offer.programme!r}")
        uow.market.add_offer(offer, terms.coupons)
        uow.commit()
    return OfferView(offer, offer.budget_grams, len(terms.coupons) if offer.coupons else None)


def _platform(uow: UnitOfWork, enterprise_id: uuid.UUID) -> None:
    enterprise = uow.enterprises.find(enterprise_id)
    if enterprise is None:
        raise NotFoundError(f"no enterprise {enterprise_id}")
    if Role.PLATFORM not in enterprise.roles:
        raise ForbiddenError(
            f"{enterprise.name} does not have the platform role", code="not_platform"
        )


def _view(uow: UnitOfWork, offer: Offer, remaining: int, now: datetime) -> OfferView:
    grams, holds = uow.market.expired_unswept(offer.id, now)
    coupons = uow.market.coupons_left(offer.id) + holds if offer.coupons else None
    return OfferView(offer, remaining + grams, coupons)


def list_offers(
    ctx: Context, enterprise_id: uuid.UUID | None = None, *, open_only: bool = False
) -> list[OfferView]:
    now = ctx.clock.now()
    with ctx.uow(write=False) as uow:
        views = [_view(uow, o, left, now) for o, left in uow.market.offers(enterprise_id)]
    if open_only:
        views = [v for v in views if v.offer.refusal(now, smallest_sale(v.offer)) is None]
    return views


def get_offer(ctx: Context, offer_id: uuid.UUID) -> OfferView:
    now = ctx.clock.now()
    with ctx.uow(write=False) as uow:
        offer = uow.market.find_offer(offer_id)
        if offer is None:
            raise NotFoundError(f"no offer {offer_id}")
        return _view(uow, offer, uow.market.remaining(offer_id), now)


def set_offer_status(
    ctx: Context, offer_id: uuid.UUID, status: OfferStatus, enterprise_id: uuid.UUID | None = None
) -> OfferView:
    """Pause, reopen or close an offer (closed is final). With `enterprise_id`, only that
    enterprise's own offer (another's is not found)."""
    with ctx.uow() as uow:
        offer = uow.market.find_offer(offer_id)
        if offer is None or (enterprise_id is not None and offer.enterprise_id != enterprise_id):
            raise NotFoundError(f"no offer {offer_id}")
        if offer.status is OfferStatus.CLOSED and status is not OfferStatus.CLOSED:
            raise OfferClosedError(f"offer {offer_id} is closed")
        uow.market.set_offer_status(offer_id, status)
        uow.commit()
    return get_offer(ctx, offer_id)


def sell_reductions(
    ctx: Context,
    person_id: uuid.UUID,
    offer_id: uuid.UUID,
    grams: int,
    request_id: str | None = None,
) -> SaleResult:
    """Sell `grams` of a person's reductions to an offer; the same request id again returns
    the stored sale and moves nothing (a different sale under it is a conflict)."""
    rid = request_id if request_id is not None else str(ctx.ids.new())
    if not valid_id(rid):
        raise InvalidInputError(
            "a request id is 1-128 printable ASCII characters without spaces",
            code="invalid_request",
        )

    request = _Request(person_id, offer_id, grams, rid)
    outcome = ctx.sale_groups.submit(request, lambda group: _sell_group(ctx, group))
    if isinstance(outcome, TanpuhuiError):
        raise outcome
    if isinstance(outcome, SaleResult):
        return outcome
    return _sell_alone(ctx, request)  # not sold in a group: alone, with every precise answer


def _sell_alone(ctx: Context, r: _Request) -> SaleResult:
    """One sale in its own transaction (`sell_in`); a refusal sorted out after the rollback."""

    def attempt() -> SaleResult:
        try:
            with ctx.uow() as uow:
                result = sell_in(uow, ctx, r.person_id, r.offer_id, r.grams, r.request_id)
                uow.commit()
            return result
        except (TanpuhuiError, _Seen) as refused:
            if isinstance(refused, RaceLostError):
                raise
            return _after_refusal(ctx, refused, r.person_id, r.offer_id, r.grams, r.request_id)

    return retry_races(attempt)


class _Request(NamedTuple):
    person_id: uuid.UUID
    offer_id: uuid.UUID
    grams: int
    request_id: str


class _Alone:
    """A group's answer for a request it did not sell: the caller sells it alone."""


_ALONE = _Alone()


class _Short(Exception):  # noqa: N818 (not an error: an offer's budget refused the group's total)
    def __init__(self, found: dict[uuid.UUID, tuple[OfferStatus, int]]) -> None:
        super().__init__(f"offers {sorted(found)} refused the group's total")
        self.found = found  # each offer's status and remaining budget, as read then


Outcome = SaleResult | TanpuhuiError | _Alone


def _sell_group(ctx: Context, group: Sequence[_Request]) -> list[Outcome]:
    """Sell a group of concurrent requests in one transaction: what every sale in it costs
    once — the transaction, the sellers' locks (one statement), their lots (one read), the
    sales' rows, the entries' rows, postings, balances, queued log lines and seals (one
    statement each), and each offer's budget row, taken last and once for the group's total,
    so it is locked once per group, not once per sale. A group sells exactly what selling its
    requests one after the other would (a person's second sale allocates from what the first
    left). A refusal is answered in the group only when it is the answer the request would
    get alone (its request id is not stored; the offer is open and the person known, as the
    group's own conditional update of the offer's row shows under that row's lock): a balance,
    a per-person limit or a budget too short, or an offer found paused or closed. Every other
    request — an offer paying coupons or holding its sales, terms refusing it, a stored or
    repeated request id — is answered `_ALONE`, and its caller sells it alone (`sell_in`);
    a group of one is sold alone here (`_sell_alone`). An offer whose budget refuses the
    group's total makes the group run again knowing what that offer had left. If the group's
    transaction fails, every request of it is sold alone."""
    out: list[Outcome] = [_ALONE] * len(group)
    if len(group) == 1:  # nothing to share: the lone sale's own statements are cheaper (and
        try:  # it is sold here, so that the requests arriving meanwhile queue into a group)
            return [_sell_alone(ctx, group[0])]
        except TanpuhuiError as refused:
            return [refused]
    known: dict[uuid.UUID, tuple[OfferStatus, int]] = {}
    for _ in range(3):
        try:
            with ctx.uow() as uow:
                answers = _sell_together(uow, ctx, group, known)
                if any(isinstance(a, SaleResult) for a in answers.values()):
                    uow.commit()
        except _Short as short:
            known.update(short.found)
            continue
        except Exception:  # each request, sold alone, gets its precise answer
            return out
        for i, answer in answers.items():
            out[i] = answer
        return out
    return out


def _sell_together(
    uow: UnitOfWork,
    ctx: Context,
    group: Sequence[_Request],
    known: dict[uuid.UUID, tuple[OfferStatus, int]],
) -> dict[int, Outcome]:
    now = ctx.clock.now()
    offers: dict[uuid.UUID, Offer] = {}
    chosen: list[int] = []
    keys: set[tuple[uuid.UUID, str]] = set()
    for i, r in enumerate(group):
        offer = offers.get(r.offer_id) or uow.market.offer_terms(r.offer_id)
        if offer is None:
            continue
        offers[r.offer_id] = offer
        if (
            offer.coupons
            or offer.hold_minutes is not None
            or (r.person_id, r.request_id) in keys
            or offer.terms_refusal(now, r.grams) is not None
        ):
            continue
        keys.add((r.person_id, r.request_id))
        chosen.append(i)
    if not chosen:
        return {}
    persons = sorted({group[i].person_id for i in chosen})
    uow.locks.acquire([person_account(p) for p in persons])
    answering = len(chosen) > 1  # a lone request's stored id fails its insert (then: alone)
    if answering:
        stored = uow.market.stored_requests(
            [(shard_of_person(group[i].person_id), group[i].person_id, group[i].request_id)
             for i in chosen]
        )  # fmt: skip
        chosen = [i for i in chosen if (group[i].person_id, group[i].request_id) not in stored]
    limited = sorted(
        {
            (shard_of_person(group[i].person_id), group[i].person_id, group[i].offer_id)
            for i in chosen
            if offers[group[i].offer_id].max_per_person_grams is not None
        }
    )
    sold: dict[tuple[uuid.UUID, uuid.UUID], int] = defaultdict(int)
    if limited:
        sold.update(uow.market.sold_by_many(limited, now))
    lots = {
        holder: available_lots(owned, reserved)
        for holder, (owned, reserved) in uow.market.available_lots_many(
            [(person_account(p), shard_of_person(p), p) for p in persons], now
        ).items()
    }
    answers: dict[int, Outcome] = {}
    refused: dict[int, TanpuhuiError] = {}  # answered if the offer's row proves it open
    accepted: list[tuple[int, Sale, list[Lot]]] = []
    left = {o: remaining for o, (status, remaining) in known.items() if status is OfferStatus.OPEN}
    again = Counter(group[i].person_id for i in chosen)
    for i in chosen:
        r, offer, holder = group[i], offers[group[i].offer_id], person_account(group[i].person_id)
        status = known.get(r.offer_id, (OfferStatus.OPEN, 0))[0]
        if status is not OfferStatus.OPEN:
            if answering:
                answers[i] = OfferClosedError(f"offer {r.offer_id} is {status.value}")
            continue
        most = offer.max_per_person_grams
        if most is not None and sold[(r.person_id, r.offer_id)] + r.grams > most:
            if not lots[holder]:  # a person with reductions exists; one without may not
                continue
            refused[i] = PerPersonLimitError(
                f"offer {r.offer_id} buys at most {most} g per person;"
                f" {sold[(r.person_id, r.offer_id)]} g sold already",
                details={"sold_grams": sold[(r.person_id, r.offer_id)], "max_grams": most},
            )
            continue
        try:
            taken = allocate(lots[holder], r.grams, offer)
        except InsufficientBalanceError as exc:
            if lots[holder]:  # a person with reductions exists; one without may not
                refused[i] = exc
            continue
        if left.get(r.offer_id, r.grams) < r.grams:
            refused[i] = BudgetExhaustedError("")  # its remaining is known once taken
            continue
        again[r.person_id] -= 1
        if again[r.person_id]:  # the same person sells again in the group: from what is left
            lots[holder] = _less(lots[holder], taken)
        sold[(r.person_id, r.offer_id)] += r.grams
        if r.offer_id in left:
            left[r.offer_id] -= r.grams
        sale = _new_sale(uow, ctx, offer, r.person_id, r.grams, r.request_id, now)
        accepted.append((i, sale, taken))
    totals: dict[uuid.UUID, int] = defaultdict(int)
    if answering:  # a refusal's offer is taken from too (0 g) to prove it open, under its lock
        for i in refused:
            totals[group[i].offer_id] += 0
    if not accepted and not totals:
        return answers
    entries: list[Entry] = []
    lineage: dict[tuple[str, uuid.UUID, str], int] = defaultdict(int)
    days: dict[tuple[str, str, date], int] = defaultdict(int)
    for _, sale, taken in accepted:
        entry, deltas, points = _posting(sale, taken, ctx.tz)
        entries.append(entry)
        for key, grams in deltas.items():
            lineage[key] += grams
        for day, count in points.items():
            days[day] += count
        totals[sale.offer_id] += sale.grams
    rows = [(sale, shard_of_person(sale.person_id), taken) for _, sale, taken in accepted]
    if rows and not uow.market.add_posted_sales(
        rows, {k: v for k, v in lineage.items() if v}, days
    ):
        return {}  # a request id was stored (a lone sale's replay): roll back, each alone
    uow.ledger.record_many(entries)
    taken_from = uow.market.take_budgets(totals)  # last: the hottest rows, once per group
    short = [o for o, grams in totals.items() if grams and taken_from.get(o) is None]
    if short:
        found = {}
        for offer_id in short:
            fresh = uow.market.find_offer(offer_id)
            assert fresh is not None
            found[offer_id] = (fresh.status, uow.market.remaining(offer_id))
        raise _Short(found)
    for i, refusal in refused.items():
        remaining = taken_from.get(group[i].offer_id)
        if remaining is None or not answering:
            continue  # not proven open: alone
        if isinstance(refusal, BudgetExhaustedError):  # what was left at its turn
            remaining += sum(
                sale.grams
                for j, sale, _ in accepted
                if j > i and sale.offer_id == group[i].offer_id
            )
            refusal = BudgetExhaustedError(
                f"offer {group[i].offer_id} has {remaining} g of budget left",
                details={"remaining_grams": remaining},
            )
        answers[i] = refusal
    answers.update((i, SaleResult(sale, sale.status, taken)) for i, sale, taken in accepted)
    return answers


def _less(lots: Sequence[Lot], taken: Sequence[Lot]) -> list[Lot]:
    """`lots` less what a sale of the group took from them."""
    used: dict[uuid.UUID, int] = defaultdict(int)
    for lot in taken:
        used[lot.reduction_id] += lot.grams
    return [lot._replace(grams=lot.grams - used.get(lot.reduction_id, 0)) for lot in lots]


class _Seen(Exception):  # noqa: N818 (not an error: the request id was used, roll back)
    """Raised inside a sale whose request id is stored already, to roll back what it took."""


def _after_refusal(
    ctx: Context,
    refused: Exception,
    person_id: uuid.UUID,
    offer_id: uuid.UUID,
    grams: int,
    request_id: str,
) -> SaleResult:
    """A sale refused (or found to be a replay) is rolled back; then, in this order: a stored
    sale under the request id is returned (a replay moves nothing, whatever changed since), a
    paused or closed offer or an unknown person is the answer, else the refusal."""
    now, shard = ctx.clock.now(), shard_of_person(person_id)
    with ctx.uow(write=False) as uow:
        seen = uow.market.find_by_request(shard, person_id, request_id)
        if seen is not None:
            return _replay(uow, seen, shard, offer_id, grams, now)
        offer = uow.market.find_offer(offer_id)
        if offer is not None and offer.status is not OfferStatus.OPEN:
            raise OfferClosedError(f"offer {offer_id} is {offer.status.value}")
        if uow.persons.find(person_id) is None:
            raise NotFoundError(f"no person {person_id}")
    if isinstance(refused, _Seen):
        raise RaceLostError(f"request {request_id!r} was stored concurrently")
    raise refused


def sell_in(
    uow: UnitOfWork,
    ctx: Context,
    person_id: uuid.UUID,
    offer_id: uuid.UUID,
    grams: int,
    request_id: str,
) -> SaleResult:
    """The sale's transaction, the fewest round trips first: the offer's terms come from the
    process cache (only its status can change, and the budget's conditional update checks
    it), the person's lots and holds are one read, the request id is checked by the sale's
    own insert (a refusal or a replay is sorted out after the rollback, `_after_refusal`),
    and the offer's budget row, which every seller of the offer updates, is taken last so it
    stays locked for the shortest time."""
    now, seller, shard = ctx.clock.now(), person_account(person_id), shard_of_person(person_id)
    offer = uow.market.offer_terms(offer_id)
    if offer is None:
        raise NotFoundError(f"no offer {offer_id}")
    uow.locks.acquire([seller])
    refusal = offer.terms_refusal(now, grams)
    if refusal is not None:
        raise refusal
    if offer.max_per_person_grams is not None:
        sold = uow.market.sold_by(shard, person_id, offer_id, now)
        if sold + grams > offer.max_per_person_grams:
            raise PerPersonLimitError(
                f"offer {offer_id} buys at most {offer.max_per_person_grams} g per person;"
                f" {sold} g sold already",
                details={"sold_grams": sold, "max_grams": offer.max_per_person_grams},
            )
    owned, reserved = uow.market.available_lots(seller, shard, person_id, now)
    taken = allocate(available_lots(owned, reserved), grams, offer)
    sale = _new_sale(uow, ctx, offer, person_id, grams, request_id, now)
    if sale.status is SaleStatus.COMPLETED:  # the sale's rows, lineage and points: one write
        entry, lineage, days = _posting(sale, taken, ctx.tz)
        if not uow.market.add_posted_sale(sale, shard, taken, lineage, days):
            raise _Seen(request_id)
        uow.ledger.open(entry)
        uow.ledger.record(entry, lines_on_events=False)
    elif not uow.market.add_sale(sale, shard, taken):
        raise _Seen(request_id)
    _take_budget(uow, offer, grams, now)  # last: the hottest row
    return SaleResult(sale, sale.status, taken)


def _replay(
    uow: UnitOfWork, seen: Sale, shard: int, offer_id: uuid.UUID, grams: int, now: datetime
) -> SaleResult:
    if seen.offer_id != offer_id or seen.grams != grams:
        raise ConflictError(
            f"request id {seen.request_id!r} was used for another sale", code="request_conflict"
        )
    lots = uow.market.sale_lots(shard, seen.id)
    return SaleResult(seen, seen.effective_status(now), lots, replayed=True)


def _new_sale(
    uow: UnitOfWork,
    ctx: Context,
    offer: Offer,
    person_id: uuid.UUID,
    grams: int,
    request_id: str,
    now: datetime,
) -> Sale:
    sale_id = ctx.ids.new()
    coupon = None
    if offer.coupons:
        coupon = uow.market.take_coupon(offer.id, sale_id)
        if coupon is None and uow.market.expired_unswept(offer.id, now)[1]:
            _sweep(uow, now, offer.id)  # expired holds give their codes back
            coupon = uow.market.take_coupon(offer.id, sale_id)
        if coupon is None:
            raise BudgetExhaustedError(
                f"offer {offer.id} has no coupons left", code="coupons_exhausted"
            )
    held = offer.hold_minutes is not None
    return Sale(
        id=sale_id,
        offer_id=offer.id,
        person_id=person_id,
        enterprise_id=offer.enterprise_id,
        request_id=request_id,
        grams=grams,
        status=SaleStatus.HELD if held else SaleStatus.COMPLETED,
        points=points_for(grams, offer.points_per_kg) if offer.points_per_kg else 0,
        programme=offer.programme,
        coupon=coupon,
        entry_id=None if held else ctx.ids.new(),
        created_at=now,
        expires_at=now + timedelta(minutes=offer.hold_minutes or 0) if held else None,
    )


def _post(uow: UnitOfWork, sale: Sale, lots: Sequence[Lot], tz: tzinfo) -> None:
    """Post a sale's entry (grams to the enterprise, points to the person) and its lineage."""
    entry, lineage, days = _posting(sale, lots, tz)
    uow.market.apply_lineage(lineage)
    uow.market.add_points_earned(days)
    uow.ledger.open(entry)
    uow.ledger.record(entry, lines_on_events=False)


def _posting(
    sale: Sale, lots: Sequence[Lot], tz: tzinfo
) -> tuple[Entry, dict[tuple[str, uuid.UUID, str], int], dict[tuple[str, str, date], int]]:
    """A sale's entry, its lineage deltas and the points it adds to the person's day (sale
    points expire like awarded ones: the day earned is recorded)."""
    assert sale.entry_id is not None
    points = None
    if sale.programme is not None and sale.points:
        points = (points_issuance_account(sale.programme), sale.programme, sale.points)
    entry = sale_entry(
        sale.entry_id,
        sale.settled_at or sale.created_at,
        person_account(sale.person_id),
        enterprise_account(sale.enterprise_id),
        lots,
        points,
        f"sale {sale.id} to offer {sale.offer_id}",
    )
    days = {}
    if points is not None:
        day = entry.created_at.astimezone(tz).date()
        days[(entry.postings[0].account, points[1], day)] = points[2]
    return entry, lineage_deltas(entry), days


def _take_budget(uow: UnitOfWork, offer: Offer, grams: int, now: datetime) -> None:
    if uow.market.take_budget(offer.id, grams):
        return
    fresh = uow.market.find_offer(offer.id)
    if fresh is not None and fresh.status is not OfferStatus.OPEN:
        raise OfferClosedError(f"offer {offer.id} is {fresh.status.value}")
    swept = uow.market.expired_unswept(offer.id, now)[1] and _sweep(uow, now, offer.id)
    if swept and uow.market.take_budget(offer.id, grams):
        return
    raise BudgetExhaustedError(
        f"offer {offer.id} has {uow.market.remaining(offer.id)} g of budget left",
        details={"remaining_grams": uow.market.remaining(offer.id)},
    )


def _sweep(uow: UnitOfWork, now: datetime, offer_id: uuid.UUID | None = None) -> int:
    """Mark the holds past their expiry expired and give their budget (and coupon) back."""
    done = 0
    for sale, shard in uow.market.due_holds(now, offer_id):
        if uow.market.settle_sale(sale.moved_to(SaleStatus.EXPIRED, now, None), shard):
            _release(uow, sale)
            done += 1
    return done


def _release(uow: UnitOfWork, sale: Sale) -> None:
    """A hold voided or expired: its grams of budget and its coupon go back to the offer."""
    uow.market.give_budget(sale.offer_id, sale.grams)
    if sale.coupon is not None:
        uow.market.return_coupon(sale.offer_id, sale.id)


def expire_holds(ctx: Context) -> int:
    """Sweep expired holds (a command or worker runs this); returns how many expired."""
    with ctx.uow() as uow:
        done = _sweep(uow, ctx.clock.now())
        uow.commit()
    return done


def settle_hold(
    ctx: Context, sale_id: uuid.UUID, status: SaleStatus, enterprise_id: uuid.UUID | None = None
) -> SaleResult:
    """Confirm (post) or void a hold. Confirming a confirmed hold again (or voiding a voided
    one) returns it; every other move out of a final state is refused."""
    if status not in (SaleStatus.CONFIRMED, SaleStatus.VOIDED):
        raise InvalidInputError("a hold is confirmed or voided")

    def attempt() -> SaleResult:
        with ctx.uow() as uow:
            result = _settle_in(uow, ctx, sale_id, status, enterprise_id)
            uow.commit()
        return result

    return retry_races(attempt)


def _settle_in(
    uow: UnitOfWork,
    ctx: Context,
    sale_id: uuid.UUID,
    status: SaleStatus,
    enterprise_id: uuid.UUID | None,
) -> SaleResult:
    now = ctx.clock.now()
    found = uow.market.find_sale(sale_id)
    if found is None or (enterprise_id is not None and found[0].enterprise_id != enterprise_id):
        raise NotFoundError(f"no sale {sale_id}")
    uow.locks.acquire([person_account(found[0].person_id)])
    sale, shard = uow.market.find_sale(sale_id) or found  # as it is under the person's lock
    lots = uow.market.sale_lots(shard, sale_id)
    if sale.status is status:
        return SaleResult(sale, status, lots, replayed=True)
    settled = sale.moved_to(status, now, ctx.ids.new() if status is SaleStatus.CONFIRMED else None)
    if not uow.market.settle_sale(settled, shard):
        raise RaceLostError(f"hold {sale_id} changed concurrently")
    if status is SaleStatus.CONFIRMED:
        _post(uow, settled, lots, ctx.tz)
    else:
        _release(uow, sale)
    return SaleResult(settled, status, lots)


def sales_of_person(ctx: Context, person_id: uuid.UUID, limit: int = 100) -> list[SaleResult]:
    now = ctx.clock.now()
    shard = shard_of_person(person_id)
    with ctx.uow(write=False) as uow:
        sales = uow.market.sales(person=(shard, person_id), limit=limit)
        return [
            SaleResult(s, s.effective_status(now), uow.market.sale_lots(shard, s.id)) for s in sales
        ]


def sales_of_enterprise(
    ctx: Context, enterprise_id: uuid.UUID, limit: int = 100
) -> list[SaleResult]:
    now = ctx.clock.now()
    with ctx.uow(write=False) as uow:
        ids = [o.id for o, _ in uow.market.offers(enterprise_id)]
        sales = uow.market.sales(offer_ids=ids, limit=limit) if ids else []
        return [
            SaleResult(
                s, s.effective_status(now), uow.market.sale_lots(shard_of_person(s.person_id), s.id)
            )
            for s in sales
        ]


def holdings_of(ctx: Context, account: str) -> dict[str, list[Lot]]:
    """A holder's lots by class, oldest first: the reductions behind every gram it holds."""
    with ctx.uow(write=False) as uow:
        lots = uow.market.lots_of(account)
    by_class: dict[str, list[Lot]] = {}
    for lot in sorted(lots, key=lambda x: (x.asset, x.started_at, x.reduction_id)):
        if lot.grams > 0:
            by_class.setdefault(lot.asset, []).append(lot)
    return by_class


def points_of(ctx: Context, account: str) -> dict[str, int]:
    """A holder's points by programme."""
    with ctx.uow(write=False) as uow:
        balances = uow.ledger.balances_of(account)
    return {a.partition(":")[2]: n for a, n in balances.items() if a.startswith("points:")}
