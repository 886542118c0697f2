"""Leaderboards (issue 13 item 3): who credited the most grams for a board's selection.

A board is a selection — a points programme's behaviours, one behaviour, or one behaviour
group — optionally narrowed to a region (any level, by the code prefixes the aggregates use)
and always to a period of local days. Its numbers are what the people's reductions back *now*
(live grams: net of reversals and re-quantification), so a reversed reduction moves the board.

Invariants kept here:
- only people who opted in appear; the others are left out *before* ranking, so ranks are
  among opted-in people only and an opted-out person leaves no gap and no hint in the ranks;
- the order is total and deterministic: more grams first; on equal grams whoever reached the
  total first (the end of their last counted behaviour); then a stable pseudonymous key (the
  SHA-256 of the person's account), never the display name or the person id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from tanpuhui.domain.errors import InvalidInputError

#: The most days one board may cover (a campaign window of a year is fine; longer is a mistake).
MAX_PERIOD_DAYS = 366
MAX_TOP = 1000
DISPLAY_NAME_MAX = 32


class BoardKind(StrEnum):
    PROGRAMME = "programme"
    BEHAVIOUR = "behaviour"
    GROUP = "group"


@dataclass(frozen=True, slots=True)
class BoardSpec:
    """What a board ranks: `kind` and `code` (a programme, behaviour or group code), an optional
    region scope (a GB/T 2260 code), and the local days `first`…`last` inclusive."""

    kind: BoardKind
    code: str
    region: str | None
    first: date
    last: date

    @property
    def title(self) -> str:
        where = f" in {self.region}" if self.region else ""
        return f"{self.kind.value} {self.code}{where}, {self.period}"

    @property
    def period(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}/{self.last}"


@dataclass(frozen=True, slots=True)
class Tally:
    """One person's total on a board: `holder` is the person's account."""

    holder: str
    grams: int
    reached_at: datetime


@dataclass(frozen=True, slots=True)
class Placing:
    rank: int
    holder: str
    display_name: str
    grams: int
    reached_at: datetime


def check_period(first: date, last: date) -> None:
    if last < first:
        raise InvalidInputError(f"the period ends ({last}) before it starts ({first})")
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidInputError(f"a leaderboard covers at most {MAX_PERIOD_DAYS} days")


def check_top(top: int) -> None:
    if not 1 <= top <= MAX_TOP:
        raise InvalidInputError(f"--top must be between 1 and {MAX_TOP}, not {top}")


def scope_prefix(region: str) -> str:
    """The code prefix of the regions inside `region`: a province's first two digits, a
    prefecture's four, a county's whole code (as `regions.scope_contains`)."""
    if not (len(region) == 6 and region.isdigit()):
        raise InvalidInputError(f"a region is a six-digit GB/T 2260 code, not {region!r}")
    if region.endswith("0000"):
        return region[:2]
    if region.endswith("00"):
        return region[:4]
    return region


def check_display_name(name: str) -> str:
    """A display name as stored: trimmed, 1–32 printable characters."""
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > DISPLAY_NAME_MAX or not cleaned.isprintable():
        raise InvalidInputError(
            f"a display name has 1 to {DISPLAY_NAME_MAX} printable characters",
            code="invalid_display_name",
        )
    return cleaned


def pseudonymous_key(holder: str) -> str:
    return hashlib.sha256(holder.encode()).hexdigest()


def rank(tallies: list[Tally], names: dict[str, str], top: int) -> list[Placing]:
    """The first `top` placings among the opted-in (`names`: account → display name)."""
    shown = [t for t in tallies if t.holder in names and t.grams > 0]
    shown.sort(key=lambda t: (-t.grams, t.reached_at, pseudonymous_key(t.holder)))
    return [
        Placing(i, t.holder, names[t.holder], t.grams, t.reached_at)
        for i, t in enumerate(shown[:top], start=1)
    ]
