"""What the pages show, one function per page: the landing page's instance totals
(k-suppressed), the person's ledger (我的碳账本) and one reduction's trace, everything about a
person as JSON, and a scene enterprise's console (intake, rejections, outcome search).

Invariants: a person's page reads only that person's account and that person's own bindings;
a console reads only its own enterprise's events; a region with fewer than `K_MIN_PERSONS`
persons is never shown on its own (its grams count in the instance total only).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from tanpuhui.domain.errors import NotFoundError
from tanpuhui.domain.ledger import person_account
from tanpuhui.domain.parties import Binding
from tanpuhui.services.context import Context
from tanpuhui.services.ledger import TracedReduction, trace_of
from tanpuhui.services.page_ports import NotCredited, RejectedReason, Share, Slice
from tanpuhui.services.views import event_detail, traced_view

#: k-anonymity threshold of the public totals: a region is shown only with this many persons.
K_MIN_PERSONS = 10
#: Regions on the landing page are provinces: the first two digits of the GB/T 2260 code.
PROVINCE_PREFIX = 2


@dataclass(frozen=True, slots=True)
class RegionTotal:
    code: str  # the six-digit province code
    name: str
    grams: int
    persons: int


@dataclass(frozen=True, slots=True)
class Landing:
    total_grams: int
    persons: int
    regions: list[RegionTotal]  # k-suppressed
    suppressed_regions: int


def landing_totals(ctx: Context) -> Landing:
    with ctx.uow(write=False) as uow:
        shares = uow.pages.region_persons(PROVINCE_PREFIX)
    shown = []
    for s in shares:
        if s.count >= K_MIN_PERSONS:
            code = s.key.ljust(6, "0")
            region = ctx.regions.get(code)
            shown.append(RegionTotal(code, region.name if region else code, s.grams, s.count))
    return Landing(
        total_grams=sum(s.grams for s in shares),
        persons=sum(s.count for s in shares),
        regions=sorted(shown, key=lambda r: -r.grams),
        suppressed_regions=len(shares) - len(shown),
    )


@dataclass(frozen=True, slots=True)
class LinkedEnterprise:
    enterprise_id: uuid.UUID
    name: str
    subject: str
    binding: Binding


@dataclass(frozen=True, slots=True)
class PersonPage:
    account: str
    total_grams: int
    month_grams: int
    month: date  # the first day of this month
    by_month: list[tuple[date, int]]  # oldest first
    by_behaviour: list[Share]
    by_enterprise: list[Share]
    reductions: list[TracedReduction]
    not_credited: list[NotCredited]
    linked: list[LinkedEnterprise]


def person_page(ctx: Context, person_id: uuid.UUID, *, limit: int = 50) -> PersonPage:
    account = person_account(person_id)
    today = ctx.clock.now().astimezone(ctx.tz).date()
    month = today.replace(day=1)
    with ctx.uow(write=False) as uow:
        if uow.persons.find(person_id) is None:
            raise NotFoundError(f"no person {person_id}")
        catalogue = ctx.catalogues.current(uow).catalogue
        slices = uow.pages.slices(account)
        reductions = uow.queries.recent_reductions(account, limit)
        not_credited = uow.pages.not_credited(person_id, limit)
        linked = _linked(
            uow.bindings.subjects_of(person_id), {e.id: e.name for e in uow.enterprises.list()}
        )
    months: dict[date, int] = {}
    for s in slices:
        months[s.day.replace(day=1)] = months.get(s.day.replace(day=1), 0) + s.grams
    return PersonPage(
        account=account,
        total_grams=sum(s.grams for s in slices),
        month_grams=months.get(month, 0),
        month=month,
        by_month=sorted(months.items()),
        by_behaviour=_shares(slices, lambda s: s.behaviour),
        by_enterprise=_shares(slices, lambda s: s.enterprise),
        reductions=[trace_of(r, catalogue) for r in reductions],
        not_credited=not_credited,
        linked=linked,
    )


def _shares(slices: list[Slice], key: Callable[[Slice], str]) -> list[Share]:
    """Grams and reductions per key, largest first."""
    grams: dict[str, int] = {}
    counts: dict[str, int] = {}
    for s in slices:
        grams[key(s)] = grams.get(key(s), 0) + s.grams
        counts[key(s)] = counts.get(key(s), 0) + s.count
    return sorted(
        (Share(k, g, counts[k]) for k, g in grams.items()), key=lambda x: (-x.grams, x.key)
    )


def _linked(bindings: list[Binding], names: dict[uuid.UUID, str]) -> list[LinkedEnterprise]:
    return [
        LinkedEnterprise(b.enterprise_id, names.get(b.enterprise_id, "?"), b.subject, b)
        for b in bindings
        if b.ended_at is None
    ]


def reduction_trace(ctx: Context, person_id: uuid.UUID, reduction_id: uuid.UUID) -> TracedReduction:
    """One of the person's reductions with its trace; another person's is simply not found."""
    with ctx.uow(write=False) as uow:
        catalogue = ctx.catalogues.current(uow).catalogue
        found = uow.pages.reduction_of(person_account(person_id), reduction_id)
    if found is None:
        raise NotFoundError(f"no reduction {reduction_id} in your ledger")
    return trace_of(found, catalogue)


def export_person(ctx: Context, person_id: uuid.UUID) -> dict[str, Any]:
    """Everything the platform holds about the person, as JSON-ready data."""
    page = person_page(ctx, person_id, limit=1_000_000)
    with ctx.uow(write=False) as uow:
        bindings = uow.bindings.subjects_of(person_id)
        balances = uow.ledger.balances_of(page.account)
        names = {e.id: e.name for e in uow.enterprises.list()}
    return {
        "person": str(person_id),
        "account": page.account,
        "total_grams": page.total_grams,
        "balances": balances,
        "bindings": [
            {
                "enterprise": names.get(b.enterprise_id, str(b.enterprise_id)),
                "subject": b.subject,
                "bound_at": b.bound_at.isoformat(),
                "ended_at": b.ended_at.isoformat() if b.ended_at else None,
            }
            for b in bindings
        ],
        "reductions": [traced_view(t) for t in page.reductions],
        "not_credited": [
            {
                "enterprise": n.enterprise,
                "event_id": n.event_id,
                "behaviour": n.behaviour,
                "why": n.why,
                "kept_is_mine": n.kept_is_mine,
            }
            for n in page.not_credited
        ],
    }


@dataclass(frozen=True, slots=True)
class Console:
    enterprise_id: uuid.UUID
    name: str
    counts: dict[str, int]
    rejected: list[RejectedReason]


def enterprise_console(ctx: Context, enterprise_id: uuid.UUID) -> Console:
    with ctx.uow(write=False) as uow:
        enterprise = uow.enterprises.find(enterprise_id)
        if enterprise is None:
            raise NotFoundError(f"no enterprise {enterprise_id}")
        counts = uow.pages.intake_counts(enterprise_id)
        rejected = uow.pages.rejected(enterprise_id, 3)
    return Console(enterprise_id, enterprise.name, counts, rejected)


def find_outcome(ctx: Context, enterprise_id: uuid.UUID, event_id: str) -> dict[str, Any] | None:
    """One of the enterprise's own events by its id (another enterprise's is not found)."""
    with ctx.uow(write=False) as uow:
        catalogue = ctx.catalogues.current(uow).catalogue
        found = uow.queries.event_of(enterprise_id, event_id.strip())
    return event_detail(found, catalogue) if found is not None else None
