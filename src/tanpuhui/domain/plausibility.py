"""Plausibility: reject claims that cannot be true before they are credited.

Checks, in order: the interval is ordered; the behaviour did not end in the future (beyond a
clock-skew allowance); it is not older than the methodology's claim window; quantities and
duration lie within the methodology's bounds (and its bounds per day of the period covered,
scaled by the days, caps.py); the implied speed is possible for the mode.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from tanpuhui.domain.caps import days_covered
from tanpuhui.domain.events import BehaviourEvent, Reason, Rejection
from tanpuhui.domain.methodology import Methodology

CLOCK_SKEW = timedelta(minutes=5)


@lru_cache(maxsize=1024)
def _window(now: datetime, claim_window_days: int) -> tuple[datetime, datetime]:
    """The earliest start and latest end a claim may have at `now` (one batch shares `now`)."""
    return now - timedelta(days=claim_window_days), now + CLOCK_SKEW


def check_plausibility(m: Methodology, event: BehaviourEvent, now: datetime) -> Rejection | None:
    started_at, ended_at = event.started_at, event.ended_at
    if ended_at < started_at:
        return Rejection(Reason.ENDS_BEFORE_START, "ended_at is before started_at", "ended_at")
    earliest, latest = _window(now, m.claim_window_days)
    if ended_at > latest:
        return Rejection(Reason.IN_FUTURE, "the behaviour ends in the future", "ended_at")
    if started_at < earliest:
        return Rejection(
            Reason.OUTSIDE_CLAIM_WINDOW,
            f"{m.key} accepts claims up to {m.claim_window_days} days old",
            "started_at",
        )
    bounds = m.plausibility
    for key, value in event.quantities.items():
        limit = bounds.quantities.get(key)
        if limit is not None and not limit.contains(value):
            return Rejection(
                Reason.OUT_OF_BOUNDS,
                f"quantity.{key}={value} is outside [{limit.minimum}, {limit.maximum}] for {m.key}",
                f"quantity.{key}",
            )
    per_day = _per_day_problem(m, event)
    if per_day is not None:
        return per_day
    seconds = (ended_at - started_at).total_seconds()
    duration = Decimal(int(seconds))
    if not bounds.duration_s.contains(duration):
        return Rejection(
            Reason.OUT_OF_BOUNDS,
            f"duration {duration}s is outside [{bounds.duration_s.minimum}, "
            f"{bounds.duration_s.maximum}] s for {m.key}",
            "ended_at",
        )
    distance = event.quantities.get("distance_km")
    if bounds.max_speed_kmh is not None and distance is not None and distance > 0:
        if duration <= 0:
            return Rejection(Reason.IMPLAUSIBLE_SPEED, "a distance covered in no time", "ended_at")
        speed = distance * 3600 / Decimal(str(seconds))
        if speed > bounds.max_speed_kmh:
            return Rejection(
                Reason.IMPLAUSIBLE_SPEED,
                f"{speed:.1f} km/h exceeds {bounds.max_speed_kmh} km/h for {m.key}",
                "quantity.distance_km",
            )
    return None


def _per_day_problem(m: Methodology, event: BehaviourEvent) -> Rejection | None:
    """Bounds per day of the period the event covers, scaled by its days (caps.py)."""
    per_day = m.plausibility.quantities_per_day
    if not per_day:
        return None
    days = days_covered(event.started_at, event.ended_at)
    for key, value in event.quantities.items():
        limit = per_day.get(key)
        if limit is None:
            continue
        low = None if limit.minimum is None else limit.minimum * days
        high = None if limit.maximum is None else limit.maximum * days
        if (low is not None and value < low) or (high is not None and value > high):
            return Rejection(
                Reason.OUT_OF_BOUNDS,
                f"quantity.{key}={value} is outside [{low}, {high}] for {days} day(s) of"
                f" {m.key} ([{limit.minimum}, {limit.maximum}] per day)",
                f"quantity.{key}",
            )
    return None
