"""Builders with readable defaults for events and batches (tests only)."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count
from typing import Any

from tests.conftest import CST, NOW

_ids = count(1)


def event(
    *,
    event_id: str | None = None,
    subject: str = "u-1",
    behaviour: str = "bike_share_ride",
    start: datetime | None = None,
    minutes: float = 12,
    region: str = "420106",  # Wuhan, Wuchang district
    quantity: dict[str, Any] | None = None,
    evidence: dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A raw event as an enterprise would send it; by default a 3.42 km Wuhan bike ride that
    ended two hours before `NOW`."""
    start = start or (NOW - timedelta(hours=2, minutes=minutes))
    raw: dict[str, Any] = {
        "event_id": event_id or f"e-{next(_ids)}",
        "subject": subject,
        "behaviour": behaviour,
        "started_at": start.astimezone(CST).isoformat(),
        "ended_at": (start + timedelta(minutes=minutes)).astimezone(CST).isoformat(),
        "quantity": {"distance_km": "3.42"} if quantity is None else quantity,
        "region": region,
    }
    if evidence is not None:
        raw["evidence"] = evidence
    raw.update(overrides)
    return {k: v for k, v in raw.items() if v is not None}


def steps(
    subject: str = "u-1", count: int = 10_000, region: str = "510502", **kw: Any
) -> dict[str, Any]:
    """A day of walking, by default 10,000 steps in Luzhou on the day before `NOW`."""
    day = NOW.astimezone(CST).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    return event(
        subject=subject,
        behaviour="walking_steps",
        start=day,
        minutes=24 * 60 - 1,
        region=region,
        quantity={"steps": str(count)},
        **kw,
    )
