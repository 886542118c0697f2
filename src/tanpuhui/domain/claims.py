"""The claim book: who already holds which behaviour when, and how much of today's caps is used.

Used by intake and by binding (when a subject's pending reductions move to a person), so both
apply the same rules: within an exclusive group, two claims of one holder may not be the same
act (dedup.py: overlapping or within the group's clock-skew tolerance; the earlier claim
wins); per holder and local day, credited grams stay within the group's cap and the
methodology's own cap, per day of the period a claim covers (caps.py).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import NamedTuple

from tanpuhui.domain.caps import days_covered, spread
from tanpuhui.domain.dedup import same_act
from tanpuhui.domain.methodology import Catalogue, Group


class Claim(NamedTuple):
    """An active credited reduction that later claims are compared with."""

    id: uuid.UUID
    group: str
    behaviour: str
    started_at: datetime
    ended_at: datetime
    day: date
    grams: int
    #: the meter whose period this is (`meter:<number>`, households.py), else None: in an
    #: exclusive group two claims of different meters are not the same act
    meter: str | None = None


def other_meters(a: str | None, b: str | None) -> bool:
    """Two claims that name different meters are two acts (two homes, or a home and its
    rooftop): a claim without a meter may be any of the holder's meters, so it is compared
    with all of them (conservative)."""
    return a is not None and b is not None and a != b


#: Scopes end before `until`: one microsecond more keeps a claim starting exactly at the end.
_INSTANT = timedelta(microseconds=1)


class ClaimScope(NamedTuple):
    """Stored claims of one group that a decision needs: on `days`, or starting in
    [since, until)."""

    group: str
    days: list[date]
    since: datetime
    until: datetime


class Claimed(NamedTuple):
    """What a new claim is about, for choosing the stored claims it must be compared with."""

    group: str
    day: date
    started_at: datetime
    ended_at: datetime


def claim_scopes(new: Iterable[Claimed], catalogue: Catalogue) -> list[ClaimScope]:
    """The one rule for which stored claims can matter to new ones, per group: those on the
    same local days (caps) and those that start late enough to overlap (exclusivity, and the
    caps of the days a longer claim covers)."""
    by_group: dict[str, list[Claimed]] = defaultdict(list)
    for c in new:
        by_group[c.group].append(c)
    scopes = []
    for code, members in sorted(by_group.items()):
        days = sorted({c.day for c in members})
        group = catalogue.groups.get(code)
        skew = timedelta(
            seconds=max(
                group.clock_skew_s if group is not None else 0,
                catalogue.frequency_window_s.get(code, 0),
            )
        )
        reach = timedelta(seconds=catalogue.max_duration_s.get(code, 86_400))
        scopes.append(
            ClaimScope(
                code,
                days,
                min(c.started_at for c in members) - reach - skew,
                max(c.ended_at for c in members) + skew + _INSTANT,
            )
        )
    return scopes


class ClaimBook:
    def __init__(
        self,
        stored: Mapping[str, Sequence[Claim]],
        evidence: Mapping[bytes, uuid.UUID] | None = None,
        evidence_holders: Mapping[bytes, str] | None = None,
    ) -> None:
        self.by_holder: dict[str, list[Claim]] = {h: list(c) for h, c in stored.items()}
        self.evidence: dict[bytes, uuid.UUID] = dict(evidence or {})
        self.evidence_holder: dict[bytes, str] = dict(evidence_holders or {})
        self.group_day: dict[tuple[str, str, date], int] = defaultdict(int)
        self.behaviour_day: dict[tuple[str, str, date], int] = defaultdict(int)
        for holder, claims in self.by_holder.items():
            for c in claims:
                self._count(holder, c)

    def _count(self, holder: str, c: Claim) -> None:
        """Count the claim against the caps of every day it covers (caps.py)."""
        days = days_covered(c.started_at, c.ended_at)
        for day, grams in spread(c.grams, c.day, days):
            self.group_day[(holder, c.group, day)] += grams
            self.behaviour_day[(holder, c.behaviour, day)] += grams

    def overlapping(
        self,
        holder: str,
        group: Group,
        started_at: datetime,
        ended_at: datetime,
        meter: str | None = None,
    ) -> Claim | None:
        """The first claim of `holder` that is the same act as this interval (dedup.py), if
        the group is exclusive; a claim of another meter than `meter` never is."""
        if not group.exclusive:
            return None
        code, skew = group.code, timedelta(seconds=group.clock_skew_s)
        since, until = started_at - skew, ended_at + skew
        for claim in self.by_holder.get(holder, ()):
            if (
                claim.group == code
                # claims farther apart than the tolerance never match (settles most claims)
                and claim.started_at <= until
                and since <= claim.ended_at
                and same_act(claim.started_at, claim.ended_at, started_at, ended_at, skew)
                and not other_meters(claim.meter, meter)
            ):
                return claim
        return None

    def largest_on(self, holder: str, group: str, day: date) -> Claim | None:
        """The holder's largest claim of `group` on `day` (the earliest among equals)."""
        best: Claim | None = None
        for c in self.by_holder.get(holder, ()):
            if c.group != group or c.day != day:
                continue
            if best is None or (c.grams, best.started_at, best.id) > (
                best.grams,
                c.started_at,
                c.id,
            ):
                best = c
        return best

    def frequent(
        self, holder: str, behaviour: str, started_at: datetime, window: timedelta
    ) -> list[Claim]:
        """The holder's claims of `behaviour` starting less than `window` from `started_at`."""
        return [
            c
            for c in self.by_holder.get(holder, ())
            if c.behaviour == behaviour and abs(c.started_at - started_at) < window
        ]

    def room(
        self,
        holder: str,
        group: Group,
        behaviour: str,
        day: date,
        behaviour_cap: int | None,
        days: int = 1,
    ) -> int | None:
        """Grams the group and behaviour caps still allow a claim covering `days` days from
        `day` (caps.py: `days` × the smallest room on those days); None = uncapped."""
        rooms = []
        for d in [day] if days == 1 else [day + timedelta(days=n) for n in range(days)]:
            if group.daily_cap_grams is not None:
                rooms.append(group.daily_cap_grams - self.group_day[(holder, group.code, d)])
            if behaviour_cap is not None:
                rooms.append(behaviour_cap - self.behaviour_day[(holder, behaviour, d)])
        return max(0, min(rooms)) * days if rooms else None

    def adjust(self, holder: str, group: str, behaviour: str, day: date, grams: int) -> None:
        """Account for a claim's grams changing by `grams` (a re-quantification)."""
        self.group_day[(holder, group, day)] += grams
        self.behaviour_day[(holder, behaviour, day)] += grams

    def add(self, holder: str, claim: Claim, fingerprint: bytes | None = None) -> None:
        self.by_holder.setdefault(holder, []).append(claim)
        self._count(holder, claim)
        if fingerprint is not None:
            self.evidence[fingerprint] = claim.id
            self.evidence_holder[fingerprint] = holder
