"""`tanpuhui bench market`: concurrent sales against the ceiling of bare two-row transactions.

Set-up (untimed): a scene enterprise credits every seller a few bike rides; a platform
enterprise publishes a points offer whose budget covers 90% of what the sellers will try to
sell, so the last sales race for the budget. Then `--sellers` sellers sell `--grams` at a time,
each in its own thread, spread over the worker processes, until their balance or the budget
runs out. Printed: completed sales per second, p50/p99 latency of a sale, the sales refused
by reason, oversold grams (the enterprise holding more than the budget, or any holder
negative: must be 0) and `ledger verify`.

In the same run, on the same engine and with the same concurrency, the same number of bare
two-row transactions (update one balance row of the seller, insert one row) is timed: the
ceiling a sale is compared with. Not a test: nothing asserts on time.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer

from tanpuhui.adapters.db.embedded import create_database, server_cpu_seconds, start_server
from tanpuhui.adapters.db.engine import create_engine
from tanpuhui.adapters.processes import die_with_parent
from tanpuhui.adapters.programme_files import parse_programme
from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import build, business_clock, upgrade_database
from tanpuhui.cli.bench import CpuProbe, _difference, _no_probe
from tanpuhui.cli.common import console, emit_json, err_console, handled
from tanpuhui.config import Settings
from tanpuhui.domain.errors import InvalidInputError, TanpuhuiError
from tanpuhui.domain.parties import Role
from tanpuhui.services.intake import submit_events
from tanpuhui.services.ledger import verify_ledger
from tanpuhui.services.market import OfferTerms, create_offer, sell_reductions
from tanpuhui.services.parties import add_enterprise, add_persons, bind_subjects
from tanpuhui.services.programmes import publish_programme

PROGRAMME = Path(__file__).parents[1] / "programmes" / "luzhou.lvya@1.yaml"


def _rides(subject: str, count: int, now: datetime) -> list[dict[str, Any]]:
    start = now - timedelta(days=count + 1)
    return [
        {
            "event_id": f"{subject}-{i}",
            "subject": subject,
            "behaviour": "bike_share_ride",
            "started_at": (start + timedelta(days=i)).isoformat(),
            "ended_at": (start + timedelta(days=i, minutes=12)).isoformat(),
            "quantity": {"distance_km": "3.42"},
            "region": "420106",
        }
        for i in range(count)
    ]


def _set_up(
    url: str, sellers: int, rides: int, grams: int, now: datetime, offers: int = 1
) -> dict[str, Any]:
    app = build(Settings(database_url=url), clock=FixedClock(now))
    try:
        upgrade_database(app)
        ctx = app.ctx
        programme, content = parse_programme(PROGRAMME.read_text(encoding="utf-8"), PROGRAMME.name)
        publish_programme(ctx, programme, content)
        bikes = add_enterprise(ctx, "Bench Bikes", {Role.SCENE}).id
        buyers = [
            add_enterprise(ctx, f"Bench Maps {i}" if i else "Bench Maps", {Role.PLATFORM}).id
            for i in range(offers)
        ]
        persons = add_persons(ctx, sellers)
        bind_subjects(ctx, [(bikes, f"s{i}", p.id) for i, p in enumerate(persons)])
        events = [e for i in range(sellers) for e in _rides(f"s{i}", rides, now)]
        for at in range(0, len(events), 5000):
            submit_events(ctx, bikes, events[at : at + 5000], source="bench")
        with app.engine.connect() as conn:
            held: dict[str, int] = dict(
                conn.execute(
                    sa.text("select account, sum(amount) from balances where account like "
                            "'person:%' and asset like 'co2e:%' group by account")
                ).all()
            )  # fmt: skip
        budgets, demands = [], []
        for i in range(offers):  # seller k sells to offer k mod offers
            mine = [f"person:{p.id}" for p in persons[i::offers]]
            demands.append(sum(int(held.get(a, 0)) // grams * grams for a in mine))
            budgets.append(max(grams, demands[-1] * 9 // 10))
        ids = [
            create_offer(
                ctx, buyer, OfferTerms(budget, points_per_kg=100, programme=programme.code)
            ).offer.id
            for buyer, budget in zip(buyers, budgets, strict=True)
        ]
        return {
            "persons": [str(p.id) for p in persons],
            "offers": [str(o) for o in ids],
            "offer": str(ids[0]),
            "buyers": [str(b) for b in buyers],
            "buyer": str(buyers[0]),
            "budgets": budgets,
            "budget": sum(budgets),
            "demand": sum(demands),
        }
    finally:
        app.close()


def _seller_loop(
    app: Any, person: uuid.UUID, offer: uuid.UUID, grams: int, out: list[tuple[str, float]]
) -> None:
    while True:
        started = time.perf_counter()
        try:
            sell_reductions(app.ctx, person, offer, grams)
        except TanpuhuiError as exc:
            out.append((exc.code, time.perf_counter() - started))
            if exc.code in ("insufficient_balance", "budget_exhausted"):
                return
            continue
        out.append(("completed", time.perf_counter() - started))


def _sales_worker(url: str, sellers: list[str], grams: int, start: float, q: Any) -> None:
    """`sellers`: "person/offer" pairs, one thread each."""
    die_with_parent()
    app = build(Settings(database_url=url, pool_size=len(sellers) + 2))
    results: list[list[tuple[str, float]]] = [[] for _ in sellers]
    pairs = [[uuid.UUID(x) for x in seller.split("/")] for seller in sellers]
    threads = [
        threading.Thread(target=_seller_loop, args=(app, p, o, grams, results[i]))
        for i, (p, o) in enumerate(pairs)
    ]
    time.sleep(max(0.0, start - time.time()))
    began, cpu = time.perf_counter(), time.process_time()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    groups = app.ctx.sale_groups
    q.put(
        (
            time.perf_counter() - began,
            [r for rs in results for r in rs],
            {"cpu": time.process_time() - cpu, "groups": groups.groups, "in_groups": groups.items},
        )
    )
    app.close()


def _bare_worker(url: str, accounts: list[str], per_thread: int, start: float, q: Any) -> None:
    """The ceiling: per transaction, update one balance row and insert one row."""
    die_with_parent()
    engine = create_engine(url)

    def loop(account: str) -> None:
        for _ in range(per_thread):
            with engine.begin() as conn:
                conn.execute(
                    sa.text("update bench_balances set amount = amount - 1 where account = :a"),
                    {"a": account},
                )
                conn.execute(
                    sa.text("insert into bench_rows (id, account, amount) values (:i, :a, 1)"),
                    {"i": str(uuid.uuid4()), "a": account},
                )

    threads = [threading.Thread(target=loop, args=(a,)) for a in accounts]
    time.sleep(max(0.0, start - time.time()))
    began = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    q.put((time.perf_counter() - began, [], {}))
    engine.dispose()


def _run(target: Any, parts: list[list[str]], args: tuple[Any, ...]) -> list[Any]:
    spawn = multiprocessing.get_context("spawn")
    q = spawn.Queue()
    start = time.time() + 3.0  # every process built and waiting before the clock starts
    procs = [
        spawn.Process(target=target, args=(args[0], part, *args[1:], start, q)) for part in parts
    ]
    for p in procs:
        p.start()
    got = [q.get(timeout=3600) for _ in procs]
    for p in procs:
        p.join()
    return got


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct))] if ordered else 0.0


def _ceiling(url: str, sellers: int, transactions: int, workers: int) -> float:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("create table bench_balances (account text primary key, amount bigint)")
        )
        conn.execute(
            sa.text("create table bench_rows (id text primary key, account text, amount bigint)")
        )
        for i in range(sellers):
            conn.execute(
                sa.text("insert into bench_balances values (:a, 1000000000)"), {"a": f"b{i}"}
            )
    engine.dispose()
    accounts = [f"b{i}" for i in range(sellers)]
    per_thread = max(1, transactions // sellers)
    parts = [accounts[w::workers] for w in range(workers)]
    got = _run(_bare_worker, parts, (url, per_thread))
    return float(per_thread * sellers / max(s for s, _, _ in got))


def _oversold(url: str, buyers: list[str], budgets: list[int]) -> int:
    engine = sa.create_engine(url)
    over = 0
    with engine.connect() as conn:
        for buyer, budget in zip(buyers, budgets, strict=True):
            bought = conn.execute(
                sa.text("select coalesce(sum(amount), 0) from balances where account = :a "
                        "and asset like 'co2e:%'"), {"a": f"enterprise:{buyer}"},
            ).scalar_one()  # fmt: skip
            over += max(0, int(bought) - budget)
        negative = conn.execute(
            sa.text("select coalesce(sum(-amount), 0) from balances where amount < 0 "
                    "and account not like 'issuance:%'")
        ).scalar_one()  # fmt: skip
    engine.dispose()
    return over + int(negative)


@handled
def bench_market(
    sellers: Annotated[int, typer.Option(min=1, max=512, help="Concurrent sellers.")] = 64,
    engine: Annotated[str, typer.Option(help="sqlite or postgres (embedded server)")] = "sqlite",
    rides: Annotated[int, typer.Option(min=1, max=1000, help="Credited rides per seller.")] = 20,
    grams: Annotated[int, typer.Option(min=10, help="Grams per sale.")] = 100,
    workers: Annotated[int | None, typer.Option(min=1, max=16, help="Processes.")] = None,
    offers: Annotated[
        int,
        typer.Option(min=1, max=64, help="Offers of as many buyers; seller k sells to k mod N."),
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Concurrent sales to one offer against bare two-row transactions on the same engine."""
    if engine not in ("sqlite", "postgres"):
        raise InvalidInputError("--engine must be sqlite or postgres")
    procs = workers or (1 if engine == "sqlite" else os.cpu_count() or 1)
    work = Path(tempfile.mkdtemp(prefix="tanpuhui-bench-market-"))
    server = None
    probe: CpuProbe = _no_probe
    try:
        if engine == "sqlite":
            url, bare_url = f"sqlite:///{work / 'market.db'}", f"sqlite:///{work / 'bare.db'}"
        else:
            server, server_url = start_server(work / "pg")

            def probe() -> float | None:
                return server_cpu_seconds(work / "pg" / "pgdata")

            url = create_database(server_url, "bench_market")
            bare_url = create_database(server_url, "bench_bare")
        err_console.print(f"setting up {sellers} sellers with {rides} rides each …")
        if offers > sellers:
            raise InvalidInputError("--offers is at most --sellers")
        setup = _set_up(url, sellers, rides, grams, business_clock(Settings()).now(), offers)
        err_console.print("selling …")
        pairs = [f"{p}/{setup['offers'][k % offers]}" for k, p in enumerate(setup["persons"])]
        parts = [pairs[w::procs] for w in range(procs) if pairs[w::procs]]
        server_before = probe()
        got = _run(_sales_worker, parts, (url, grams))
        server_seconds = _difference(server_before, probe())
        seconds = max(s for s, _, _ in got)
        outcomes = [r for _, rs, _ in got for r in rs]
        python_seconds = sum(x["cpu"] for _, _, x in got)
        groups = sum(x["groups"] for _, _, x in got)
        in_groups = sum(x["in_groups"] for _, _, x in got)
        completed = [lat for code, lat in outcomes if code == "completed"]
        refused: dict[str, int] = {}
        for code, _ in outcomes:
            if code != "completed":
                refused[code] = refused.get(code, 0) + 1
        err_console.print("bare two-row transactions …")
        ceiling = _ceiling(bare_url, sellers, len(outcomes), len(parts))
        app = build(Settings(database_url=url))
        violations = len(verify_ledger(app.ctx))
        app.close()
        rate = len(completed) / seconds
        result = {
            "engine": engine,
            "sellers": sellers,
            "offers": offers,
            "workers": len(parts),
            "grams_per_sale": grams,
            "budget_grams": setup["budget"],
            "completed": len(completed),
            "refused": refused,
            "seconds": round(seconds, 2),
            "sales_per_s": round(rate),
            "p50_ms": round(_percentile(completed, 0.5) * 1000, 2),
            "p99_ms": round(_percentile(completed, 0.99) * 1000, 2),
            "oversold_grams": _oversold(url, setup["buyers"], setup["budgets"]),
            "bare_two_row_tx_per_s": round(ceiling),
            "ratio": round(rate / ceiling, 3),
            "verify_violations": violations,
            # CPU per completed sale: the sellers' processes (threads included) and, on
            # PostgreSQL, the server's processes over the same phase
            "python_cpu_ms_per_sale": round(python_seconds * 1000 / max(1, len(completed)), 3),
            "server_cpu_ms_per_sale": (
                None
                if server_seconds is None
                else round(server_seconds * 1000 / max(1, len(completed)), 3)
            ),
            "requests_per_group": round(in_groups / max(1, groups), 1),
        }
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    if as_json:
        emit_json(result)
        return
    console.print(
        f"[bold]{engine}[/], {sellers} sellers, {offers} offer(s), "
        f"{result['workers']} process(es):\n"
        f"  sales            {result['sales_per_s']:>7,} completed/s ({result['completed']:,} in "
        f"{result['seconds']} s), p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms\n"
        f"  refused          {refused}\n"
        f"  oversold         {result['oversold_grams']} g\n"
        f"  bare 2-row tx    {result['bare_two_row_tx_per_s']:>7,} /s (same engine, same run)\n"
        f"  ratio            {result['ratio']:.0%} of the ceiling\n"
        f"  CPU per sale     {result['python_cpu_ms_per_sale']} ms Python"
        + (
            ""
            if result["server_cpu_ms_per_sale"] is None
            else f", {result['server_cpu_ms_per_sale']} ms server"
        )
        + f"; {result['requests_per_group']} requests per group\n"
        f"  ledger verify    {violations} violation(s)"
    )
