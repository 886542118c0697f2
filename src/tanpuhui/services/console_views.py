"""What the pages of the other actors show, read-only, one function per page: the person's
market and points (offers they can sell to, sales and holds, points by programme with their
history), a platform enterprise's console (offers, sales and holds, holdings by class with
lineage, retirements with their certificates, export attempts with their blocks), a
government account's dashboard (its region tree, the trend, breakdowns — every figure from
`regional_stats`, k-suppressed there), the verifier's queue and the audit trail (both paged
by keyset), and the operator's published versions with a diff between two of them.

Invariants: each view reads only its caller's own data — the person's account, the platform
enterprise's offers and account, the official's region (checked by the aggregates service
with the official's region as scope); nothing here writes.
"""

from __future__ import annotations

import difflib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tanpuhui.domain.aggregates import Figures
from tanpuhui.domain.audit import KINDS, SealedRecord
from tanpuhui.domain.certificates import Certificate
from tanpuhui.domain.errors import ForbiddenError, InvalidInputError, NotFoundError
from tanpuhui.domain.ledger import enterprise_account, person_account
from tanpuhui.domain.market import Lot, OfferStatus, SaleStatus
from tanpuhui.domain.mrv import BatchState
from tanpuhui.domain.officials import Official
from tanpuhui.domain.parties import Role
from tanpuhui.domain.programmes import Programme
from tanpuhui.domain.regions import scope_contains
from tanpuhui.services.aggregates import (
    MonthlyReport,
    RegionalStats,
    monthly_report,
    regional_stats,
)
from tanpuhui.services.context import Context
from tanpuhui.services.export import ExportResult
from tanpuhui.services.market import (
    OfferView,
    SaleResult,
    holdings_of,
    list_offers,
    points_of,
    sales_of_enterprise,
    sales_of_person,
)
from tanpuhui.services.page_ports import Cursor
from tanpuhui.services.pages import Window, certificates_of, window
from tanpuhui.services.ports import IssuanceBatch
from tanpuhui.services.retirement import RetirementResult, retirements_of

# --- the person: selling and points ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sellable:
    """An open offer and how many of the person's grams it accepts (before open holds)."""

    offer: OfferView
    buyer: str
    eligible_grams: int


@dataclass(frozen=True, slots=True)
class PointsLine:
    at: datetime
    kind: str  # sale | redemption | expiry | issuance …
    programme: str
    points: int  # signed: earned > 0, spent < 0
    memo: str


@dataclass(frozen=True, slots=True)
class PersonMarket:
    offers: list[Sellable]
    sales: list[SaleResult]
    holds: list[SaleResult]
    points: dict[str, int]  # programme → balance
    programmes: list[Programme]  # the active programmes, with their partner merchants
    history: list[PointsLine]  # newest first
    merchants: dict[str, uuid.UUID]  # partner merchant name → enterprise id


def person_market(ctx: Context, person_id: uuid.UUID, limit: int = 50) -> PersonMarket:
    account = person_account(person_id)
    lots = [lot for lots in holdings_of(ctx, account).values() for lot in lots]
    with ctx.uow(write=False) as uow:
        names = {e.id: e.name for e in uow.enterprises.list()}
        programmes = uow.market.active_programmes()
        entries = uow.ledger.entries_of(account, limit)
    now = ctx.clock.now()
    offers = [
        Sellable(v, names.get(v.offer.enterprise_id, "?"), _eligible(v, lots))
        for v in list_offers(ctx)
        if v.remaining_grams > 0
    ]
    sales = sales_of_person(ctx, person_id, limit)
    partners = {m for p in programmes for m in p.merchants}
    return PersonMarket(
        # an offer the person can sell their eligible grams to now (its own terms say so)
        offers=[s for s in offers if s.offer.offer.refusal(now, s.eligible_grams) is None],
        sales=sales,
        holds=[s for s in sales if s.status is SaleStatus.HELD],
        points=points_of(ctx, account),
        programmes=programmes,
        history=[
            PointsLine(e.created_at, e.kind, p.asset.partition(":")[2], p.amount, e.memo)
            for e in entries
            for p in e.postings
            if p.account == account and p.asset.startswith("points:")
        ],
        merchants={n: i for i, n in names.items() if n in partners or str(i) in partners},
    )


def _eligible(view: OfferView, lots: list[Lot]) -> int:
    return sum(lot.grams for lot in lots if view.offer.accepts(lot.asset, lot.quality))


# --- a platform enterprise's console ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlatformConsole:
    enterprise_id: uuid.UUID
    name: str
    offers: list[OfferView]
    sales: list[SaleResult]
    holds: list[SaleResult]
    holdings: dict[str, list[Lot]]  # class → the reductions behind it, oldest first
    programmes: list[str]  # what a points offer may pay in


def platform_console(ctx: Context, enterprise_id: uuid.UUID, limit: int = 100) -> PlatformConsole:
    with ctx.uow(write=False) as uow:
        enterprise = uow.enterprises.find(enterprise_id)
        programmes = sorted({p.code for p in uow.market.active_programmes()})
    if enterprise is None:
        raise NotFoundError(f"no enterprise {enterprise_id}")
    if Role.PLATFORM not in enterprise.roles:
        raise ForbiddenError(
            "the platform console is for platform enterprises", code="not_platform"
        )
    sales = sales_of_enterprise(ctx, enterprise_id, limit)
    return PlatformConsole(
        enterprise_id,
        enterprise.name,
        sorted(list_offers(ctx, enterprise_id), key=lambda v: _offer_order(v.offer.status)),
        sales,
        [s for s in sales if s.status is SaleStatus.HELD],
        holdings_of(ctx, enterprise_account(enterprise_id)),
        programmes,
    )


@dataclass(frozen=True, slots=True)
class PlatformMore:
    """A platform enterprise's retirements (each with its certificate) and export attempts
    (each with its serial-numbered blocks), newest first."""

    retirements: list[RetirementResult]
    certificates: dict[str, Certificate]  # serial → the retirement's certificate
    exports: list[ExportResult]


def platform_more(ctx: Context, enterprise_id: uuid.UUID) -> PlatformMore:
    """Only the enterprise's own retirements, certificates and exports."""
    retired = retirements_of(ctx, enterprise_id)
    certificates = {c.serial: c for c in certificates_of(ctx, enterprise_account(enterprise_id))}
    with ctx.uow(write=False) as uow:
        exports = [
            ExportResult(x, uow.retirement.blocks_of_export(x.id))
            for x in uow.pages.exports_of(enterprise_id)
        ]
    return PlatformMore(retired, certificates, exports)


@dataclass(frozen=True, slots=True)
class ExportLine:
    result: ExportResult
    enterprise: str


def operator_exports(ctx: Context, limit: int = 100) -> list[ExportLine]:
    """The latest export attempts of every enterprise (pending first) with their blocks."""
    with ctx.uow(write=False) as uow:
        names = {e.id: e.name for e in uow.enterprises.list()}
        return [
            ExportLine(
                ExportResult(x, uow.retirement.blocks_of_export(x.id)),
                names.get(x.enterprise_id, str(x.enterprise_id)),
            )
            for x in uow.pages.recent_exports(limit)
        ]


def _offer_order(status: OfferStatus) -> int:
    return [OfferStatus.OPEN, OfferStatus.PAUSED, OfferStatus.CLOSED].index(status)


# --- a government account's dashboard --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Crumb:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Dashboard:
    region: str
    name: str
    month: str
    path: list[Crumb]  # from the official's region down to this one
    total: Figures
    children: RegionalStats | None  # the regions inside (None for a county)
    report: MonthlyReport  # trend, by group, top enterprises
    by_behaviour: RegionalStats
    by_enterprise: RegionalStats


def government_dashboard(
    ctx: Context, official: Official, region: str | None, month: str
) -> Dashboard:
    """The dashboard of `region` (default: the official's) for `month`; a region outside the
    official's is refused by the aggregates service (`out_of_scope`)."""
    scope = official.region
    shown = region or scope
    report = monthly_report(ctx, region=shown, month=month, scope=scope)
    assert shown is not None and scope is not None  # a government account has a region
    path = [
        Crumb(code, found.name if (found := ctx.regions.get(code)) else code)
        for code in reversed(ctx.regions.ancestors(shown))
        if scope_contains(scope, code)
    ]
    return Dashboard(
        shown,
        report.month.region_name,
        month,
        path,
        report.month.total,
        report.regions,
        report,
        regional_stats(ctx, region=shown, period=month, by="behaviour", scope=scope),
        regional_stats(ctx, region=shown, period=month, by="enterprise", scope=scope),
    )


# --- the verifier's queue and the operator's versions ----------------------------------------


def batch_queue(
    ctx: Context,
    limit: int = 50,
    before: Cursor | None = None,
    after: Cursor | None = None,
) -> Window[IssuanceBatch, Cursor]:
    """Open batches first, then the decided ones, newest first: one page (keyset)."""
    with ctx.uow(write=False) as uow:
        pages = uow.pages

        def fetch(n: int, cursor: Cursor | None, older: bool) -> list[IssuanceBatch]:
            return pages.batches(n, cursor, older=older)

        return window(fetch, _batch_key, limit, before, after)


def _batch_key(b: IssuanceBatch) -> Cursor:
    return Cursor(b.created_at, str(b.id), b.state is BatchState.OPEN)


def audit_trail(
    ctx: Context,
    *,
    actor: str | None,
    kind: str | None,
    limit: int = 200,
    before: int | None = None,
    after: int | None = None,
) -> Window[SealedRecord, int]:
    """The audit trail newest first, filtered by actor and kind: one page (keyset on the
    sequence number)."""
    if kind is not None and kind not in KINDS:
        raise InvalidInputError(
            f"unknown audit kind {kind!r}: one of {', '.join(KINDS)}", code="unknown_kind"
        )
    with ctx.uow(write=False) as uow:
        pages = uow.pages

        def fetch(n: int, cursor: int | None, older: bool) -> list[SealedRecord]:
            return pages.audit_page(actor, kind, n, cursor, older=older)

        return window(fetch, lambda r: r.seq, limit, before, after)


def programme_versions(ctx: Context) -> dict[str, list[Programme]]:
    """Every published programme version by code, oldest first."""
    with ctx.uow(write=False) as uow:
        versions = uow.market.programme_versions()
    found: dict[str, list[Programme]] = {}
    for p in sorted(versions, key=lambda p: (p.code, p.version)):
        found.setdefault(p.code, []).append(p)
    return found


def version_diff(old: dict[str, Any], new: dict[str, Any], names: tuple[str, str]) -> list[str]:
    """A unified diff of two versions' published content (their JSON views), line by line."""
    a, b = (json.dumps(v, ensure_ascii=False, indent=2, sort_keys=True) for v in (old, new))
    diff = difflib.unified_diff(
        a.splitlines(), b.splitlines(), fromfile=names[0], tofile=names[1], lineterm=""
    )
    return list(diff)
