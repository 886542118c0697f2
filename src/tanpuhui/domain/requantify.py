"""Re-quantification: when a methodology is fixed (a new version), what its reductions should
have been, and the correcting ledger entry — never an edit.

For each reduction currently quantified with the old version, the event is quantified again
with the new one (same inputs, day and region); the result is held to the person's daily caps
as they are re-run in time order with the new values — against every day the claim covers,
by the rule intake uses (caps.py: a 3-day reading counts a third on each of its days and may
credit at most 3 × the smallest room on them). The difference is posted:

    more grams   issuance:{code} → holder
    fewer grams  holders → issuance:{code}, out of the lots that hold the reduction
                 (with `holdings`, the lineage: its event holder first, then whoever bought
                 grams of it — domain/market.py `take_back`; without, the event holder's
                 class, as MRV's reversals still do); what no lot can give (reserved by an
                 open hold, retired) is a shortfall taken from buffer:{code}

Every reduction handled gets a correction record naming both versions, so running the same
re-quantification again finds nothing left to do.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from tanpuhui.domain.caps import days_covered, spread
from tanpuhui.domain.claims import ClaimBook
from tanpuhui.domain.events import BehaviourEvent, Rejection
from tanpuhui.domain.ledger import Entry, Posting, issuance_account
from tanpuhui.domain.market import take_back
from tanpuhui.domain.methodology import Catalogue, Methodology
from tanpuhui.domain.models import Quantification, quantify


def buffer_account(methodology_code: str) -> str:
    return f"buffer:{methodology_code}"


class StoredReduction(NamedTuple):
    """A credited reduction as stored, with the event it was quantified from."""

    id: uuid.UUID
    event: BehaviourEvent
    holder: str
    asset: str
    group: str
    day: date
    live_grams: int


class Correction(NamedTuple):
    reduction_id: uuid.UUID
    holder: str
    asset: str
    region: str
    group: str
    day: date
    before: int  # grams it backs now
    after: int  # grams it backs once corrected
    taken_back: int  # of a decrease, what the holder gave back
    shortfall: int  # of a decrease, what the holder no longer had
    quantification: Quantification
    capped: bool

    @property
    def delta(self) -> int:
        return self.after - self.before


@dataclass(frozen=True, slots=True)
class RequantifyPlan:
    corrections: list[Correction]
    not_applicable: list[tuple[uuid.UUID, Rejection]]  # the new version does not cover it
    entry: Entry | None
    region_deltas: dict[tuple[str, str, date], int]


def day_shares(r: StoredReduction, grams: int) -> list[tuple[date, int]]:
    """What `grams` of reduction `r` count on each local day it covers (caps.py)."""
    return list(spread(grams, r.day, days_covered(r.event.started_at, r.event.ended_at)))


def _count(claims: ClaimBook, r: StoredReduction, group: str, grams: int) -> None:
    """Add (or, negative, take back) `grams` of `r` to the usage of every day it covers."""
    sign = -1 if grams < 0 else 1
    for day, share in day_shares(r, abs(grams)):
        claims.adjust(r.holder, group, r.event.behaviour, day, sign * share)


def _givable(
    r: StoredReduction,
    holdings: Mapping[uuid.UUID, Mapping[str, int]] | None,
    available: Mapping[tuple[str, str], int],
) -> dict[str, int]:
    """What each holder may give back of `r`: its lot (or, without lineage, the event
    holder's class), never more than its balance of the class left in this plan."""
    lots = dict(holdings.get(r.id, {})) if holdings is not None else {r.holder: r.live_grams}
    if holdings is None:
        lots[r.holder] = available.get((r.holder, r.asset), 0)
    return {h: min(g, max(0, available.get((h, r.asset), 0))) for h, g in lots.items()}


def plan_requantify(
    reductions: Sequence[StoredReduction],
    new: Methodology,
    catalogue: Catalogue,
    claims: ClaimBook,
    balances: Mapping[tuple[str, str], int],
    entry_id: uuid.UUID,
    now: datetime,
    holdings: Mapping[uuid.UUID, Mapping[str, int]] | None = None,
) -> RequantifyPlan:
    """Corrections for `reductions` (quantified with an older version of `new.code`).
    `claims` holds the day's usage of the reductions' holders as it stands (these included).
    `holdings`, per reduction, is what each holder of it may give back (its lineage)."""
    corrections: list[Correction] = []
    skipped: list[tuple[uuid.UUID, Rejection]] = []
    available = dict(balances)
    postings: list[Posting] = []
    regions: dict[tuple[str, str, date], int] = defaultdict(int)
    group = catalogue.groups[new.group]
    ordered = sorted(reductions, key=lambda r: (r.event.started_at, r.id))
    # Caps are re-run in time order with the new values: first take every reduction being
    # recomputed out of the usage of the days it covers, then add each back, capped.
    for r in ordered:
        _count(claims, r, group.code, -r.live_grams)
    for r in ordered:
        q = quantify(new, r.event, r.day, catalogue)
        if isinstance(q, Rejection):
            skipped.append((r.id, q))
            _count(claims, r, group.code, r.live_grams)
            continue
        target = q.grams
        days = days_covered(r.event.started_at, r.event.ended_at)
        room = claims.room(r.holder, group, r.event.behaviour, r.day, new.daily_cap_grams, days)
        capped = room is not None and target > room
        if capped and room is not None:
            target = room
        _count(claims, r, group.code, target)
        delta = target - r.live_grams
        taken = shortfall = 0
        if delta > 0:
            postings += [
                Posting(r.holder, r.asset, delta, r.id),
                Posting(issuance_account(new.code), r.asset, -delta, r.id),
            ]
        elif delta < 0:
            lots = _givable(r, holdings, available)
            takes, shortfall = take_back(-delta, r.holder, lots)
            taken = -delta - shortfall
            postings.append(Posting(issuance_account(new.code), r.asset, -delta, r.id))
            for who, grams in takes:
                available[(who, r.asset)] = max(0, available.get((who, r.asset), 0)) - grams
                postings.append(Posting(who, r.asset, -grams, r.id))
            if shortfall:
                postings.append(Posting(buffer_account(new.code), r.asset, -shortfall, r.id))
        if delta:
            regions[(r.event.region, group.code, r.day)] += delta
        corrections.append(
            Correction(
                r.id, r.holder, r.asset, r.event.region, group.code, r.day, r.live_grams,
                target, taken, shortfall, q, capped,
            )
        )  # fmt: skip
    entry = (
        Entry(entry_id, "correction", now, tuple(postings), memo=f"requantify {new.key}")
        if postings
        else None
    )
    return RequantifyPlan(corrections, skipped, entry, {k: v for k, v in regions.items() if v})
