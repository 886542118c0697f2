"""Points: awards when reductions are credited, daily caps, expiry and redemption
(DESIGN.md §5: points per programme are an asset of the same double-entry ledger).

A credited reduction earns the points of every active programme whose region contains the
behaviour's region and which has a rule for its behaviour (`Programme.rule_for`); a person's
points of one programme on one day never exceed the programme's daily cap (the excess is not
awarded). Awards are one entry: the programme's issuance account pays the person.

Points expire `expiry_days` after they are earned, oldest first: spending (redemption) and
expiry also consume the oldest, so what has expired by a cut-off is the points earned before
it minus everything already consumed (`expired_points`). Expiry is an entry too.

Invariants kept here: an award, redemption and expiry entry balances per asset; no day's
awards exceed the cap, given what the day already holds.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from tanpuhui.domain.ledger import Entry, Posting, points_asset
from tanpuhui.domain.programmes import PointsRule, Programme


def points_issuance_account(programme: str) -> str:
    """The account a programme's points are issued from (negative, as issuance is)."""
    return f"issuance:points:{programme}"


def region_within(region: str, programme_region: str) -> bool:
    """Whether a 6-digit region code lies in a programme's region (nation 000000, a province
    xx0000, a city xxxx00 or a county)."""
    scope = programme_region.rstrip("0")
    if len(scope) % 2:
        scope += "0"
    return region.startswith(scope)


class Credit(NamedTuple):
    """A reduction credited to a person (at intake, or moved to them at binding)."""

    reduction_id: uuid.UUID
    holder: str
    behaviour: str
    region: str
    day: date
    grams: int


class Award(NamedTuple):
    holder: str
    programme: str
    day: date
    points: int
    reduction_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class AwardPlan:
    awards: list[Award]
    entry: Entry | None

    def day_totals(self) -> dict[tuple[str, str, date], int]:
        totals: dict[tuple[str, str, date], int] = defaultdict(int)
        for a in self.awards:
            totals[(a.holder, a.programme, a.day)] += a.points
        return dict(totals)


def rules_by_behaviour(
    programmes: Sequence[Programme],
) -> dict[str, list[tuple[Programme, PointsRule]]]:
    """Each behaviour's (programme, rule) pairs: the only programmes a credit can earn in."""
    found: dict[str, list[tuple[Programme, PointsRule]]] = defaultdict(list)
    for p in programmes:
        for rule in p.rules:
            found[rule.behaviour].append((p, rule))
    return dict(found)


def plan_awards(
    credits: Iterable[Credit],
    programmes: Sequence[Programme],
    earned: Mapping[tuple[str, str, date], int],
    entry_id: uuid.UUID,
    now: datetime,
) -> AwardPlan:
    """The points `credits` earn, capped per (person, programme, day) given `earned` (what
    each day holds already), as one entry."""
    so_far: dict[tuple[str, str, date], int] = defaultdict(int, earned)
    awards: list[Award] = []
    rules = rules_by_behaviour(programmes)
    for c in credits:
        for p, rule in rules.get(c.behaviour, ()):
            if not p.active_on(c.day) or not region_within(c.region, p.region):
                continue
            points = rule.points_for(c.grams)
            key = (c.holder, p.code, c.day)
            if p.daily_cap_points is not None:
                points = min(points, p.daily_cap_points - so_far[key])
            if points > 0:
                so_far[key] += points
                awards.append(Award(c.holder, p.code, c.day, points, c.reduction_id))
    return AwardPlan(awards, award_entry(entry_id, now, awards))


def award_entry(entry_id: uuid.UUID, now: datetime, awards: Sequence[Award]) -> Entry | None:
    per: dict[tuple[str, str], int] = defaultdict(int)
    for a in awards:
        per[(a.holder, a.programme)] += a.points
    if not per:
        return None
    lines: list[Posting] = []
    issued: dict[str, int] = defaultdict(int)
    for (holder, programme), points in sorted(per.items()):
        lines.append(Posting(holder, points_asset(programme), points))
        issued[programme] += points
    for programme, points in sorted(issued.items()):
        lines.append(Posting(points_issuance_account(programme), points_asset(programme), -points))
    return Entry(entry_id, "points_award", now, tuple(lines), "points for credited reductions")


def expired_points(earned_before_cutoff: int, earned_total: int, balance: int) -> int:
    """Points that have expired and are still held: the oldest are consumed first, so it is
    what was earned before the cut-off minus everything consumed so far (earned − held)."""
    consumed = earned_total - balance
    return max(0, min(balance, earned_before_cutoff - consumed))


def transfer_entry(
    entry_id: uuid.UUID,
    now: datetime,
    kind: str,
    source: str,
    target: str,
    programme: str,
    points: int,
    memo: str,
) -> Entry:
    """Points moved from `source` to `target` (a redemption, an expiry)."""
    asset = points_asset(programme)
    return Entry(
        entry_id, kind, now, (Posting(source, asset, -points), Posting(target, asset, points)), memo
    )


@dataclass(frozen=True, slots=True)
class Redemption:
    """Points a person spent at a partner merchant."""

    id: uuid.UUID
    merchant_id: uuid.UUID
    request_id: str
    person_id: uuid.UUID
    programme: str
    points: int
    entry_id: uuid.UUID
    created_at: datetime
