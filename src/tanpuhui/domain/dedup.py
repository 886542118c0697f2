"""The duplicate test: when two claims of one holder in an exclusive group are the same act.

Enterprises tell one real act their own way: a bus company stamps a QR-code tap as an instant,
a payment app stamps the same tap a minute later by its own clock; the bike app reports a ride
of 13:18-13:20, the map app its navigation of 13:17-13:21. The rule, designed once for every
group (DESIGN §4.2):

    two claims are the same act when their intervals overlap, or when the gap between them is
    at most the group's clock-skew tolerance (`Group.clock_skew_s`, groups.yaml).

Instants (started_at == ended_at) and short intervals are claims like any other: two instants
at most `clock_skew_s` apart are one act; with a tolerance of 0 an instant is one act with any
claim it touches, while two intervals that merely touch end-to-start (monthly meter periods)
are two acts. The earlier stored claim wins and the later one names it (`duplicate_of`).

The rule is conservative on purpose: two genuinely separate trips less than the tolerance
apart (a bike ride and the metro it feeds) are credited as one — under-counting a transfer is
acceptable, counting one trip twice is not.
"""

from __future__ import annotations

from datetime import datetime, timedelta

_ZERO = timedelta(0)


def same_act(
    a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime, skew: timedelta
) -> bool:
    """Whether [a_start, a_end] and [b_start, b_end] are one act within a tolerance `skew`."""
    gap = max(a_start, b_start) - min(a_end, b_end)  # negative: they overlap by that much
    if gap < _ZERO:
        return True
    if gap == _ZERO:
        return skew > _ZERO or a_start == a_end or b_start == b_end
    return gap <= skew
