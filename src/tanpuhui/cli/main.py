"""`tanpuhui` — the command line of the platform."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tanpuhui.adapters.event_codec import EventDecoder
from tanpuhui.adapters.event_files import detect_format, read_events
from tanpuhui.bootstrap import tune_runtime, upgrade_database
from tanpuhui.cli import access, bench, docs, methodology
from tanpuhui.cli.common import app as open_app
from tanpuhui.cli.common import console, emit_json, err_console, handled, state
from tanpuhui.domain.errors import ConflictError, InvalidInputError
from tanpuhui.domain.intake import Outcome, OutcomeKind
from tanpuhui.domain.parties import Role
from tanpuhui.services import views
from tanpuhui.services.intake import settle_due, submit_events
from tanpuhui.services.ledger import resolve_account, show_ledger, verify_ledger
from tanpuhui.services.parties import (
    add_enterprise,
    add_person,
    bind_subject,
    list_enterprises,
    resolve_enterprise,
)

cli = typer.Typer(
    help="tanpuhui (碳普惠): meter, de-duplicate and ledger people's low-carbon behaviours.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="The database: schema migrations.", no_args_is_help=True)
enterprise_cli = typer.Typer(help="Enterprises (scene and platform).", no_args_is_help=True)
person_cli = typer.Typer(help="Persons (opaque ids).", no_args_is_help=True)
ledger_cli = typer.Typer(help="The personal carbon ledger.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(enterprise_cli, name="enterprise")
cli.add_typer(person_cli, name="person")
cli.add_typer(ledger_cli, name="ledger")
cli.add_typer(methodology.cli, name="methodology")
enterprise_cli.add_typer(access.credential_cli, name="credential")
cli.add_typer(bench.cli, name="bench")
cli.add_typer(docs.cli, name="docs")

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


@cli.callback()
def main_options(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="TANPUHUI_DATABASE_URL",
            help="sqlite:///path.db (default ./tanpuhui.db) or postgresql://…",
        ),
    ] = None,
) -> None:
    state.database_url = database_url


@db_cli.command("upgrade")
@handled
def db_upgrade(
    catalogue: Annotated[
        Path | None, typer.Option(help="A methodology catalogue directory to publish.")
    ] = None,
) -> None:
    """Migrate the schema to the newest version and publish the methodology catalogue."""
    with open_app() as app:
        report = upgrade_database(app, catalogue)
    console.print(
        f"database at head; methodologies: {len(report.added)} published, "
        f"{len(report.unchanged)} unchanged"
    )


@cli.command("settle")
@handled
def settle(as_json: JsonOption = False) -> None:
    """Settle the held day claims whose window has closed (car-free days …; docs/events.md)."""
    with open_app() as app:
        settled = settle_due(app.ctx)
    if as_json:
        emit_json({"settled": settled})
    else:
        console.print(f"{settled} held day claim(s) settled")


@enterprise_cli.command("add")
@handled
def enterprise_add(
    name: str,
    role: Annotated[list[Role], typer.Option("--role", help="scene and/or platform")],
    exist_ok: Annotated[
        bool, typer.Option("--exist-ok", help="Print the id of an existing one by that name.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Onboard an enterprise; prints its id."""
    with open_app() as app:
        try:
            enterprise = add_enterprise(app.ctx, name, set(role))
        except ConflictError:
            if not exist_ok:
                raise
            enterprise = resolve_enterprise(app.ctx, name)
    if as_json:
        emit_json({"id": str(enterprise.id), "name": enterprise.name})
    else:
        console.print(str(enterprise.id), highlight=False)


@enterprise_cli.command("list")
@handled
def enterprise_list(as_json: JsonOption = False) -> None:
    """Every enterprise with its roles."""
    with open_app() as app:
        enterprises = list_enterprises(app.ctx)
    if as_json:
        emit_json(
            [
                {"id": str(e.id), "name": e.name, "roles": sorted(r.value for r in e.roles)}
                for e in enterprises
            ]
        )
        return
    table = Table("id", "name", "roles")
    for e in enterprises:
        table.add_row(str(e.id), e.name, ", ".join(sorted(r.value for r in e.roles)))
    console.print(table)


@person_cli.command("add")
@handled
def person_add(as_json: JsonOption = False) -> None:
    """Create a person; prints the opaque person id."""
    with open_app() as app:
        person = add_person(app.ctx)
    if as_json:
        emit_json({"id": str(person.id)})
    else:
        console.print(str(person.id), highlight=False)


@person_cli.command("token")
@handled
def person_token(person: str, as_json: JsonOption = False) -> None:
    """Issue a bearer token for the person's own API calls (shown once)."""
    access.person_token(person, as_json)


@person_cli.command("binding-code")
@handled
def person_binding_code(person: str, as_json: JsonOption = False) -> None:
    """A one-time code the person gives a scene enterprise (also POST /v1/me/binding-codes)."""
    access.person_binding_code(person, as_json)


@cli.command("serve")
@handled
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Processes (PostgreSQL).")] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from tanpuhui.cli.common import settings

    config = settings()
    config.check_production()
    if workers > 1 and config.database_url.startswith("sqlite"):
        raise InvalidInputError("several workers need PostgreSQL; SQLite has one writer")
    if workers > 1:
        os.environ["TANPUHUI_DATABASE_URL"] = config.database_url  # for the worker processes
        uvicorn.run(
            "tanpuhui.api.asgi:app",
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            factory=True,
        )
        return
    from tanpuhui.api.app import create_app
    from tanpuhui.bootstrap import build

    tune_runtime()
    uvicorn.run(create_app(build(config)), host=host, port=port, log_level="warning")


@cli.command("demo")
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
    cities through the signed HTTP API; then the summary, and the server keeps serving."""
    from tanpuhui.demo import run_demo

    say = (lambda _t: None) if as_json else (lambda t: err_console.print(t, highlight=False))
    result, server, _clock = run_demo(
        db, persons=persons, days=days, port=port, seed=seed, serve=not no_serve, progress=say
    )
    _demo_summary(result, as_json)
    if server is not None:
        console.print(
            f"serving at {result.base_url} (API docs at {result.base_url}/docs); the demo "
            f"enterprises' keys are in {result.credentials_file}. Ctrl-C to stop."
        )
        try:
            server.join()
        except KeyboardInterrupt:
            server.terminate()


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
    console.print("ledger verify: every invariant holds, the hash chain is intact")


@cli.command("requantify")
@handled
def requantify_command(
    methodology: Annotated[str, typer.Option("--methodology", help="The methodology code.")],
    from_version: Annotated[int, typer.Option("--from", min=1)],
    to_version: Annotated[int, typer.Option("--to", min=1)],
    since: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Behaviours from this day.")
    ] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Write the corrections.")] = False,
    top: Annotated[int, typer.Option(min=0, help="How many persons to list.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Re-quantify reductions of one version with another: a dry run by default; --apply
    writes correcting entries (never edits), once, respecting grams already sold."""
    from tanpuhui.services.requantify import requantify

    with open_app() as app:
        report = requantify(
            app.ctx, methodology, from_version, to_version,
            since=since.date() if since else None, apply=apply,
        )  # fmt: skip
    ranked = sorted(report.per_holder.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    data = {
        "methodology": report.methodology,
        "from": report.from_key,
        "to": report.to_key,
        "applied": report.applied,
        "since": report.since.isoformat() if report.since else None,
        "reductions": report.reductions,
        "changed": report.changed,
        "capped": report.capped,
        "grams_before": report.grams_before,
        "grams_after": report.grams_after,
        "difference": report.difference,
        "shortfall": report.shortfall,
        "not_applicable": dict(report.not_applicable),
        "per_holder": dict(ranked),
    }
    if as_json:
        emit_json(data)
        return
    verb = "corrected" if report.applied else "would correct (dry run; --apply to write)"
    console.print(
        f"{report.from_key} → {report.to_key}: {report.reductions:,} reductions, "
        f"{report.changed:,} {verb}; {report.grams_before:,} g → {report.grams_after:,} g "
        f"({report.difference:+,} g); {report.capped} held to daily caps; shortfall "
        f"{report.shortfall:,} g",
        highlight=False,
    )
    if report.not_applicable:
        console.print(f"not covered by {report.to_key}: {dict(report.not_applicable)}")
    if ranked and top:
        table = Table("account", "difference (g)")
        for account, delta in ranked[:top]:
            table.add_row(account, f"{delta:+,}")
        console.print(table)


@cli.command("bind")
@handled
def bind(
    subject: str,
    enterprise: Annotated[str, typer.Option(help="Enterprise id or name.")],
    person: Annotated[str, typer.Option(help="Person id.")],
    as_json: JsonOption = False,
) -> None:
    """Bind an enterprise's subject to a person; its pending reductions move over."""
    try:
        person_id = uuid.UUID(person)
    except ValueError:
        raise InvalidInputError(f"{person!r} is not a person id") from None
    with open_app() as app:
        ent = resolve_enterprise(app.ctx, enterprise)
        result = bind_subject(app.ctx, ent.id, subject, person_id)
    data = {
        "binding_id": str(result.binding.id),
        "created": result.created,
        "moved_grams": result.moved_grams,
        "reversed_grams": result.reversed_grams,
        "reductions": [
            {
                "id": str(m.reduction_id),
                "resolution": m.resolution.value,
                "moved": m.moved,
                "reversed": m.reversed,
            }
            for m in result.moves
        ],
    }
    if as_json:
        emit_json(data)
    else:
        console.print(
            f"bound {subject} → {person_id}: {len(result.moves)} pending reductions, "
            f"{result.moved_grams} g moved, {result.reversed_grams} g reversed"
        )


@cli.command("ingest")
@handled
def ingest(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    enterprise: Annotated[str, typer.Option(help="Enterprise id or name.")],
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl or csv")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 5_000,
    as_json: JsonOption = False,
) -> None:
    """Submit a JSON Lines or CSV file of events; prints outcomes by kind and every bad line."""
    try:
        kind = fmt or detect_format(file)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    if kind not in ("jsonl", "csv"):
        raise InvalidInputError("--format must be jsonl or csv")
    with file.open("rb") as fh:
        total = sum(1 for _ in fh)
    summary: Counter[str] = Counter()
    grams = pending = 0
    bad: list[dict[str, object]] = []
    with open_app() as app:
        ent = resolve_enterprise(app.ctx, enterprise)

        def flush(items: list[object], lines: list[int]) -> int:
            nonlocal grams, pending
            for line, outcome in zip(
                lines, submit_events(app.ctx, ent.id, items, source="file"), strict=True
            ):
                summary[outcome.kind.value + (" (replayed)" if outcome.replayed else "")] += 1
                if not outcome.replayed:
                    grams += outcome.grams
                    if outcome.kind == OutcomeKind.PENDING_BINDING:
                        pending += outcome.grams
                if outcome.kind in (OutcomeKind.REJECTED, OutcomeKind.CONFLICT):
                    bad.append(_bad_line(line, outcome))
                    if not as_json:
                        err_console.print(
                            f"line {line}: {outcome.reason}: {outcome.message}",
                            highlight=False,
                            markup=False,
                        )
            return len(items)

        with Progress(
            TextColumn("ingesting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            disable=as_json,
        ) as progress:
            task = progress.add_task("ingest", total=total)
            items: list[object] = []
            lines: list[int] = []
            decoder = EventDecoder(app.ctx.regions)
            for number, item in read_events(file, kind, decoder):
                items.append(item)
                lines.append(number)
                if len(items) >= batch_size:
                    flush(items, lines)
                    progress.update(task, completed=number)
                    items, lines = [], []
            if items:
                flush(items, lines)
            progress.update(task, completed=total)
    result = {
        "file": str(file),
        "events": sum(summary.values()),
        "outcomes": dict(summary),
        "grams_credited": grams,
        "grams_pending_binding": pending,
        "bad_lines": bad,
    }
    if as_json:
        emit_json(result)
        return
    table = Table("outcome", "events", title=f"{file.name}: {result['events']} events")
    for name, count in sorted(summary.items()):
        table.add_row(name, str(count))
    console.print(table)
    console.print(
        f"newly credited: {grams} g CO2e ({pending} g of it awaits the subjects' binding); "
        f"bad lines: {len(bad)}"
    )


def _bad_line(line: int, o: Outcome) -> dict[str, object]:
    return {"line": line, "event_id": o.event_id, "reason": o.reason, "message": o.message}


@cli.command("sample")
@handled
def sample(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="JSON Lines file to write.")],
    persons: Annotated[int, typer.Option(min=1, max=1_000_000)] = 200,
    days: Annotated[int, typer.Option(min=0, max=30, help="Local days before today.")] = 3,
    seed: Annotated[int, typer.Option()] = 11,
) -> None:
    """Write a file of realistic synthetic events ending now (rides, transit, steps, meals),
    with a few malformed lines, for trying `tanpuhui ingest`."""
    from datetime import UTC, datetime

    import msgspec

    from tanpuhui.adapters import synthetic

    people = synthetic.persons(persons, seed)
    n = 0
    with file.open("wb") as fh:
        for n, ev in enumerate(synthetic.generate(people, days, datetime.now(UTC), seed=seed), 1):
            fh.write(msgspec.json.encode(ev) + b"\n")
            if n % 97 == 0:
                fh.write(b'{"event_id": "oops-' + str(n).encode() + b'", "subject": \n')
    console.print(f"wrote {n} events for {persons} persons over {days + 1} days to {file}")


@ledger_cli.command("show")
@handled
def ledger_show(
    who: Annotated[str, typer.Argument(help="A person id, or a subject with --enterprise.")],
    enterprise: Annotated[str | None, typer.Option(help="The subject's enterprise.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 10,
    as_json: JsonOption = False,
) -> None:
    """Balance by asset class and recent reductions with their calculation traces."""
    with open_app() as app:
        ent = resolve_enterprise(app.ctx, enterprise) if enterprise else None
        account = resolve_account(app.ctx, who, ent.id if ent else None)
        view = show_ledger(app.ctx, account, limit=limit)
    data = views.ledger_view(view)
    if as_json:
        emit_json(data)
        return
    console.print(f"[bold]{view.account}[/]: {view.total_grams} g CO2e", highlight=False)
    table = Table("asset class", "grams")
    for asset, amount in view.balances.items():
        table.add_row(asset, str(amount))
    console.print(table)
    for t in data["reductions"]:
        tr = t["trace"]
        console.print(
            f"• {t['started_at']} {t['behaviour']} ({t['enterprise']} {t['event_id']}): "
            f"{t['live_grams']} g — {tr['methodology']} {tr['inputs']} exact {tr['exact_grams']} g",
            highlight=False,
            markup=False,
        )
        for f in tr["factors"]:
            console.print(
                f"    {f['role']} = {f['value']} {f['unit']} [{f['confidence']}] {f['source']}",
                highlight=False,
                markup=False,
            )


@ledger_cli.command("verify")
@handled
def ledger_verify(as_json: JsonOption = False) -> None:
    """Check every ledger invariant and the hash chain; exit 1 listing each violation."""
    with open_app() as app:
        violations = verify_ledger(app.ctx)
    if as_json:
        emit_json(
            {"ok": not violations, "violations": [views.violation_view(v) for v in violations]}
        )
    elif violations:
        for v in violations:
            err_console.print(
                f"invariant {v.invariant} {v.code}: {v.subject}: {v.message}",
                highlight=False,
                markup=False,
            )
        err_console.print(f"{len(violations)} violation(s)")
    else:
        console.print("ledger verified: every invariant holds and the hash chain is intact")
    if violations:
        raise typer.Exit(1)


def main() -> None:
    tune_runtime()
    cli()
