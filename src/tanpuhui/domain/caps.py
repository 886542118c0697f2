"""Caps and bounds per day of the period a claim covers.

A meter reading of a 30-day period is 30 days of saving; one day may not save a month's. So
every daily cap (group and methodology, groups.yaml and `daily_cap_grams`) is a cap per day of
the period a claim covers, and a methodology's `quantities_per_day` bounds scale the same way:

    days covered  D = the claim's duration in whole days, rounded up (at least 1)
    a claim counts ceil(grams / D) against each of its D local days, from its start day on
    it may credit at most D × the smallest room left on those days

Trips, meals and step counts cover one day (D = 1), so for them this is the plain daily cap.
The rounding up is conservative: a spread claim never uses less of a day than its share.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

DAY = timedelta(days=1)
_ZERO = timedelta(0)


def days_covered(started_at: datetime, ended_at: datetime) -> int:
    """How many days of caps a claim of [started_at, ended_at] uses (at least one)."""
    duration = ended_at - started_at
    if duration <= DAY:
        return 1
    whole, rest = divmod(duration, DAY)
    return whole + (1 if rest > _ZERO else 0)


def spread(grams: int, day: date, days: int) -> Iterator[tuple[date, int]]:
    """The grams a claim of `days` days starting on local `day` counts on each of them."""
    if days == 1:
        yield day, grams
        return
    share = -(-grams // days)
    for n in range(days):
        yield day + timedelta(days=n), share
