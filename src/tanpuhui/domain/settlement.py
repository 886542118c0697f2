"""Settlement: where two claims exclude each other, the result does not depend on arrival order.

A car-free day and that day's metro ride cannot both be credited (the ride is part of the day
the car stayed home); a video conference "avoiding a trip" is not one when the person rode the
metro that day. First-come-first-credited made the result depend on which report arrived
first (4,630 g or 46 g). Instead, a **day claim** — a behaviour a group lists in `day_claims`
(groups.yaml), with the group whose claims it excludes — is held:

    on arrival          → `provisional` (stored, not credited), while its window is open:
                          until `settle_after` after the claim ends
    once the window closes (with the enterprise's next intake, or `tanpuhui settle`) it is
    settled by the conservative rule:
        the holder has a credited claim of the excluded group on that local day
                        → `duplicate` of the earliest of them (the measured trips stand;
                          the blanket day claim, worth far more, yields)
        otherwise       → decided as any claim (dedup, caps) and credited

**The window covers every claim it awaits.** A trip is accepted up to its methodology's
claim window after it started (plausibility.py: 30 days for every mobility version today).
So the window of a held claim is, from the catalogue when it is decided:

    closes_at = ended_at + MARGIN + the longest claim window (days) of any methodology
                version of the group(s) it awaits

where it awaits the group its behaviour yields to (`day_claims`) and, for a meter's period,
the rival reports of its own group. `MARGIN` (one day) covers the rest of the local day: a
trip of the held claim's day starts before that day ends, at most a day after the claim
started (so before `ended_at + MARGIN`). Once `now ≥ closes_at` every claim the held one could
yield to is refused `outside_claim_window`: nothing that could change its settlement can still
arrive, and the credited result is the same in every arrival order (before: one day, so a
metro ride reported three days late met an already-credited car-free day, and kept 46 g
where the other order gave 4,630 g … or the reverse). The product cost is the wait: a car-free
day or a trip-avoiding video conference is provisional for 31 days after it ends, a meter's
period (home energy, rooftop PV: 92-day claim windows) for 93 days (docs/events.md).
A held claim itself is accepted only within its own claim window, never longer than the
window it waits for today, so it never arrives after its window closed; if a catalogue made it
so, it would be settled at once, by the same rule.

Trips are never held: they are credited on arrival, and the day claim settles against every
trip reported within its window, whatever the order. The provisional answer is what a replay
of the event returns until it settles; afterwards the event's outcome is what it became.

A **meter's period** (evidence issuer `meter:<number>`) is held the same way: its rival
reports settle by the rule of households.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

from tanpuhui.domain.claims import Claim
from tanpuhui.domain.methodology import Group

#: The rest of the held claim's local day, after the claim windows of what it awaits: a claim
#: of that day starts at most a day after the held claim started (module docstring).
MARGIN = timedelta(days=1)


def settle_after(
    claim_window_days: Mapping[str, int], group: Group, behaviour: str, meter: bool
) -> timedelta | None:
    """How long after it ends a claim of `behaviour` in `group` is held, from the catalogue's
    longest claim window per group (`Catalogue.claim_window_days`); None: it is not held."""
    awaited = [g for g in (group.day_claims.get(behaviour),) if g is not None]
    if meter:
        awaited.append(group.code)
    if not awaited:
        return None
    return MARGIN + timedelta(days=max(claim_window_days.get(g, 0) for g in awaited))


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
