"""Binding a subject to a person: what happens to the grams waiting in the pending account.

A scene enterprise knows a person only as its own *subject*. Until the person binds that subject
(with consent), its reductions are credited to `pending:{enterprise}:{subject}`. On binding they
move to the person in one entry, re-checked against the person's existing claims with the same
rules as intake (claims.py), in order of time:

    the same act as a claim the person has  → reversed to issuance (`duplicate`, naming it)
    over the methodology's frequency limit   → reversed to issuance (`too_frequent`), as
      with the person's claims                 intake would have rejected it
    a day-level count the person's day has  → merged (merge.py): the excess reversed
    exceeds the person's daily caps          → the excess reversed to issuance (`capped`)
    otherwise                                → moved whole (`moved`)

Nothing is lost silently: every pending reduction gets a resolution, and the entry balances.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from tanpuhui.domain.caps import days_covered
from tanpuhui.domain.claims import Claim, ClaimBook
from tanpuhui.domain.ledger import Entry, Posting, issuance_account
from tanpuhui.domain.merge import merge_into_day
from tanpuhui.domain.methodology import Catalogue, Methodology


class Resolution(StrEnum):
    MOVED = "moved"
    CAPPED = "capped"  # moved in part; the rest reversed
    DUPLICATE = "duplicate"  # reversed whole
    TOO_FREQUENT = "too_frequent"  # reversed whole: over the methodology's frequency limit


@dataclass(frozen=True, slots=True)
class PendingReduction:
    id: uuid.UUID
    behaviour: str
    group: str
    methodology: str  # code@version
    started_at: datetime
    ended_at: datetime
    day: date
    grams: int  # live grams in the pending account
    asset: str
    region: str


@dataclass(frozen=True, slots=True)
class Move:
    reduction_id: uuid.UUID
    resolution: Resolution
    moved: int
    reversed: int
    duplicate_of: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class BindingPlan:
    entry: Entry | None
    moves: list[Move]
    region_deltas: dict[tuple[str, str, date], int]  # grams reversed, per (region, group, day)


def plan_binding(
    pending_account: str,
    person_account: str,
    pending: Sequence[PendingReduction],
    person_claims: Sequence[Claim],
    catalogue: Catalogue,
    entry_id: uuid.UUID,
    now: datetime,
) -> BindingPlan:
    book = ClaimBook({person_account: person_claims})
    moves: list[Move] = []
    postings: list[Posting] = []
    region_deltas: dict[tuple[str, str, date], int] = defaultdict(int)
    for r in sorted(pending, key=lambda r: (r.started_at, r.id)):
        move = _resolve(book, person_account, r, catalogue)
        moves.append(move)
        _post(move, r, pending_account, person_account, postings, region_deltas)
    entry = Entry(entry_id, "binding", now, tuple(postings)) if postings else None
    return BindingPlan(entry, moves, dict(region_deltas))


def _resolve(book: ClaimBook, account: str, r: PendingReduction, catalogue: Catalogue) -> Move:
    """What becomes of one pending reduction (the rules of the module docstring, in order);
    what moves is added to the person's book."""
    group = catalogue.groups[r.group]
    methodology = catalogue.get(r.methodology)
    clash = book.overlapping(account, group, r.started_at, r.ended_at)
    if clash is None and _too_frequent(book, account, r, methodology):
        return Move(r.id, Resolution.TOO_FREQUENT, 0, r.grams)
    grams = r.grams
    if clash is None and group.day_merge is not None:
        grams = merge_into_day(book, account, group, r.day, r.grams).grams
        if grams == 0:
            clash = book.largest_on(account, group.code, r.day)
    if clash is not None:
        return Move(r.id, Resolution.DUPLICATE, 0, r.grams, clash.id)
    cap = methodology.daily_cap_grams if methodology is not None else None
    days = days_covered(r.started_at, r.ended_at)
    room = book.room(account, group, r.behaviour, r.day, cap, days)
    moved = grams if room is None else min(grams, room)
    if moved > 0:
        claim = Claim(r.id, r.group, r.behaviour, r.started_at, r.ended_at, r.day, moved)
        book.add(account, claim)
    resolution = Resolution.MOVED if moved == r.grams else Resolution.CAPPED
    return Move(r.id, resolution, moved, r.grams - moved)


def _too_frequent(
    book: ClaimBook, account: str, r: PendingReduction, methodology: Methodology | None
) -> bool:
    """The person's claims leave `r` no room under its methodology's frequency limit
    (decision.py rejects such a claim at intake `too_frequent`)."""
    limit = methodology.plausibility.frequency if methodology is not None else None
    if limit is None:
        return False
    window = timedelta(seconds=limit.window_s)
    return len(book.frequent(account, r.behaviour, r.started_at, window)) >= limit.max_count


def _post(
    move: Move,
    r: PendingReduction,
    pending_account: str,
    person_account: str,
    postings: list[Posting],
    region_deltas: dict[tuple[str, str, date], int],
) -> None:
    """The postings of one move: out of the pending account, to the person and/or back to
    issuance; the reversed grams leave the region's totals."""
    postings.append(Posting(pending_account, r.asset, -r.grams, r.id))
    if move.moved:
        postings.append(Posting(person_account, r.asset, move.moved, r.id))
    if move.reversed:
        code = r.methodology.partition("@")[0]
        postings.append(Posting(issuance_account(code), r.asset, move.reversed, r.id))
        region_deltas[(r.region, r.group, r.day)] -= move.reversed
