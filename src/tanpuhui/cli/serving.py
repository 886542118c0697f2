"""`tanpuhui serve` and `tanpuhui demo`: the commands that run a server.

Every process they start ends with them: `serve --workers N` gives uvicorn a worker factory
(`cli/worker.py`) that ties each worker to the supervisor, and the demo owns its server process
(`tanpuhui.demo`). A port in use is one `error[port_in_use]` line before anything starts.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tanpuhui.adapters.processes import die_with_parent, listen, port_error, port_is_free
from tanpuhui.bootstrap import tune_runtime
from tanpuhui.cli.common import JsonOption, console, emit_json, err_console, handled
from tanpuhui.domain.errors import InvalidInputError


@handled
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Processes (PostgreSQL).")] = 1,
    with_parent: Annotated[
        bool, typer.Option("--with-parent", hidden=True, help="End when the parent process ends.")
    ] = False,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs). Ctrl-C or SIGTERM stop
    it cleanly (exit 0), and its workers with it; SIGHUP stops one worker, and restarts the
    workers one by one with --workers."""
    import uvicorn

    from tanpuhui.cli.common import settings

    config = settings()
    config.check_production()
    if workers > 1 and config.database_url.startswith("sqlite"):
        raise InvalidInputError("several workers need PostgreSQL; SQLite has one writer")
    if with_parent:  # started by another command (a benchmark): never outlive it
        die_with_parent()
    if workers > 1:
        if not port_is_free(host, port):
            raise port_error(host, port)
        os.environ["TANPUHUI_DATABASE_URL"] = config.database_url  # for the worker processes
        uvicorn.run(
            "tanpuhui.cli.worker:app",
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            factory=True,
        )
        return
    from tanpuhui.api.app import create_app
    from tanpuhui.bootstrap import build

    sock = listen(host, port)
    tune_runtime()
    server = uvicorn.Server(uvicorn.Config(create_app(build(config)), log_level="warning"))
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, server.handle_exit)  # a clean stop, as on SIGTERM
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the stop signal after its clean shutdown
        return


@handled
def demo(
    db: Annotated[Path, typer.Option(help="SQLite file to create (replaced if it exists).")] = Path(
        "tanpuhui-demo.db"
    ),
    persons: Annotated[int, typer.Option(min=10, max=200_000)] = 10_000,
    days: Annotated[int, typer.Option(min=1, max=60)] = 30,
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    seed: Annotated[int, typer.Option()] = 2026,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop after the summary.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The live demo: eight enterprises post a simulated month for 10,000 people in five
    cities through the signed HTTP API; then the summary, and the server keeps serving until
    Ctrl-C, SIGTERM or SIGHUP (its process ends with the demo's, whatever ends it)."""
    from tanpuhui.demo import run_demo

    say = (lambda _t: None) if as_json else (lambda t: err_console.print(t, highlight=False))

    def summary(result: Any) -> None:
        _demo_summary(result, as_json)
        if not no_serve:  # on stderr after --json, so stdout stays one JSON document
            (err_console if as_json else console).print(
                f"serving at {result.base_url} (API docs at {result.base_url}/docs); the demo "
                f"enterprises' keys are in {result.credentials_file}. Ctrl-C to stop."
            )
            (err_console if as_json else console).print(
                f"pages at {result.base_url}/ — sign in as a demo person (the code is valid "
                f"10 minutes; `tanpuhui sign-in-code` issues more): {result.sign_in_link}",
                highlight=False,
                soft_wrap=True,  # a link cut by the terminal width would not open
            )

    run_demo(
        db, persons=persons, days=days, port=port, seed=seed, serve=not no_serve,
        progress=say, on_summary=summary,
    )  # fmt: skip


def _demo_summary(result: Any, as_json: bool) -> None:
    s = result.stats
    totals: Counter[str] = Counter()
    for counts in s.outcomes.values():
        totals.update(counts)
    data = {
        "persons": result.persons,
        "days": result.days,
        "seconds": round(result.seconds, 1),
        "events_posted": s.posted,
        "requests": s.requests,
        "outcomes": dict(totals),
        "outcomes_by_enterprise": {k: dict(v) for k, v in s.outcomes.items()},
        "replayed_events": s.replays,
        "grams_credited": s.grams,
        "late_bindings": len(s.bindings),
        "grams_moved_at_binding": sum(b["moved_grams"] for b in s.bindings),
        "grams_reversed_at_binding": sum(b["reversed_grams"] for b in s.bindings),
        "grams_by_city": result.by_city,
        "grams_held_by_persons": result.person_grams,
        "grams_pending_binding": result.pending_grams,
        "ledger_violations": result.violations,
        "checkpoint": {"id": result.checkpoint[0], "size": result.checkpoint[1]},
    }
    if as_json:
        emit_json(data)
        return
    console.print(
        f"[bold]{result.persons:,} people, {result.days} days, {s.posted:,} events in "
        f"{s.requests:,} signed requests, {result.seconds:.0f} s[/]"
    )
    table = Table("enterprise", *sorted(totals), title="outcomes")
    for key, name, _kind in result.enterprises:
        counts = s.outcomes.get(key, Counter())
        table.add_row(name, *(f"{counts.get(k, 0):,}" for k in sorted(totals)))
    table.add_row("all", *(f"{totals[k]:,}" for k in sorted(totals)), style="bold")
    console.print(table)
    cities = Table("city", "kg CO2e", title="reductions by city")
    for city, grams in result.by_city.items():
        cities.add_row(city, f"{grams / 1000:,.1f}")
    console.print(cities)
    console.print(
        f"retried batches replayed {s.replays:,} events, crediting nothing new; "
        f"{len(s.bindings):,} late bindings moved {data['grams_moved_at_binding']:,} g "
        f"(reversed {data['grams_reversed_at_binding']:,} g of duplicates/caps); people hold "
        f"{result.person_grams / 1000:,.1f} kg, {result.pending_grams / 1000:,.1f} kg await "
        f"binding"
    )
    if result.violations:
        err_console.print(f"ledger verify: {result.violations} violation(s)")
        raise typer.Exit(1)
    cp_id, leaves = result.checkpoint
    console.print(
        f"ledger verify: every invariant holds and every shard's log replays; checkpoint "
        f"{cp_id} signs all {leaves:,} log leaves ({result.base_url}/v1/log/checkpoint"
        + ("" if result.own_key else "; signed with the public dev key — set "
           "TANPUHUI_CHECKPOINT_KEY, from `tanpuhui ledger keygen`, for a key of your own")
        + ")",
        highlight=False,
        soft_wrap=True,
    )  # fmt: skip
