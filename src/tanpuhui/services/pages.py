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
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from tanpuhui.domain.certificates import Certificate, parse_content, read_serial
from tanpuhui.domain.errors import InvalidInputError, NotFoundError
from tanpuhui.domain.leaderboard import MAX_TOP, BoardKind
from tanpuhui.domain.ledger import person_account
from tanpuhui.domain.parties import Binding
from tanpuhui.domain.shards import shard_of_account
from tanpuhui.services.certificate_ports import DisplayName
from tanpuhui.services.certificates import verify_certificate
from tanpuhui.services.context import Context
from tanpuhui.services.leaderboards import board_spec, leaderboard
from tanpuhui.services.ledger import TracedReduction, trace_of
from tanpuhui.services.market import sales_of_person
from tanpuhui.services.page_ports import Cursor, NotCredited, RejectedReason, Share, Slice
from tanpuhui.services.ports import ReductionView
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


# --- paging: keyset cursors --------------------------------------------------------------------


def cursor_text(cursor: Cursor) -> str:
    """A cursor as it goes into a page's link (`?before=` / `?after=`)."""
    return f"{cursor.at.isoformat()}~{cursor.id}" + ("~open" if cursor.open else "")


def parse_cursor(raw: str | None) -> Cursor | None:
    """A cursor from a link; anything else is 400 `invalid_cursor`, never a 500."""
    if not raw:
        return None
    at, _, rest = raw.partition("~")
    ident, _, flag = rest.partition("~")
    try:
        moment: datetime | None = datetime.fromisoformat(at)
        uuid.UUID(ident)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or flag not in ("", "open"):
        raise InvalidInputError("not a page cursor", code="invalid_cursor")
    return Cursor(moment, ident, flag == "open")


def parse_seq(raw: str | None) -> int | None:
    """A sequence-number cursor (the audit trail's); anything else is `invalid_cursor`."""
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidInputError("not a page cursor", code="invalid_cursor")
    return int(raw)


T = TypeVar("T")
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Window(Generic[T, K]):
    """One page of a list that grows, in the list's order, with the keys of its neighbours
    (None when there is no page that way): keyset paging, never OFFSET."""

    items: list[T]
    older: K | None  # the next page: the items after the last one here
    newer: K | None  # the page before: the items before the first one here
    first: bool  # this is the list's first page


def window(
    fetch: Callable[[int, K | None, bool], list[T]],
    key: Callable[[T], K],
    limit: int,
    before: K | None = None,
    after: K | None = None,
) -> Window[T, K]:
    """The page after `before` (or before `after`; else the first) of `limit` items: `fetch(n,
    cursor, older)` reads up to `n` items next to the cursor, nearest first — one more than
    the page, to know whether there is another page that way."""
    if after is not None:
        rows = fetch(limit + 1, after, False)
        more, rows = len(rows) > limit, list(reversed(rows[:limit]))
        return Window(
            rows, key(rows[-1]) if rows else None, key(rows[0]) if more else None, not more
        )
    rows = fetch(limit + 1, before, True)
    more, rows = len(rows) > limit, rows[:limit]
    newer = key(rows[0]) if before is not None and rows else None
    return Window(rows, key(rows[-1]) if more else None, newer, before is None)


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
    window: Window[TracedReduction, Cursor]  # this page of the reductions
    certificates: list[Certificate]  # newest first
    display_name: DisplayName | None  # the leaderboard name and opt-in


def person_page(
    ctx: Context,
    person_id: uuid.UUID,
    *,
    limit: int = 50,
    before: Cursor | None = None,
    after: Cursor | None = None,
) -> PersonPage:
    """The ledger with one page of the reductions: the newest `limit`, or those older than
    `before` / newer than `after` (keyset cursors of the page's links)."""
    account = person_account(person_id)
    today = ctx.clock.now().astimezone(ctx.tz).date()
    month = today.replace(day=1)
    with ctx.uow(write=False) as uow:
        if uow.persons.find(person_id) is None:
            raise NotFoundError(f"no person {person_id}")
        catalogue = ctx.catalogues.current(uow).catalogue
        slices = uow.pages.slices(account)
        pages = uow.pages

        def fetch(n: int, cursor: Cursor | None, older: bool) -> list[ReductionView]:
            return pages.reductions_page(account, n, cursor, older=older)

        page = window(fetch, lambda r: Cursor(r.started_at, str(r.id)), limit, before, after)
        not_credited = uow.pages.not_credited(person_id, limit)
        linked = _linked(
            uow.bindings.subjects_of(person_id), {e.id: e.name for e in uow.enterprises.list()}
        )
        stored = uow.pages.certificates_of(shard_of_account(account), account)
        chosen = uow.certificates.find_display_name(person_id)
    traced = Window(
        [trace_of(r, catalogue) for r in page.items], page.older, page.newer, page.first
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
        reductions=traced.items,
        not_credited=not_credited,
        linked=linked,
        window=traced,
        certificates=[Certificate(parse_content(c.content), c.signature) for c in stored],
        display_name=chosen,
    )


def own_certificate(ctx: Context, holder: str, serial: str) -> Certificate:
    """One of the holder's own certificates, verified (signature and content); a serial of
    another holder's certificate is simply not found, like an unknown one."""
    parts = read_serial(serial)
    with ctx.uow(write=False) as uow:
        found = uow.certificates.find(parts.shard, serial)
    if found is None or found.holder != holder:
        raise NotFoundError(f"no certificate {serial} of yours", code="certificate_not_found")
    return verify_certificate(ctx, serial)


@dataclass(frozen=True, slots=True)
class Position:
    """The person's place on this month's board of one behaviour (opted-in people only)."""

    behaviour: str
    rank: int | None  # None: below the board's first MAX_TOP
    grams: int
    first: date
    last: date


def board_positions(ctx: Context, person_id: uuid.UUID) -> list[Position]:
    """Where the person stands this month on the board of each behaviour they did this
    month — only once they opted in (an opted-out person is on no board)."""
    account = person_account(person_id)
    last = ctx.clock.now().astimezone(ctx.tz).date()
    first = last.replace(day=1)
    with ctx.uow(write=False) as uow:
        chosen = uow.certificates.find_display_name(person_id)
        if chosen is None or not chosen.opted_in:
            return []
        slices = uow.pages.slices(account)
    grams: dict[str, int] = {}
    for s in slices:
        if s.day >= first:
            grams[s.behaviour] = grams.get(s.behaviour, 0) + s.grams
    found = []
    for behaviour in sorted(grams):
        board = leaderboard(
            ctx, board_spec(BoardKind.BEHAVIOUR, behaviour, None, first, last), MAX_TOP
        )
        mine = next((p for p in board.placings if p.holder == account), None)
        found.append(
            Position(behaviour, mine.rank if mine else None, grams[behaviour], first, last)
        )
    return found


def certificates_of(ctx: Context, holder: str) -> list[Certificate]:
    """The holder's certificates (a person's or an enterprise's), newest first."""
    with ctx.uow(write=False) as uow:
        stored = uow.pages.certificates_of(shard_of_account(holder), holder)
    return [Certificate(parse_content(c.content), c.signature) for c in stored]


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
        "display_name": (
            {"name": chosen.name, "opted_in": chosen.opted_in}
            if (chosen := page.display_name) is not None
            else None
        ),
        "certificates": [
            {"content": c.content, "signature": c.signature} for c in page.certificates
        ],
        "sales": [
            {
                "id": str(r.sale.id),
                "offer": str(r.sale.offer_id),
                "grams": r.sale.grams,
                "status": r.status.value,
                "points": r.sale.points,
                "programme": r.sale.programme,
                "coupon": r.sale.coupon,
                "created_at": r.sale.created_at.isoformat(),
            }
            for r in sales_of_person(ctx, person_id, 1_000_000)
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
