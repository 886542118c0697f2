"""Settlement: where two claims exclude each other, the result does not depend on arrival order.

A car-free day and that day's metro ride cannot both be credited (the ride is part of the day
the car stayed home); a video conference "avoiding a trip" is not one when the person rode the
metro that day. First-come-first-credited made the result depend on which report arrived
first (4,630 g or 46 g). Instead, a **day claim** — a behaviour a group lists in `day_claims`
(groups.yaml), with the group whose claims it excludes — is held:

    on arrival          → `provisional` (stored, not credited), while its window is open:
                          until `SETTLE_AFTER` after the claim ends
    once the window closes (with the enterprise's next intake, or `tanpuhui settle`) it is
    settled by the conservative rule:
        the holder has a credited claim of the excluded group on that local day
                        → `duplicate` of the earliest of them (the measured trips stand;
                          the blanket day claim, worth far more, yields)
        otherwise       → decided as any claim (dedup, caps) and credited
    a day claim arriving after its window closed is settled at once, by the same rule

Trips are never held: they are credited on arrival, and the day claim settles against every
trip reported within its window, whatever the order. (A trip reported after the window closed
meets the settled day claim like any later claim.) The provisional answer is what a replay of
the event returns until it settles; afterwards the event's outcome is what it became.

A **meter's period** (evidence issuer `meter:<number>`) is held the same way, for the same
window, whatever its group: its rival reports settle by the rule of households.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from tanpuhui.domain.claims import Claim

#: How long after a day claim (or a meter's period) ends its window stays open for the
#: reports it must await.
SETTLE_AFTER = timedelta(days=1)


def closes_at(ended_at: datetime) -> datetime:
    return ended_at + SETTLE_AFTER


def held_message(until: datetime, meter: bool) -> str:
    """What a held claim's outcome says, on arrival and on every replay until it settles."""
    what = "a meter's period" if meter else "a day claim"
    return f"{what}: held until {until.isoformat()}, then settled"


def excluding_claim(
    claims: Iterable[Claim], excluded_group: str, behaviour: str, day: date
) -> Claim | None:
    """The earliest credited claim of `excluded_group` on `day` that a day claim of
    `behaviour` yields to (other day claims of the same behaviour do not count)."""
    found = [c for c in claims if c.group == excluded_group and c.day == day]
    found = [c for c in found if c.behaviour != behaviour]
    return min(found, key=lambda c: (c.started_at, c.id), default=None)
