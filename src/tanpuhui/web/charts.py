"""Charts drawn on the server as SVG geometry (no JavaScript, no chart library): the template
turns these bars into `<rect>`s with their labels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

WIDTH, HEIGHT, TOP = 320, 140, 12  # the SVG's viewBox; bars stand on y = HEIGHT - 20
MAX_BARS = 12


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the month, 2026-11
    grams: int


def month_bars(series: list[tuple[date, int]]) -> list[Bar]:
    """The last `MAX_BARS` months as bars scaled to the largest (integer grams in, no floats
    stored: only the geometry is fractional)."""
    shown = series[-MAX_BARS:]
    if not shown:
        return []
    peak = max(*(g for _, g in shown), 1)
    base = HEIGHT - 20
    slot = WIDTH / len(shown)
    bars = []
    for i, (month, grams) in enumerate(shown):
        h = (base - TOP) * grams / peak
        bars.append(
            Bar(round(i * slot + slot * 0.15, 1), round(base - h, 1), round(slot * 0.7, 1),
                round(h, 1), month.strftime("%Y-%m"), grams)
        )  # fmt: skip
    return bars
