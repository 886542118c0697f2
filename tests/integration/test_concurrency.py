"""Concurrent intake on PostgreSQL: several processes submit overlapping batches at once.

Four worker processes (started with 'spawn', each with an App of its own built from the
database URL) wait at a barrier and then submit batches that overlap in every way the
pipeline must settle exactly once: the same events in several batches, the same batch in
every worker, the same trip reported by two enterprises for one person, the same order
reported by two enterprises, and more walking than the 296 g daily cap allows. A second test
races `bind_subject` against intake of the same subjects. A third forces, with two threads,
the races on a unique index that no advisory lock prevents (evidence across enterprises, one
event id sent for two subjects, a malformed event in two batches): the loser must be retried.

Afterwards: one row per (enterprise, event id); exactly one first (non-replayed) answer per
event and every other answer equal to it; no overlapping claims and no cap exceeded; each
real trip, order and walking day credited exactly once / exactly up to the cap; the grams in
the answers are the grams in the ledger; `verify_ledger` is clean.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tanpuhui.adapters.db import schema as t
from tanpuhui.adapters.db.intake_repository import SqlIntake
from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import App, build
from tanpuhui.config import Settings
from tanpuhui.domain.intake import Outcome, OutcomeKind
from tanpuhui.domain.ledger import pending_account, person_account
from tanpuhui.domain.methodology import Catalogue
from tanpuhui.domain.parties import Enterprise, Role
from tanpuhui.services.evidence import authorise_issuer
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.parties import add_enterprise, add_person, bind_subject
from tests.builders import event
from tests.conftest import CST, NOW
from tests.db_fixtures import fresh_database_url
from tests.integration._workers import (
    JobResult,
    active_claims,
    balances,
    cap_violations,
    duplicate_keys,
    holder_and_issuance_totals,
    overlap_violations,
    run_jobs,
    stored_keys,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORKERS = 4
DAY = NOW.astimezone(CST).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
SLOTS = [DAY + timedelta(hours=7, minutes=40 * k) for k in range(6)]  # trips; none overlap
WALKING_CAP = 296


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    """A fresh PostgreSQL database (this module overrides the parametrized `app`)."""
    url = fresh_database_url(request, "postgres", tmp_path)
    built = build(Settings(database_url=url), clock=FixedClock(NOW))
    yield built
    built.close()


def url_of(app: App) -> str:
    return app.engine.url.render_as_string(hide_password=False)


def bike(event_id: str, subject: str, slot: int, *, jitter_s: int = 0) -> dict[str, Any]:
    return event(
        event_id=event_id,
        subject=subject,
        start=SLOTS[slot] + timedelta(seconds=jitter_s),
        minutes=12,
    )


def metro(event_id: str, subject: str, slot: int, *, jitter_s: int = 0) -> dict[str, Any]:
    return event(
        event_id=event_id,
        subject=subject,
        behaviour="metro_ride",
        start=SLOTS[slot] + timedelta(seconds=jitter_s),
        minutes=11,
        quantity={"distance_km": "5"},
    )


def walk(event_id: str, subject: str, hour: int) -> dict[str, Any]:
    """An hour of walking in Luzhou, a count that grows with the hour: 10,000 steps = 164 g at
    00:00, 24,000 = 393 g at 07:00. A day's counts are merged (the largest counts), and from
    hour 6 on the largest passes the 296 g cap."""
    return event(
        event_id=event_id,
        subject=subject,
        behaviour="walking_steps",
        region="510502",
        start=DAY + timedelta(hours=hour),
        minutes=60,
        quantity={"steps": str(10_000 + 2_000 * hour)},
    )


#: The issuer of the orders; every enterprise of a test may cite it (`cite_canteen`).
CANTEEN = "canteen:central"


def cite_canteen(app: App, *enterprises: Enterprise) -> None:
    for enterprise in enterprises:
        authorise_issuer(app.ctx, CANTEEN, enterprise.id)


def cutlery(event_id: str, subject: str, order: str) -> dict[str, Any]:
    return event(
        event_id=event_id,
        subject=subject,
        behaviour="no_disposable_cutlery",
        region="110101",
        start=DAY + timedelta(hours=12),
        minutes=30,
        quantity={"count": "1"},
        evidence={"ref": order, "issuer": CANTEEN},
    )


def batches_of(raws: list[dict[str, Any]], size: int, step: int) -> list[list[dict[str, Any]]]:
    """Overlapping windows: consecutive batches share `size - step` events."""
    return [raws[i : i + size] for i in range(0, max(len(raws) - size + step, 1), step)]


def run_workers(url: str, jobs: Sequence[Sequence[tuple[Any, ...]]]) -> list[list[JobResult]]:
    """Run one worker process per job list, all released at once; their results in order."""
    mp = multiprocessing.get_context("spawn")
    start = mp.Barrier(len(jobs))
    results = mp.Queue()
    processes = [
        mp.Process(target=run_jobs, args=(w, url, NOW, list(js), start, results), daemon=True)
        for w, js in enumerate(jobs)
    ]
    collected: dict[int, Any] = {}
    try:
        for p in processes:
            p.start()
        for _ in processes:  # drain the queue before joining, or a child may never exit
            worker, answer = results.get(timeout=300)
            collected[worker] = answer
        for p in processes:
            p.join(timeout=60)
            assert p.exitcode == 0, f"worker exited with {p.exitcode}"
    finally:
        for p in processes:
            if p.is_alive():
                p.terminate()
                p.join(timeout=10)
        results.close()
        results.join_thread()
    failures = {w: a for w, a in collected.items() if isinstance(a, str)}
    assert not failures, "\n".join(f"worker {w}:\n{tb}" for w, tb in failures.items())
    return [collected[w] for w in range(len(jobs))]


def answers_by_key(
    jobs: Sequence[Sequence[tuple[Any, ...]]], results: Sequence[Sequence[JobResult]]
) -> dict[tuple[uuid.UUID, str], list[Outcome]]:
    """Every answer given for each (enterprise, event id), whichever worker got it."""
    answers: dict[tuple[uuid.UUID, str], list[Outcome]] = defaultdict(list)
    for worker_jobs, worker_results in zip(jobs, results, strict=True):
        for r in worker_results:
            if r.kind != "submit":
                continue
            enterprise_id = worker_jobs[r.job][1]
            assert r.outcomes is not None
            for o in r.outcomes:
                assert o.event_id is not None
                answers[(enterprise_id, o.event_id)].append(o)
    return answers


def check_answers(answers: dict[tuple[uuid.UUID, str], list[Outcome]]) -> int:
    """Exactly one first answer per event, every other answer the same apart from position
    and `replayed`; returns the grams the first answers credited."""
    credited = 0
    for key, given in answers.items():
        first = [o for o in given if not o.replayed]
        assert len(first) == 1, (key, given)
        (decided,) = first
        assert decided.kind is not OutcomeKind.CONFLICT, (key, decided)
        assert (decided.kind is OutcomeKind.REJECTED) == key[1].endswith("-bad"), (key, decided)
        same = decided._replace(position=0)
        assert all(o._replace(position=0, replayed=False) == same for o in given), (key, given)
        credited += decided.grams
    return credited


def check_ledger(app: App, catalogue: Catalogue, keys: set[tuple[uuid.UUID, str]]) -> None:
    assert duplicate_keys(app) == []
    assert stored_keys(app) == keys
    claims = active_claims(app)
    assert overlap_violations(claims, catalogue.groups) == []
    assert cap_violations(claims, catalogue.groups) == []
    assert verify_ledger(app.ctx) == []


def credited_per(app: App, holder: str, group: str) -> tuple[int, int]:
    """(number, grams) of the active claims of `holder` in `group`."""
    claims = [c for c in active_claims(app) if c.holder == holder and c.group == group]
    return len(claims), sum(c.grams for c in claims)


def evidence_claims(app: App) -> dict[str, int]:
    """Active reductions per evidence ref."""
    e = t.events.c
    with app.engine.connect() as conn:
        found = conn.execute(
            sa.select(e.evidence_ref, sa.func.count())
            .where(e.state == "active", e.evidence_ref.is_not(None))
            .group_by(e.evidence_ref)
        )
        return dict(found.all())


def test_overlapping_batches_from_four_processes_settle_every_event_once(
    app: App, catalogue: Catalogue
) -> None:
    bikes, maps, food = (
        add_enterprise(app.ctx, name, {Role.SCENE}) for name in ("Bikes", "Maps", "Food")
    )
    cite_canteen(app, bikes, maps, food)
    persons = [add_person(app.ctx) for _ in range(4)]
    for i, person in enumerate(persons):
        bind_subject(app.ctx, bikes.id, f"b-{i}", person.id)
        bind_subject(app.ctx, maps.id, f"m-{i}", person.id)
        if i < 2:  # the food app's other two customers stay unbound (pending accounts)
            bind_subject(app.ctx, food.id, f"f-{i}", person.id)

    raws: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for i in range(len(persons)):
        for k in range(len(SLOTS)):
            # one trip, reported by the bike app and (30 s later, 11 min) by the map app
            raws[bikes.id].append(bike(f"ride-{i}-{k}", f"b-{i}", k))
            raws[maps.id].append(metro(f"nav-{i}-{k}", f"m-{i}", k, jitter_s=30))
        for hour in range(8):  # up to 393 g of walking a day against a 296 g cap
            raws[bikes.id].append(walk(f"walk-{i}-{hour}", f"b-{i}", hour))
        for hour in (*range(4), 20, 21):  # the map app counts some of the same hours
            raws[maps.id].append(walk(f"steps-{i}-{hour}", f"m-{i}", hour))
        for n in range(4):  # the same orders from the food app and the bike app's shop
            raws[food.id].append(cutlery(f"order-{i}-{n}", f"f-{i}", f"o-{i}-{n}"))
            raws[bikes.id].append(cutlery(f"shop-{i}-{n}", f"b-{i}", f"o-{i}-{n}"))
    # the same orders reported for two persons by two enterprises: the first batch of every
    # worker, so that they race each other (evidence) and their own copies (replays)
    # (with a malformed event each: it locks nothing, so its copies race too)
    hot = [
        (
            "submit",
            enterprise.id,
            [
                *(cutlery(f"gift-{n}", subject, f"shared-{n}") for n in range(4)),
                event(event_id="gift-bad", subject=subject, region="999999"),
            ],
        )
        for enterprise, subject in ((maps, "m-1"), (food, "f-0"))
    ]
    for _, enterprise_id, events in hot:
        raws[enterprise_id] += events

    batches: list[tuple[str, uuid.UUID, list[dict[str, Any]]]] = []
    rng = random.Random(20261117)
    for enterprise_id, events in raws.items():
        shuffled = [r for r in events if not r["event_id"].startswith("gift-")]
        rng.shuffle(shuffled)
        batches += [("submit", enterprise_id, b) for b in batches_of(shuffled, size=12, step=7)]
    # every worker submits every batch, each in its own order: each batch is replayed
    # concurrently, and every event races its copies in other batches
    jobs = []
    for w in range(WORKERS):
        order = batches[:]
        random.Random(w).shuffle(order)
        jobs.append([hot[w % 2], *order, hot[(w + 1) % 2]])

    results = run_workers(url_of(app), jobs)

    answers = answers_by_key(jobs, results)
    keys = {(enterprise_id, r["event_id"]) for enterprise_id, rs in raws.items() for r in rs}
    assert set(answers) == keys
    credited = check_answers(answers)
    check_ledger(app, catalogue, keys)
    holders, issuance = holder_and_issuance_totals(app)
    assert credited == holders == -issuance
    for person in persons:
        account = person_account(person.id)
        # each trip once (the bike ride or the map's navigation); walking exactly up to the cap
        assert credited_per(app, account, "mobility")[0] == len(SLOTS)
        assert credited_per(app, account, "walking")[1] == WALKING_CAP
    # each order once, whoever reported it first (a pending customer or a person)
    assert evidence_claims(app) == {
        **{f"o-{i}-{n}": 1 for i in range(len(persons)) for n in range(4)},
        **{f"shared-{n}": 1 for n in range(4)},
    }


def test_binding_races_intake_of_the_same_subjects(app: App, catalogue: Catalogue) -> None:
    bikes, maps = (add_enterprise(app.ctx, name, {Role.SCENE}) for name in ("Bikes", "Maps"))
    persons = [add_person(app.ctx) for _ in range(4)]
    for i, person in enumerate(persons):  # the map app's subjects are bound from the start
        bind_subject(app.ctx, maps.id, f"m-{i}", person.id)

    bike_raws, map_raws = [], []
    for i in range(len(persons)):
        for k in range(len(SLOTS)):
            bike_raws.append(bike(f"ride-{i}-{k}", f"s-{i}", k))
            if k % 2 == 0:  # half the trips are also reported by the map app
                map_raws.append(metro(f"nav-{i}-{k}", f"m-{i}", k, jitter_s=30))
        for hour in range(8):
            bike_raws.append(walk(f"walk-{i}-{hour}", f"s-{i}", hour))
        for hour in (1, 3, 22):
            map_raws.append(walk(f"steps-{i}-{hour}", f"m-{i}", hour))
    batches = [("submit", bikes.id, b) for b in batches_of(bike_raws, size=5, step=3)]
    batches += [("submit", maps.id, b) for b in batches_of(map_raws, size=5, step=3)]

    # three workers submit everything (each in its own order) while the fourth binds the bike
    # app's subjects one after another, in the middle of it
    jobs: list[list[tuple[Any, ...]]] = []
    for w in range(WORKERS - 1):
        order = batches[:]
        random.Random(w).shuffle(order)
        jobs.append(order)
    binder: list[tuple[Any, ...]] = []
    for i, person in enumerate(persons):
        binder += [("sleep", 0.03), ("bind", bikes.id, f"s-{i}", person.id)]
    jobs.append(binder)

    results = run_workers(url_of(app), jobs)

    bound = [r for r in results[-1] if r.kind == "bind"]
    assert len(bound) == len(persons) and all(r.created for r in bound)
    reversed_grams = sum(r.reversed for r in bound)
    answers = answers_by_key(jobs, results)
    keys = {(bikes.id, r["event_id"]) for r in bike_raws} | {
        (maps.id, r["event_id"]) for r in map_raws
    }
    assert set(answers) == keys
    credited = check_answers(answers)
    check_ledger(app, catalogue, keys)
    # nothing lost, nothing doubled: what the answers credited, less what the bindings sent
    # back to issuance, is what the persons and pending accounts hold
    held = balances(app)
    persons_total = sum(held.get(person_account(p.id), 0) for p in persons)
    pending_total = sum(v for k, v in held.items() if k.startswith("pending:"))
    holders, issuance = holder_and_issuance_totals(app)
    assert pending_total + persons_total == holders == -issuance == credited - reversed_grams
    # and nothing was left behind in a pending account once its subject was bound
    for i in range(len(persons)):
        assert held.get(pending_account(bikes.id, f"s-{i}"), 0) == 0
    for person in persons:
        account = person_account(person.id)
        assert credited_per(app, account, "mobility")[0] == len(SLOTS)
        assert credited_per(app, account, "walking")[1] == WALKING_CAP


@pytest.mark.parametrize("collision", ["evidence", "event_id", "rejected_event"])
def test_two_transactions_colliding_on_a_unique_key_are_retried_not_failed(
    app: App, monkeypatch: pytest.MonkeyPatch, collision: str
) -> None:
    """A deterministic race: two batches that share no lock (other subjects, or none) both
    read their state, then both write rows that one unique index allows only once. The loser
    must be retried (and then see the winner's row), not fail.

    Suspected bug (adapters/db/bulk.py `insert_rows` with adapters/db/unit_of_work.py): on
    PostgreSQL the event rows go in with psycopg's COPY on the raw driver connection, so a
    unique violation arrives as a bare `psycopg.errors.UniqueViolation`, not as SQLAlchemy's
    `DBAPIError` that `SqlUnitOfWork` translates into `RaceLostError`; `submit_events` does not
    retry and the error escapes to the caller."""
    bikes, maps = (add_enterprise(app.ctx, name, {Role.SCENE}) for name in ("Bikes", "Maps"))
    cite_canteen(app, bikes, maps)
    first, second = {
        # the same order from two enterprises, for two unbound subjects
        "evidence": (
            (bikes.id, [cutlery("order-1", "b-1", "o-1")]),
            (maps.id, [cutlery("nav-1", "m-1", "o-1")]),
        ),
        # one event id of one enterprise, sent for two subjects (another payload)
        "event_id": (
            (bikes.id, [bike("ride-1", "b-1", 0)]),
            (bikes.id, [bike("ride-1", "b-2", 1)]),
        ),
        # the same malformed event in two batches: no subject, so no lock at all
        "rejected_event": (
            (bikes.id, [event(event_id="bad-1", region="999999")]),
            (bikes.id, [event(event_id="bad-1", region="999999")]),
        ),
    }[collision]
    both_read = threading.Barrier(2, timeout=30)
    waited = threading.local()
    save = SqlIntake.save

    def save_after_both_read(self: SqlIntake, *args: Any, **kwargs: Any) -> None:
        if not getattr(waited, "done", False):  # only the first attempt of each thread
            waited.done = True
            both_read.wait()
        save(self, *args, **kwargs)

    monkeypatch.setattr(SqlIntake, "save", save_after_both_read)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(submit_events, app.ctx, e, raws) for e, raws in (first, second)]
        (a,), (b,) = (f.result(timeout=60) for f in futures)

    kinds = sorted([(a.kind.value, a.replayed), (b.kind.value, b.replayed)])
    assert (
        kinds
        == {
            "evidence": [("duplicate", False), ("pending_binding", False)],
            "event_id": [("conflict", False), ("pending_binding", False)],
            "rejected_event": [("rejected", False), ("rejected", True)],
        }[collision]
    )
    assert duplicate_keys(app) == []
    assert verify_ledger(app.ctx) == []
