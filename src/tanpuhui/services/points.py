"""Points: awarded inside intake's and binding's transactions, redeemed at partner merchants,
expired by a sweep (domain/points.py).

`award_in` runs in the caller's unit of work, after the reductions are credited: with no
programme published, or no credit to a person in the batch, it costs one cached read and
nothing else; otherwise one read of the day totals, one upsert per (person, programme, day)
and one ledger entry per batch. The caller holds the persons' locks already (intake and
binding take them), so the daily caps cannot be raced past.

`redeem_points` is a merchant's request (idempotent by its request id) moving points from the
person to the merchant; the merchant must be a partner of the programme. The person is named
by id (operator, CLI) or by a one-time code the person gives the merchant (API), as bindings.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from tanpuhui.domain.binding import Move, PendingReduction
from tanpuhui.domain.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)
from tanpuhui.domain.events import valid_id
from tanpuhui.domain.intake import EventRecord
from tanpuhui.domain.ledger import enterprise_account, is_holder, person_account
from tanpuhui.domain.parties import CODE_ALPHABET, normalise_binding_code
from tanpuhui.domain.points import (
    Credit,
    Redemption,
    expired_points,
    plan_awards,
    points_issuance_account,
    rules_by_behaviour,
    transfer_entry,
)
from tanpuhui.domain.programmes import Programme
from tanpuhui.services.context import Context, retry_races
from tanpuhui.services.ports import UnitOfWork


def credits_of(records: Iterable[EventRecord]) -> list[Credit]:
    """The reductions of a batch credited to persons (pending ones earn at binding)."""
    return [
        Credit(r.id, r.holder, r.event.behaviour, r.event.region, r.candidate.day, r.outcome.grams)
        for r in records
        if r.holder is not None
        and r.holder.startswith("person:")
        and r.outcome.grams > 0
        and r.event is not None
        and r.candidate is not None
    ]


def moved_credits(
    person: str, reductions: Sequence[PendingReduction], moves: Sequence[Move]
) -> list[Credit]:
    """The pending reductions a binding moved to the person, as credits (the grams moved)."""
    by_id = {r.id: r for r in reductions}
    return [
        Credit(m.reduction_id, person, r.behaviour, r.region, r.day, m.moved)
        for m in moves
        if m.moved > 0 and (r := by_id.get(m.reduction_id)) is not None
    ]


def award_in(uow: UnitOfWork, ctx: Context, credits: Sequence[Credit], now: datetime) -> None:
    """Award the points `credits` earn, in the caller's transaction (which holds the persons'
    locks)."""
    if not credits:
        return
    programmes = uow.market.active_programmes()
    if not programmes:
        return
    rules = rules_by_behaviour(programmes)
    keys = sorted(
        {(c.holder, p.code, c.day) for c in credits for p, _ in rules.get(c.behaviour, ())}
    )
    if not keys:
        return
    plan = plan_awards(credits, programmes, uow.market.points_earned(keys), ctx.ids.new(), now)
    if plan.entry is None:
        return
    uow.ledger.open(plan.entry)
    uow.ledger.record(plan.entry, lines_on_events=False)
    uow.market.add_points_earned(plan.day_totals())


def _programme(uow: UnitOfWork, code: str) -> Programme:
    versions = uow.market.programme_versions(code)
    if not versions:
        raise NotFoundError(f"no points programme {code!r}")
    return versions[-1]


def redeem_points(
    ctx: Context,
    merchant_id: uuid.UUID,
    person_id: uuid.UUID,
    programme: str,
    points: int,
    request_id: str,
) -> tuple[Redemption, bool]:
    """Move `points` from the person to the merchant; returns the redemption and whether it
    is new (the same request id again returns the stored one and moves nothing)."""
    _check(points, request_id)

    def attempt() -> tuple[Redemption, bool]:
        with ctx.uow() as uow:
            done = _redeem_in(uow, ctx, merchant_id, person_id, programme, points, request_id)
            uow.commit()
        return done

    return retry_races(attempt)


def redeem_with_code(
    ctx: Context, merchant_id: uuid.UUID, code: str, programme: str, points: int, request_id: str
) -> tuple[Redemption, bool]:
    """A merchant's redemption naming the person by a one-time code the person gave it."""
    _check(points, request_id)
    clean = normalise_binding_code(code)
    if len(clean) != 8 or any(ch not in CODE_ALPHABET for ch in clean):
        raise InvalidInputError("not a one-time code", code="invalid_binding_code")

    def attempt() -> tuple[Redemption, bool]:
        with ctx.uow() as uow:
            seen = uow.market.find_redemption(merchant_id, request_id)
            if seen is not None:
                return seen, False
            used = uow.access.redeem_binding_code(
                ctx.secrets.digest(clean), merchant_id, ctx.wall_clock.now()
            )
            if used is None or not used[1]:
                raise InvalidInputError(
                    "unknown, used or expired one-time code", code="invalid_binding_code"
                )
            done = _redeem_in(uow, ctx, merchant_id, used[0], programme, points, request_id)
            uow.commit()
        return done

    return retry_races(attempt)


def _check(points: int, request_id: str) -> None:
    if not 1 <= points <= 10**9:
        raise InvalidInputError("a redemption is 1 to 1,000,000,000 points")
    if not valid_id(request_id):
        raise InvalidInputError(
            "a request id is 1-128 printable ASCII characters without spaces",
            code="invalid_request",
        )


def _redeem_in(
    uow: UnitOfWork,
    ctx: Context,
    merchant_id: uuid.UUID,
    person_id: uuid.UUID,
    code: str,
    points: int,
    request_id: str,
) -> tuple[Redemption, bool]:
    merchant = uow.enterprises.find(merchant_id)
    if merchant is None:
        raise NotFoundError(f"no enterprise {merchant_id}")
    if uow.persons.find(person_id) is None:
        raise NotFoundError(f"no person {person_id}")
    programme = _programme(uow, code)
    if merchant.name not in programme.merchants and str(merchant.id) not in programme.merchants:
        raise ForbiddenError(
            f"{merchant.name} is not a partner merchant of {code}", code="not_partner"
        )
    uow.locks.acquire([person_account(person_id)])
    seen = uow.market.find_redemption(merchant_id, request_id)
    if seen is not None:
        if (seen.person_id, seen.programme, seen.points) != (person_id, code, points):
            raise ConflictError(
                f"request id {request_id!r} was used for another redemption",
                code="request_conflict",
            )
        return seen, False
    now = ctx.clock.now()
    entry = transfer_entry(
        ctx.ids.new(),
        now,
        "redemption",
        person_account(person_id),
        enterprise_account(merchant_id),
        code,
        points,
        f"redeemed at {merchant.name}",
    )
    uow.ledger.open(entry)
    uow.ledger.record(entry, lines_on_events=False)  # refuses a person short of points
    redemption = Redemption(
        ctx.ids.new(), merchant_id, request_id, person_id, code, points, entry.id, now
    )
    uow.market.add_redemption(redemption)
    return redemption, True


def expire_points(ctx: Context) -> int:
    """Post the expiry of every programme's points past their lifetime (oldest first); returns
    the points expired."""
    now = ctx.clock.now()
    today = now.astimezone(ctx.tz).date()
    total = 0
    with ctx.uow() as uow:
        for programme in uow.market.active_programmes():
            if programme.expiry_days is None:
                continue
            cutoff = today - timedelta(days=programme.expiry_days)
            for holder in uow.market.points_holders(programme.code, cutoff):
                total += _expire_one(uow, ctx, holder, programme.code, cutoff, now)
        uow.commit()
    return total


def _expire_one(
    uow: UnitOfWork, ctx: Context, holder: str, code: str, cutoff: date, now: datetime
) -> int:
    if not is_holder(holder):
        return 0
    uow.locks.acquire([holder])
    before, earned = uow.market.points_history(holder, code, cutoff)
    balance = uow.ledger.balances_of(holder).get(f"points:{code}", 0)
    gone = expired_points(before, earned, balance)
    if gone:
        entry = transfer_entry(
            ctx.ids.new(), now, "points_expiry", holder, points_issuance_account(code), code,
            gone, f"points earned before {cutoff} expired",
        )  # fmt: skip
        uow.ledger.open(entry)
        uow.ledger.record(entry, lines_on_events=False)
    return gone
