"""Regional aggregates (issue 12 item 2): answer from the rollups, never from reductions.

`regional_stats` is the one use case behind `tanpuhui stats`, the government API and the
exports: it checks every filter against the catalogues (an unknown region, behaviour, group,
methodology, quality tier or a malformed period raises with a stable code; nothing answers
empty silently), checks the caller's scope, reads one period's partial rollups and applies
k-suppression with complementary suppression before anything leaves the service.

Intake only queues its batch; `fold_rollups` adds queued batches to the rollups off the
intake transaction (run by the server every `rollup_interval_s`, by `tanpuhui stats`, before
`ledger verify`, and by `regional_stats` itself when anything is queued, so an answer counts
every batch committed before it started unless the caller asks for `fresh=False`). Binding
moves, re-quantification and MRV rejection diff snapshots of the reductions they touch, read
before and after in the same transaction.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tanpuhui.domain.aggregates import (
    CellKey,
    Change,
    Counts,
    Disclosure,
    Figures,
    Oracle,
    check_breakdown,
    child_code,
    child_level,
    parse_period,
    scope_bounds,
)
from tanpuhui.domain.errors import ForbiddenError, InvalidInputError, NotFoundError, TanpuhuiError
from tanpuhui.domain.methodology import QUALITY_ORDER, Catalogue
from tanpuhui.domain.regions import RegionCatalogue, scope_contains
from tanpuhui.services.context import Context
from tanpuhui.services.ports import AggregateQuery, Snapshot


@dataclass(frozen=True)
class StatsRow:
    key: str
    label: str
    figures: Figures


@dataclass(frozen=True)
class RegionalStats:
    region: str | None
    region_name: str
    period: str
    by: str | None
    min_persons: int
    total: Figures
    rows: list[StatsRow] = field(default_factory=list)
    #: the watermark: committed batches not yet in the rollups when the figures were read
    pending_batches: int = 0

    def to_json(self) -> dict[str, Any]:
        """The JSON shape of `tanpuhui stats --json` and the API: the cell at the top level."""
        return {
            "region": self.region,
            "region_name": self.region_name,
            "period": self.period,
            "by": self.by,
            "min_persons": self.min_persons,
            **self.total._asdict(),
            "rows": [{"key": r.key, "label": r.label, **r.figures._asdict()} for r in self.rows],
            "pending_batches": self.pending_batches,
        }


@dataclass(frozen=True)
class FoldReport:
    batches: int  # folded by this call
    reductions: int
    pending: int  # queued batches left (committed meanwhile)


#: batches folded per transaction: bounded work and lock time per step
FOLD_CHUNK = 500


def fold_rollups(ctx: Context, *, chunk: int = FOLD_CHUNK, rounds: int | None = None) -> FoldReport:
    """Fold queued batches into the rollups, `chunk` per transaction, until none is queued
    (or `rounds` transactions). Nothing queued: one read, no write transaction."""
    batches = reductions = 0
    done = 0
    while rounds is None or done < rounds:
        with ctx.uow(write=False) as uow:
            if not uow.aggregates.has_pending():
                break
        with ctx.uow() as uow:
            n, r = uow.aggregates.fold(chunk)
            uow.commit()
        batches, reductions, done = batches + n, reductions + r, done + 1
        if n == 0:
            break
    with ctx.uow(write=False) as uow:
        left, _ = uow.aggregates.pending()
    return FoldReport(batches, reductions, left)


def fold_periodically(
    ctx: Context, interval_s: float, stop: threading.Event, log: Callable[[str], None]
) -> None:
    """The server's rollup hook: fold queued batches every `interval_s` until `stop` is set.
    A failure is logged and tried again at the next tick (nothing is lost: a failed fold's
    batches stay queued)."""
    while not stop.wait(interval_s):
        try:
            fold_rollups(ctx)
        except TanpuhuiError as exc:
            log(f"rollups not folded: {exc.code}: {exc.message}")


def changes_between(before: Sequence[Snapshot], after: Sequence[Snapshot]) -> list[Change]:
    """What moving reductions from `before` to `after` changes: each old state out of its
    cell, each new one into its cell (a binding moves grams to another holder's shard; a
    re-quantification may change grams and quality tier)."""
    out = [Change(s.holder, s.cell, s.day, -s.grams, -1) for s in before if s.grams > 0]
    into = [Change(s.holder, s.cell, s.day, s.grams, 1) for s in after if s.grams > 0]
    return out + into


def regional_stats(
    ctx: Context,
    *,
    region: str | None,
    period: str,
    by: str | None = None,
    filters: Mapping[str, str] | None = None,
    scope: str | None = None,
    min_persons: int | None = None,
    fresh: bool = True,
) -> RegionalStats:
    """The suppressed figures of `region` (None: the nation) in `period`, broken down `by`.
    `scope`: the caller's region (a government account); None for the operator. `fresh`:
    fold queued batches first (a no-op read when none is queued); otherwise the answer says
    how many committed batches it does not count (`pending_batches`, read with the figures)."""
    regions = ctx.regions
    name = _check_region(regions, region, scope)
    parsed = parse_period(period)
    by = check_breakdown(by)
    if by == "region" and region is not None and not region.endswith("00"):
        raise InvalidInputError(
            f"region {region} is a county: it has no smaller regions to break down by",
            code="invalid_breakdown",
        )
    k = min_persons if min_persons is not None else ctx.limits.min_persons
    if fresh:
        fold_rollups(ctx)
    with ctx.uow(write=False) as uow:
        pending = uow.aggregates.pending()[0]
        catalogue = ctx.catalogues.current(uow).catalogue
        checked = _check_filters(catalogue, dict(filters or {}))
        oracle = _oracle(uow, regions.mapping())
        cell = CellKey(region, parsed.text, tuple(sorted(checked.items())))
        shown_total, shown = Disclosure(oracle, k).show(cell, by)
        labels = _labels(uow, by, [key for key, _ in shown], regions, catalogue)
    return RegionalStats(
        region,
        name,
        parsed.text,
        by,
        k,
        shown_total,
        [StatsRow(key, labels.get(key, key), f) for key, f in shown],
        pending,
    )


def _oracle(uow: Any, mapped: Mapping[str, str]) -> Oracle:
    """Breakdowns of cells read from the rollups (the `Disclosure`'s view of the data)."""

    def read(cell: CellKey, by: str | None) -> tuple[Counts, list[tuple[str, Counts]]]:
        digits = child_level(cell.region)
        query = AggregateQuery(
            cell.period, scope_bounds(cell.region), mapped, dict(cell.filters), by, digits
        )
        total, rows = uow.aggregates.counts(query)
        if by == "region":
            rows = [(child_code(key, digits), c) for key, c in rows]
        return total, rows

    return read


def _check_region(regions: RegionCatalogue, region: str | None, scope: str | None) -> str:
    if region is not None and region not in regions:
        raise NotFoundError(
            f"no region {region} in the code list ({regions.version})",
            code="unknown_region",
            details={"region": region},
        )
    if scope is not None and (region is None or not scope_contains(scope, region)):
        # a government account sees its region and the regions inside it, nothing else
        raise ForbiddenError(
            f"region {region or 'national'} is outside this account's region {scope}",
            code="out_of_scope",
        )
    if region is None:
        return "全国"
    found = regions.get(region)
    return found.name if found else region


def _check_filters(catalogue: Catalogue, filters: dict[str, str]) -> dict[str, str]:
    known: dict[str, set[str]] = {
        "behaviour": set(catalogue.behaviours()),
        "group": set(catalogue.groups),
        "methodology": {m.code for m in catalogue.methodologies},
        "quality": {q.value for q in QUALITY_ORDER},
    }
    for name, value in filters.items():
        if name == "enterprise":
            try:
                uuid.UUID(value)
            except ValueError:
                raise InvalidInputError(
                    f"enterprise {value!r} is not an enterprise id", code="invalid_filter"
                ) from None
            filters[name] = str(uuid.UUID(value))  # the form breakdown rows are keyed by
        elif name not in known:
            raise InvalidInputError(f"cannot filter by {name!r}", code="invalid_filter")
        elif value not in known[name]:
            raise InvalidInputError(
                f"unknown {name} {value!r}", code=f"unknown_{name}", details={name: value}
            )
    return filters


def _labels(
    uow: Any, by: str | None, keys: list[str], regions: RegionCatalogue, catalogue: Catalogue
) -> dict[str, str]:
    if by == "region":
        found = (regions.get(child_code(k, len(k))) for k in keys)
        return {r.code: r.name for r in found if r is not None}
    if by == "group":
        return {k: catalogue.groups[k].title for k in keys if k in catalogue.groups}
    if by == "enterprise":
        names: dict[str, str] = {}
        for k in keys:
            enterprise = uow.enterprises.find(uuid.UUID(k))
            if enterprise is not None:
                names[k] = enterprise.name
        return names
    return {}


@dataclass(frozen=True)
class MonthlyReport:
    """The monthly report of one region (issue 12 item 3): every figure already suppressed."""

    month: RegionalStats  # the month's total, by behaviour group
    trend: list[tuple[str, Figures]]  # the twelve months up to this one
    regions: RegionalStats | None  # by city/county (None for a county)
    enterprises: list[StatsRow]  # the top scene enterprises by grams


def monthly_report(
    ctx: Context, *, region: str | None, month: str, scope: str | None = None, top: int = 5
) -> MonthlyReport:
    if parse_period(month).kind != "month":
        raise InvalidInputError(
            f"a monthly report is for a month (2026-11), not {month!r}", code="invalid_period"
        )
    by_group = regional_stats(ctx, region=region, period=month, by="group", scope=scope)
    year, number = int(month[:4]), int(month[5:7])
    months = []
    for back in range(11, -1, -1):
        y, m = divmod(year * 12 + number - 1 - back, 12)
        months.append(f"{y:04d}-{m + 1:02d}")
    trend = [(m, regional_stats(ctx, region=region, period=m, scope=scope).total) for m in months]
    counties = region is not None and not region.endswith("00")
    by_region = (
        None
        if counties
        else regional_stats(ctx, region=region, period=month, by="region", scope=scope)
    )
    by_enterprise = regional_stats(ctx, region=region, period=month, by="enterprise", scope=scope)
    ranked = sorted(
        (r for r in by_enterprise.rows if r.figures.grams is not None),
        key=lambda r: (-(r.figures.grams or 0), r.label),
    )
    return MonthlyReport(by_group, trend, by_region, ranked[:top])
