"""Builders of domain values for unit tests: validated events, ids, claims, small catalogues.

Raw events come from `tests.builders`; these turn them into the typed values the pure domain
functions take, with readable defaults.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

from tanpuhui.adapters.catalogue_files import load_regions
from tanpuhui.domain.claims import Claim
from tanpuhui.domain.events import BehaviourEvent, parse_event
from tanpuhui.domain.ids import uuid7
from tanpuhui.domain.methodology import (
    Bounds,
    Catalogue,
    Confidence,
    Factor,
    Group,
    Methodology,
    Plausibility,
)
from tests.builders import event
from tests.conftest import CST, NOW

#: Milliseconds of `NOW`: ids made by `id_source` are time-ordered from there.
NOW_MS = int(NOW.timestamp() * 1000)


def parsed(raw: dict[str, Any] | None = None, **kw: Any) -> BehaviourEvent:
    """A validated event from a raw one (by default `tests.builders.event(**kw)`)."""
    result = parse_event(event(**kw) if raw is None else raw, load_regions())
    assert isinstance(result, BehaviourEvent), result
    return result


def id_source(start_ms: int = NOW_MS) -> Callable[[], uuid.UUID]:
    """A deterministic, strictly increasing id source (one millisecond per id)."""
    ticks = count(start_ms)
    return lambda: uuid7(next(ticks), 0)


def at(hour: int, minute: int = 0, second: int = 0, day: date | None = None) -> datetime:
    """A moment in Beijing time, by default on the local day of `NOW`."""
    d = day or NOW.astimezone(CST).date()
    return datetime(d.year, d.month, d.day, hour, minute, second, tzinfo=CST)


def claim(
    start: datetime,
    minutes: float = 12,
    *,
    grams: int = 100,
    group: str = "mobility",
    behaviour: str = "bike_share_ride",
    claim_id: uuid.UUID | None = None,
) -> Claim:
    """An active credited claim of `grams` over [start, start + minutes)."""
    return Claim(
        claim_id or uuid.uuid4(),
        group,
        behaviour,
        start,
        start + timedelta(minutes=minutes),
        start.astimezone(CST).date(),
        grams,
    )


def factor(
    value: str = "10",
    unit: str = "g/km",
    *,
    role: str = "er",
    factor_id: str | None = None,
    region: str | None = None,
    valid_from: date | None = None,
    valid_to: date | None = None,
) -> Factor:
    return Factor(
        id=factor_id or f"f_{role}_{region or 'cn'}_{valid_from or 'any'}",
        role=role,
        value=Decimal(value),
        unit=unit,
        source="unit-test factor",
        confidence=Confidence.OPERATOR_SET,
        region=region,
        valid_from=valid_from,
        valid_to=valid_to,
    )


def methodology(
    code: str = "test.method",
    version: int = 1,
    *,
    model: str = "distance",
    behaviours: Iterable[str] = ("bike_share_ride",),
    group: str = "mobility",
    factors: Iterable[Factor] | None = None,
    region: str | None = None,
    effective_from: date = date(2020, 1, 1),
    effective_to: date | None = None,
    daily_cap_grams: int | None = None,
    claim_window_days: int = 30,
    max_speed_kmh: str | None = None,
    duration_s: tuple[str | None, str | None] = (None, None),
    quantities: dict[str, tuple[str | None, str | None]] | None = None,
    parameters: dict[str, Decimal | str] | None = None,
) -> Methodology:
    """A hand-built methodology version (not from a file)."""

    def bounds(pair: tuple[str | None, str | None]) -> Bounds:
        low, high = pair
        return Bounds(
            None if low is None else Decimal(low), None if high is None else Decimal(high)
        )

    return Methodology(
        code=code,
        version=version,
        title=f"{code} for tests",
        model=model,
        behaviours=tuple(behaviours),
        group=group,
        factors=tuple(factors if factors is not None else (factor(),)),
        content_hash=f"sha256:test-{code}-{version}",
        parameters=dict(parameters or {}),
        region=region,
        effective_from=effective_from,
        effective_to=effective_to,
        plausibility=Plausibility(
            quantities={k: bounds(v) for k, v in (quantities or {}).items()},
            duration_s=bounds(duration_s),
            max_speed_kmh=None if max_speed_kmh is None else Decimal(max_speed_kmh),
        ),
        daily_cap_grams=daily_cap_grams,
        claim_window_days=claim_window_days,
    )


def with_methodology_cap(catalogue: Catalogue, key: str, cap: int) -> Catalogue:
    """The catalogue with version `key` given a daily cap of `cap` grams per person."""
    return Catalogue(
        [replace(m, daily_cap_grams=cap) if m.key == key else m for m in catalogue.methodologies],
        catalogue.groups.values(),
    )


MOBILITY = Group("mobility", "Mobility", exclusive=True, clock_skew_s=120)
