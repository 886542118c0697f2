"""`requantify`: move reductions from one version of a methodology to another, by correcting
entries (dry run by default). See domain.requantify for the rules.

Work goes in chunks of reductions, one transaction each, holders locked like intake does
(the reductions' event holders and every holder their lineage names). A decrease comes out of
the lots that hold the reduction, holder by holder (domain/market.py `take_back`), and the
lineage rollup moves with it (`correction_lineage`). A
dry run writes nothing and carries each chunk's changes forward so caps are judged as the
real run would judge them. Running the same re-quantification again changes nothing: the
reductions it handled are quantified with the new version now.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from tanpuhui.domain.claims import ClaimBook, Claimed, claim_scopes
from tanpuhui.domain.errors import InvalidInputError, NotFoundError
from tanpuhui.domain.market import correction_lineage
from tanpuhui.domain.methodology import Methodology
from tanpuhui.domain.requantify import (
    RequantifyPlan,
    StoredReduction,
    day_shares,
    plan_requantify,
)
from tanpuhui.services.aggregates import changes_between
from tanpuhui.services.context import Context
from tanpuhui.services.ports import StoredCatalogue, UnitOfWork

CHUNK = 2000


@dataclass
class RequantifyReport:
    methodology: str
    from_key: str
    to_key: str
    applied: bool
    since: date | None
    reductions: int = 0
    changed: int = 0
    capped: int = 0
    grams_before: int = 0
    grams_after: int = 0
    shortfall: int = 0
    not_applicable: Counter[str] = field(default_factory=Counter)
    per_holder: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def difference(self) -> int:
        return self.grams_after - self.grams_before

    def add(self, plan: RequantifyPlan) -> None:
        for c in plan.corrections:
            self.reductions += 1
            self.grams_before += c.before
            self.grams_after += c.after
            self.shortfall += c.shortfall
            self.capped += c.capped
            if c.delta:
                self.changed += 1
                self.per_holder[c.holder] += c.delta
        for _, rejection in plan.not_applicable:
            self.not_applicable[rejection.reason.value] += 1


def requantify(
    ctx: Context,
    code: str,
    from_version: int,
    to_version: int,
    *,
    since: date | None = None,
    apply: bool = False,
    chunk: int = CHUNK,
) -> RequantifyReport:
    with ctx.uow(write=False) as uow:
        stored = ctx.catalogues.current(uow)
    old = stored.catalogue.get(f"{code}@{from_version}")
    new = stored.catalogue.get(f"{code}@{to_version}")
    if old is None or new is None:
        missing = f"{code}@{from_version}" if old is None else f"{code}@{to_version}"
        raise NotFoundError(f"no published methodology {missing}")
    if from_version == to_version:
        raise InvalidInputError("--from and --to name the same version")
    if old.group != new.group:
        raise InvalidInputError(
            f"{new.key} is in group {new.group}, {old.key} in {old.group}: re-quantifying "
            "across behaviour groups is not supported (publish under a new code instead)"
        )
    report = RequantifyReport(code, old.key, new.key, apply, since)
    old_id, new_id = stored.ids[old.key], stored.ids[new.key]
    carry: dict[tuple[str, str, str, date], int] = defaultdict(int)  # dry runs: earlier chunks
    after: uuid.UUID | None = None
    while True:
        with ctx.uow(write=apply) as uow:
            rows = uow.corrections.reductions_at(old_id, since, after, chunk)
            if not rows:
                break
            if apply:
                # lock the holders (the event rows' and those who bought grams of them), then
                # make sure none of the reductions moved meanwhile
                bought, _ = uow.market.holders_of([r.id for r in rows], ctx.clock.now())
                others = {h for by_holder in bought.values() for h in by_holder}
                uow.locks.acquire(sorted({r.holder for r in rows} | others))
                fresh = uow.corrections.reductions_at(old_id, None, None, len(rows),
                                                      [r.id for r in rows])  # fmt: skip
                if [(r.id, r.holder, r.live_grams) for r in fresh] != [
                    (r.id, r.holder, r.live_grams) for r in rows
                ]:
                    continue  # a binding moved some: take the chunk again
            plan = _plan(ctx, uow, stored, rows, new, carry)
            report.add(plan)
            if apply:
                if plan.entry is not None:
                    uow.ledger.open(plan.entry)
                before = uow.aggregates.snapshots([r.id for r in rows])
                uow.corrections.record(
                    plan, old_id, new_id, [ctx.ids.new() for _ in plan.corrections],
                    ctx.clock.now(),
                )  # fmt: skip
                if plan.entry is not None:
                    uow.ledger.record(plan.entry, lines_on_events=False)
                    uow.market.apply_lineage(
                        correction_lineage(plan.entry, {r.id: r.holder for r in rows})
                    )
                uow.intake.add_region_totals(plan.region_deltas)
                after_ = uow.aggregates.snapshots([r.id for r in rows])
                uow.aggregates.record(changes_between(before, after_))
                uow.commit()
            else:
                by_id = {r.id: r for r in rows}
                for c in plan.corrections:
                    r = by_id[c.reduction_id]
                    key = (c.holder, c.group, r.event.behaviour)
                    for day, share in day_shares(r, c.after):
                        carry[(*key, day)] += share
                    for day, share in day_shares(r, c.before):
                        carry[(*key, day)] -= share
            after = rows[-1].id
    return report


def _plan(
    ctx: Context,
    uow: UnitOfWork,
    stored: StoredCatalogue,
    rows: list[StoredReduction],
    new: Methodology,
    carry: dict[tuple[str, str, str, date], int],
) -> RequantifyPlan:
    holders = sorted({r.holder for r in rows})
    # the caps of every day a reduction covers: the claims on those days, and those that
    # started earlier and still cover one of them (caps.py), as intake loads them
    covered = {r.id: [day for day, _ in day_shares(r, 1)] for r in rows}
    days = {day for r in rows for day in covered[r.id]}
    scopes = claim_scopes(
        (
            Claimed(new.group, day, r.event.started_at, r.event.ended_at)
            for r in rows
            for day in covered[r.id]
        ),
        stored.catalogue,
    )
    book = ClaimBook(uow.intake.claims_for(holders, scopes))
    for (holder, group, behaviour, day), grams in carry.items():
        if holder in holders and day in days:
            book.adjust(holder, group, behaviour, day, grams)
    holdings = _holdings(uow, rows, ctx.clock.now())
    pairs = [(h, r.asset) for r in rows for h in holdings[r.id]]
    balances = uow.corrections.balances_for(pairs)
    return plan_requantify(
        rows, new, stored.catalogue, book, balances, ctx.ids.new(), ctx.clock.now(), holdings
    )


def _holdings(
    uow: UnitOfWork, rows: list[StoredReduction], now: datetime
) -> dict[uuid.UUID, dict[str, int]]:
    """Per reduction, what each holder of it may give back: the event holder its live grams
    plus its lineage delta, a buyer its delta; less what open holds reserve (domain/market)."""
    deltas, reserved = uow.market.holders_of([r.id for r in rows], now)
    found: dict[uuid.UUID, dict[str, int]] = {}
    for r in rows:
        lots = dict(deltas.get(r.id, {}))
        lots[r.holder] = r.live_grams + lots.get(r.holder, 0)
        found[r.id] = {h: g - reserved.get((h, r.id), 0) for h, g in lots.items()}
    return found
