"""Regional aggregates without personal data: rollup cells, periods, scopes and suppression.

A *cell* is one combination of the dimensions a government may break reductions down by
(region as recorded, behaviour, behaviour group, scene enterprise, methodology code, quality
tier). Every change to a credited reduction becomes a `Change` of its cell on its day; the
rollups add it to the cell's day, month and year (`periods_of`), each partial sum in the
writer's own stripe, so no rollup row is one that every writer locks. Active persons are
counted from first-seen rows (`activity_rows`): one per (person, period, cell). The coarse
rollups add months and years per region level (`level_deltas`, `level_activity`).

Invariants kept here:
- a change lands in exactly three periods (its day, month and year), so a query over one
  period reads rows of that period only and the three levels always agree;
- `suppress` never returns a figure of a cell with fewer than k persons, nor a set of figures
  from which such a cell follows by subtraction from its total (complementary suppression);
- a filter that cannot be evaluated raises (a stable code), never answers empty.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from typing import NamedTuple

from tanpuhui.domain.checks import Violation
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.shards import SHARD_COUNT, shard_of_account

#: The default k of k-anonymity: a cell with fewer active persons is not shown.
DEFAULT_MIN_PERSONS = 10

#: What a breakdown may be by (the `--by` vocabulary).
BREAKDOWNS = ("region", "group", "behaviour", "enterprise", "methodology", "quality")

_PERIOD = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")


class Cell(NamedTuple):
    region: str  # as recorded; changed codes are mapped on read (regions.py CodeChanges)
    behaviour: str
    group: str
    enterprise_id: uuid.UUID
    methodology: str  # the code, without its version
    quality: str


class Change(NamedTuple):
    """Grams and reductions added to (or, negative, taken from) one cell on one day."""

    holder: str
    cell: Cell
    day: date
    grams: int
    events: int


class Period(NamedTuple):
    text: str  # 2026 | 2026-11 | 2026-11-03
    kind: str  # year | month | day


class Counts(NamedTuple):
    grams: int
    events: int
    persons: int


class Figures(NamedTuple):
    """A cell as shown: None where suppressed."""

    grams: int | None
    events: int | None
    persons: int | None


SUPPRESSED = Figures(None, None, None)


def periods_of(day: date) -> tuple[str, str, str]:
    """The day, month and year a change on `day` is added to."""
    text = day.isoformat()
    return text, text[:7], text[:4]


def parse_period(text: str) -> Period:
    """A year, month or day; anything else is `invalid_period`."""
    if not _PERIOD.fullmatch(text):
        raise InvalidInputError(
            f"period {text!r} is not a year (2026), a month (2026-11) or a day (2026-11-03)",
            code="invalid_period",
            details={"period": text},
        )
    parts = text.split("-")
    try:
        date(
            int(parts[0]),
            int(parts[1]) if len(parts) > 1 else 1,
            int(parts[2]) if len(parts) > 2 else 1,
        )
    except ValueError:
        raise InvalidInputError(
            f"period {text!r} is not a calendar date",
            code="invalid_period",
            details={"period": text},
        ) from None
    return Period(text, ("year", "month", "day")[len(parts) - 1])


def check_breakdown(by: str | None) -> str | None:
    if by is not None and by not in BREAKDOWNS:
        raise InvalidInputError(
            f"cannot break down by {by!r}: one of {', '.join(BREAKDOWNS)}",
            code="invalid_breakdown",
            details={"by": by, "allowed": list(BREAKDOWNS)},
        )
    return by


def rollup_deltas(changes: Iterable[Change]) -> dict[tuple[str, Cell], tuple[int, int]]:
    """What the changes add to each (period, cell): (grams, events), zero sums dropped. The
    writer adds them to the rows of its stripe (no holder in the key: a batch's reductions
    of one cell become one row, whoever holds them)."""
    sums: dict[tuple[str, Cell], list[int]] = defaultdict(lambda: [0, 0])
    for ch in changes:
        for period in periods_of(ch.day):
            acc = sums[(period, ch.cell)]
            acc[0] += ch.grams
            acc[1] += ch.events
    return {key: (g, e) for key, (g, e) in sums.items() if g or e}


#: The region levels of the coarse rollups: 0 the nation, 1 a province, 2 a city, 3 a county
#: (the code as recorded). Levels 0-2 have rows for all groups and for each group; a county
#: has rows for all groups only (a county by group reads its few fine rows), and its persons
#: are counted by the first-seen rows per region that the fine reads use already.
NATION, PROVINCE, CITY, COUNTY = 0, 1, 2, 3


def level_codes(region: str) -> tuple[tuple[int, str], ...]:
    """The (level, code) a reduction recorded in `region` adds to: the nation, its province
    and its city by their digits (as `parent_code` and the by-region breakdowns cut them),
    and the code itself."""
    return (
        (NATION, ""),
        (PROVINCE, region[:2] + "0000"),
        (CITY, region[:4] + "00"),
        (COUNTY, region),
    )


def level_groups(level: int, group: str) -> tuple[str, ...]:
    """The group codes a reduction of `group` adds to at `level`: "" (all groups) always,
    its own group above a county."""
    return ("",) if level == COUNTY else ("", group)


def level_of_bounds(bounds: tuple[str, str] | None) -> tuple[int, str]:
    """The (level, code) of a query scope given as `scope_bounds`."""
    if bounds is None:
        return NATION, ""
    lo, hi = bounds
    if lo == hi:
        return COUNTY, lo
    return (PROVINCE, lo) if lo.endswith("0000") and hi.endswith("9999") else (CITY, lo)


def _level_keys(change: Change, levels: int = COUNTY) -> Iterator[tuple[str, int, str, str]]:
    _, month, year = periods_of(change.day)
    for level, code in level_codes(change.cell.region):
        if level > levels:
            break
        for period in (month, year):
            for group in level_groups(level, change.cell.group):
                yield period, level, code, group


def level_deltas(changes: Iterable[Change]) -> dict[tuple[str, int, str, str], tuple[int, int]]:
    """What the changes add to the coarse rollups: (grams, events) per (period, level, code,
    group or "" for all groups), months and years only; zero sums dropped."""
    sums: dict[tuple[str, int, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for ch in changes:
        for key in _level_keys(ch):
            acc = sums[key]
            acc[0] += ch.grams
            acc[1] += ch.events
    return {key: (g, e) for key, (g, e) in sums.items() if g or e}


def level_activity(
    changes: Iterable[Change], shards: int = SHARD_COUNT
) -> set[tuple[int, str, str, int, str, str]]:
    """First-seen rows (shard, person, period, level, code, group) of the coarse rollups up
    to a city, of persons credited by the changes (as `activity_rows`; a county's are the
    first-seen rows per region of `activity_rows`)."""
    rows: set[tuple[int, str, str, int, str, str]] = set()
    shard_of: dict[str, int] = {}
    for ch in changes:
        if ch.events > 0 and ch.holder.startswith("person:"):
            shard = shard_of.get(ch.holder)
            if shard is None:
                shard = shard_of[ch.holder] = shard_of_account(ch.holder, shards)
            rows.update((shard, ch.holder, *key) for key in _level_keys(ch, CITY))
    return rows


def activity_rows(
    changes: Iterable[Change], shards: int = SHARD_COUNT
) -> set[tuple[int, str, str, Cell]]:
    """First-seen rows (shard, person account, period, cell) of persons credited by the
    changes. Pending subjects are not persons yet: they count once bound (binding adds their
    rows). A row stays when its grams are later reversed: a person was active in the cell."""
    rows: set[tuple[int, str, str, Cell]] = set()
    for ch in changes:
        if ch.events > 0 and ch.holder.startswith("person:"):
            shard = shard_of_account(ch.holder, shards)
            rows.update((shard, ch.holder, p, ch.cell) for p in periods_of(ch.day))
    return rows


def suppress(
    total: Counts, rows: Sequence[tuple[str, Counts]], min_persons: int
) -> tuple[Figures, list[tuple[str, Figures]]]:
    """The total and the breakdown rows as shown under k-suppression.

    Primary: a cell with fewer than `min_persons` persons is suppressed. Complementary: if the
    shown rows and the total would let a reader subtract their way to exactly one suppressed
    row, the smallest other row is suppressed too, so only a sum of two or more suppressed
    cells (with at least k persons between them, or itself suppressed) can be derived."""
    if total.persons < min_persons:
        return SUPPRESSED, [(key, SUPPRESSED) for key, _ in rows]
    hidden = {key for key, c in rows if c.persons < min_persons}
    if len(hidden) == 1:
        shown = sorted(
            ((c.persons, c.grams, key) for key, c in rows if key not in hidden),
        )
        if shown:
            hidden.add(shown[0][2])
    figures = [
        (key, SUPPRESSED if key in hidden else Figures(c.grams, c.events, c.persons))
        for key, c in rows
    ]
    return Figures(total.grams, total.events, total.persons), figures


def scope_bounds(scope: str | None) -> tuple[str, str] | None:
    """The range of six-digit codes inside `scope` (None: the nation, no bound)."""
    if scope is None:
        return None
    if scope.endswith("0000"):
        return scope[:2] + "0000", scope[:2] + "9999"
    if scope.endswith("00"):
        return scope[:4] + "00", scope[:4] + "99"
    return scope, scope


def child_level(scope: str | None) -> int:
    """How many leading digits name a child of `scope` in a by-region breakdown."""
    if scope is None:
        return 2
    if scope.endswith("0000"):
        return 4
    return 6


def parent_code(code: str) -> str | None:
    """The region code one level up (a prefecture's province; a county's prefecture, by its
    digits, even where the list has none: breakdowns group by digits); None above provinces."""
    if code.endswith("0000"):
        return None
    if code.endswith("00"):
        return code[:2] + "0000"
    return code[:4] + "00"


def child_code(code: str, digits: int) -> str:
    return code[:digits].ljust(6, "0")


def map_codes(codes: Mapping[str, str], code: str) -> str:
    """The current code of `code` through the mapping of changed codes (old → new)."""
    seen = 0
    while code in codes and seen < 16:  # chains (renamed twice) resolve; a cycle stops
        code = codes[code]
        seen += 1
    return code


def check_rollups(
    reductions: Mapping[tuple[str, str, str], int], rolled: Mapping[tuple[str, str, str], int]
) -> Iterator[Violation]:
    """Invariant 7 for the rollups: per (region, behaviour, period) the rolled-up grams equal
    the credited grams of the reductions, for every day, month and year (zero cells absent).
    `reductions` are by day; their months and years are summed here."""
    expected: dict[tuple[str, str, str], int] = defaultdict(int)
    for (region, behaviour, day), grams in reductions.items():
        for period in (day, day[:7], day[:4]):
            expected[(region, behaviour, period)] += grams
    for key in sorted(set(expected) | set(rolled)):
        want, got = expected.get(key, 0), rolled.get(key, 0)
        if want != got:
            region, behaviour, period = key
            yield Violation(
                7,
                "region_rollup_mismatch",
                f"{region}/{behaviour}/{period}",
                f"reductions credit {want} g, the regional rollups say {got} g",
            )
