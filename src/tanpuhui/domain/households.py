"""Households and meters: a meter's period is one act, whoever in the household reports it.

A meter is one physical thing. The utility reports its monthly reading for the account holder,
a smart-home app reports the same month for the spouse who installed it: that is one saving.
Evidence that names a meter (`meter:<number>`, evidence.py) makes the meter itself the unit
of exclusivity, across the persons of a household:

    a claim naming a meter is the same act as any claim of that meter in its group whose
    period overlaps it (dedup.py), whoever it was credited to: the period is credited once;
    it is not the same act as a period of another meter, even of the same person (two homes:
    both credit, claims.py `other_meters`); a reading naming no meter may be any of the
    holder's meters and is compared with all of them.

**Who is credited does not depend on arrival order.** A meter's period is held `provisional`
like a day claim (settlement.py) until its window closes — a day plus the longest claim
window of its group after the period ends (93 days for home energy and rooftop PV), when no
rival report of the period can still be accepted. It is then settled by one documented
rule, `settlement_rank`:

    the report of the enterprise that *is* the meter's registered issuer (`is_issuer`: the
    utility, whose subject is the account holder) wins;
    without one, the report with the smallest (enterprise id, event id) wins;
    the others become `duplicate` of the winner.

(A report arriving after its window closed — impossible with today's catalogue, whose
claim windows are shorter than the wait — would be decided on arrival.) Rival periods that
overlap without ending on the same day settle as their windows close, earlier window first
(still independent of arrival order; the rank decides among the reports settled together).

Who may speak for a meter follows evidence ownership: a meter registered in the issuer
registry is matched across the enterprises entitled to cite it (the utility, an authorised
smart-home app); a meter nobody registered is matched only within the reporting enterprise,
so an unentitled party can neither pre-empt a household's reading nor probe it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import NamedTuple, TypeVar

from tanpuhui.domain.events import BehaviourEvent
from tanpuhui.domain.evidence import IssuerRights

R = TypeVar("R")
Rank = tuple[bool, uuid.UUID, str]  # settlement_rank's: smaller settles first


class MeterScope(NamedTuple):
    """The stored claims of meter `issuer` that act `key` stands for: every enterprise's when
    `enterprise_id` is None (a registered meter), else that enterprise's only."""

    key: str
    issuer: str
    enterprise_id: uuid.UUID | None


def meter_of(event: BehaviourEvent) -> str | None:
    """The meter an event's evidence names, if any."""
    evidence = event.evidence
    return None if evidence is None else meter_named(evidence.issuer)


def meter_named(issuer: str | None) -> str | None:
    """`issuer` when it is a meter (`meter:<number>`), else None."""
    return issuer if issuer is not None and issuer.startswith("meter:") else None


def meter_key(enterprise_id: uuid.UUID, meter: str, rights: IssuerRights) -> str:
    """The key of the meter's claims: the meter itself when registered (and so cited by an
    entitled enterprise: evidence.py refuses the others), else the meter as one reporter
    knows it."""
    return meter if meter in rights.registered else f"{meter}@{enterprise_id}"


def meter_scope(key: str, meter: str) -> MeterScope:
    if key == meter:
        return MeterScope(key, meter, None)
    return MeterScope(key, meter, uuid.UUID(key.rpartition("@")[2]))


def settlement_rank(enterprise_id: uuid.UUID, event_id: str, is_issuer: bool) -> Rank:
    """The order in which held reports of one meter's period settle (the first credited wins,
    the others are its duplicates): the meter's registered issuer first, then by (enterprise
    id, event id)."""
    return (not is_issuer, enterprise_id, event_id)


def settlement_rounds(reports: Iterable[tuple[str, R]], rank: Callable[[R], Rank]) -> list[list[R]]:
    """Held reports of meter periods, (meter, report), in the order they settle: round n
    holds every meter's n-th report by `rank` (so each meter's winner settles before the
    reports it beats), each round itself in rank order — nothing depends on arrival order."""
    by_meter: dict[str, list[R]] = defaultdict(list)
    for meter, report in reports:
        by_meter[meter].append(report)
    rounds: dict[int, list[R]] = defaultdict(list)
    for members in by_meter.values():
        for n, report in enumerate(sorted(members, key=rank)):
            rounds[n].append(report)
    return [sorted(rounds[n], key=rank) for n in sorted(rounds)]
