"""Points programmes: a city's or a campaign's points scheme (绿芽积分, a Winter-Olympics
carbon ledger) as versioned, immutable data (a file, like a methodology).

A programme names its region and time window, the behaviours it rewards with a points rule
each (points are not always proportional to grams: Luzhou gives 10 points for a bus ride of
80 g), a daily cap of points per person, its partner merchants and how long points last.
Points are an asset of the double-entry ledger (`points:{code}`), issued from the programme's
issuance account.

Invariants kept here: a rule gives a non-negative whole number of points (rounded down); a
version is identified by code@version and its content hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class PointsBasis(StrEnum):
    OCCURRENCE = "occurrence"  # `points` for each credited behaviour
    KG = "kg"  # `points` per kg CO2e credited


@dataclass(frozen=True, slots=True)
class PointsRule:
    behaviour: str
    points: int
    basis: PointsBasis
    source: str  # where the figure comes from, or "operator-set"

    def points_for(self, grams: int) -> int:
        if grams <= 0:
            return 0
        if self.basis is PointsBasis.OCCURRENCE:
            return self.points
        return grams * self.points // 1000


@dataclass(frozen=True, slots=True)
class Programme:
    code: str
    version: int
    name: str
    region: str  # region code (e.g. 510500, Luzhou)
    valid_from: date
    valid_to: date | None
    rules: tuple[PointsRule, ...]
    daily_cap_points: int | None
    merchants: tuple[str, ...]  # partner merchants (enterprise names)
    expiry_days: int | None  # points expire this many days after they are earned
    content_hash: str = ""

    @property
    def ref(self) -> str:
        return f"{self.code}@{self.version}"

    def rule_for(self, behaviour: str) -> PointsRule | None:
        return next((r for r in self.rules if r.behaviour == behaviour), None)

    def active_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)
