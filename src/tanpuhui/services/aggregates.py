"""Regional aggregates (issue 12 item 2): answer from the rollups, never from reductions.

`regional_stats` is the one use case behind `tanpuhui stats`, the government API and the
exports: it checks every filter against the catalogues (an unknown region, behaviour, group,
methodology, quality tier or a malformed period raises with a stable code; nothing answers
empty silently), checks the caller's scope, reads one period's partial rollups and applies
k-suppression with complementary suppression before anything leaves the service.

`changes_of_decision` turns an intake decision into rollup changes (no query: the records
carry every dimension); binding moves and re-quantification diff snapshots of the reductions
they touch, read before and after in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tanpuhui.domain.aggregates import (
    SUPPRESSED,
    Cell,
    Change,
    Figures,
    check_breakdown,
    child_code,
    child_level,
    parent_code,
    parse_period,
    scope_bounds,
    suppress,
)
from tanpuhui.domain.errors import ForbiddenError, InvalidInputError, NotFoundError
from tanpuhui.domain.intake import BatchDecision
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
        }


def changes_of_decision(decision: BatchDecision, enterprise_id: uuid.UUID) -> list[Change]:
    """The rollup changes of one intake decision: every new credited reduction, once."""
    changes: list[Change] = []
    for r in decision.records:
        c, ev = r.candidate, r.event
        if c is None or ev is None or r.holder is None or r.outcome.grams <= 0:
            continue
        q = c.quantification
        cell = Cell(
            ev.region, ev.behaviour, c.group.code, enterprise_id, q.methodology.code,
            q.quality.value,
        )  # fmt: skip
        changes.append(Change(r.holder, cell, c.day, r.outcome.grams, 1))
    return changes


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
) -> RegionalStats:
    """The suppressed figures of `region` (None: the nation) in `period`, broken down `by`.
    `scope`: the caller's region (a government account); None for the operator."""
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
    with ctx.uow(write=False) as uow:
        catalogue = ctx.catalogues.current(uow).catalogue
        checked = _check_filters(catalogue, dict(filters or {}))
        query = AggregateQuery(
            parsed.text, scope_bounds(region), regions.mapping(), checked, by, child_level(region)
        )
        total, rows = uow.aggregates.counts(query)
        labels = _labels(uow, by, [key for key, _ in rows], regions, catalogue)
        if by == "region":
            rows = [(child_code(key, query.child_digits), c) for key, c in rows]
        shown_total, shown = suppress(total, rows, k)
        if shown_total.grams is not None and _hidden_above(uow, query, region, k):
            shown_total, shown = SUPPRESSED, [(key, SUPPRESSED) for key, _ in shown]
    return RegionalStats(
        region,
        name,
        parsed.text,
        by,
        k,
        shown_total,
        [StatsRow(key, labels.get(key, key), f) for key, f in shown],
    )


def _hidden_above(uow: Any, query: AggregateQuery, region: str | None, k: int) -> bool:
    """Whether `region` is suppressed in the by-region breakdown of any region above it.

    Without this, a district shown on its own but suppressed as the complement in its city's
    breakdown gives away its suppressed sibling: the city's total minus the district."""
    child = region
    while child is not None:
        parent = parent_code(child)
        above = query._replace(
            bounds=scope_bounds(parent), by="region", child_digits=child_level(parent)
        )
        total, rows = uow.aggregates.counts(above)
        key = child_code(child, above.child_digits)
        _, shown = suppress(total, [(child_code(c, above.child_digits), n) for c, n in rows], k)
        if any(c == key and f.grams is None for c, f in shown):
            return True
        child = parent
    return False


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
