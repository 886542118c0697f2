"""Helpers for the property and concurrency tests.

Worker functions run in child processes started with the 'spawn' method, so they live in this
importable module (not in a test file) and receive only picklable arguments: each builds its
own App from the database URL, so no connection is ever shared with the parent. The module
also holds the invariant checks both test files run against the stored events, written
independently of `ledger verify`.
"""

from __future__ import annotations

import time
import traceback
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import App, build
from tanpuhui.config import Settings
from tanpuhui.domain.caps import days_covered, spread
from tanpuhui.domain.dedup import same_act
from tanpuhui.domain.intake import Outcome
from tanpuhui.domain.ledger import is_holder
from tanpuhui.domain.methodology import Group

# --- workers (run in spawned child processes) -------------------------------------------------

#: One unit of work for a worker: ("submit", enterprise id, raw events) or
#: ("bind", enterprise id, subject, person id) or ("sleep", seconds).
Job = tuple[Any, ...]


@dataclass(frozen=True)
class JobResult:
    job: int  # index of the job in the worker's list
    kind: str
    outcomes: list[Outcome] | None = None
    moved: int = 0
    reversed: int = 0
    created: bool = False
    error: str | None = None


def run_jobs(
    worker: int,
    url: str,
    now: datetime,
    jobs: Sequence[Job],
    start: Any,  # a multiprocessing Barrier shared by every worker
    results: Any,  # a multiprocessing Queue: (worker, [JobResult]) or (worker, traceback)
) -> None:
    """Build an App of our own, wait for every worker at the barrier, run the jobs in order."""
    from tanpuhui.services.intake import submit_events
    from tanpuhui.services.parties import bind_subject

    app: App | None = None
    try:
        app = build(Settings(database_url=url, pool_size=2), clock=FixedClock(now))
        with app.engine.connect() as conn:  # connect before the start line, not after it
            conn.exec_driver_sql("SELECT 1")
        start.wait(timeout=120)
        done: list[JobResult] = []
        for index, job in enumerate(jobs):
            if job[0] == "submit":
                _, enterprise_id, raws = job
                outcomes = submit_events(app.ctx, enterprise_id, raws)
                done.append(JobResult(index, "submit", outcomes=outcomes))
            elif job[0] == "bind":
                _, enterprise_id, subject, person_id = job
                bound = bind_subject(app.ctx, enterprise_id, subject, person_id)
                done.append(
                    JobResult(
                        index,
                        "bind",
                        moved=bound.moved_grams,
                        reversed=bound.reversed_grams,
                        created=bound.created,
                    )
                )
            elif job[0] == "sleep":
                time.sleep(job[1])
            else:  # pragma: no cover - a mistake in the test
                raise ValueError(f"unknown job {job[0]!r}")
        results.put((worker, done))
    except BaseException:
        results.put((worker, traceback.format_exc()))
    finally:
        if app is not None:
            app.close()


# --- invariant checks over the stored events -------------------------------------------------


@dataclass(frozen=True)
class ClaimRow:
    id: uuid.UUID
    holder: str
    group: str
    behaviour: str
    day: Any
    started_at: datetime
    ended_at: datetime
    grams: int


def active_claims(app: App) -> list[ClaimRow]:
    """Every active credited reduction (what a holder holds a claim on)."""
    e = t.events.c
    query = sa.select(
        e.id, e.holder, e.group_code, e.behaviour, e.day, e.started_at, e.ended_at, e.live_grams
    ).where(e.state == "active")
    with app.engine.connect() as conn:
        return [ClaimRow(*r) for r in conn.execute(query)]


def overlap_violations(claims: Sequence[ClaimRow], groups: Mapping[str, Group]) -> list[str]:
    """Pairs of active claims of one holder that are the same act in an exclusive group
    (`dedup.same_act`: overlapping or within the clock-skew tolerance), compared pairwise."""
    found = []
    by_holder_group: dict[tuple[str, str], list[ClaimRow]] = defaultdict(list)
    for c in claims:
        by_holder_group[(c.holder, c.group)].append(c)
    for (holder, code), members in sorted(by_holder_group.items()):
        group = groups[code]
        if not group.exclusive:
            continue
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                skew = timedelta(seconds=group.clock_skew_s)
                if same_act(a.started_at, a.ended_at, b.started_at, b.ended_at, skew):
                    found.append(
                        f"{holder}: {a.id} [{a.started_at}, {a.ended_at}] and {b.id} "
                        f"[{b.started_at}, {b.ended_at}] are one act in {code}"
                    )
    return found


def cap_violations(claims: Sequence[ClaimRow], groups: Mapping[str, Group]) -> list[str]:
    totals: dict[tuple[str, str, Any], int] = defaultdict(int)
    for c in claims:  # per day of the period each claim covers (domain/caps.py)
        for day, grams in spread(c.grams, c.day, days_covered(c.started_at, c.ended_at)):
            totals[(c.holder, c.group, day)] += grams
    found = []
    for (holder, code, day), grams in sorted(totals.items()):
        cap = groups[code].daily_cap_grams
        if cap is not None and grams > cap:
            found.append(f"{holder}: {grams} g of {code} on {day} > cap {cap}")
    return found


def duplicate_keys(app: App) -> list[Any]:
    """(enterprise, event id) pairs stored more than once."""
    e = t.events.c
    query = (
        sa.select(e.enterprise_id, e.event_id, sa.func.count())
        .group_by(e.enterprise_id, e.event_id)
        .having(sa.func.count() > 1)
    )
    with app.engine.connect() as conn:
        return list(conn.execute(query))


def stored_keys(app: App) -> set[tuple[uuid.UUID, str]]:
    e = t.events.c
    with app.engine.connect() as conn:
        return {(r[0], r[1]) for r in conn.execute(sa.select(e.enterprise_id, e.event_id))}


def balances(app: App) -> dict[str, int]:
    """CO2e grams per account (all asset classes summed)."""
    b = t.balances.c
    totals: dict[str, int] = defaultdict(int)
    with app.engine.connect() as conn:
        for account, amount in conn.execute(
            sa.select(b.account, b.amount).where(b.asset.like("co2e:%"))
        ):
            totals[account] += amount
    return dict(totals)


def holder_and_issuance_totals(app: App) -> tuple[int, int]:
    totals = balances(app)
    holders = sum(v for k, v in totals.items() if is_holder(k))
    issuance = sum(v for k, v in totals.items() if k.startswith("issuance:"))
    return holders, issuance
