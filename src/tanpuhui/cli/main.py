"""`tanpuhui` — the command line of the platform."""

from __future__ import annotations

import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tanpuhui.adapters.db.migrate import citus_ddl, partition_shard_tables
from tanpuhui.bootstrap import tune_runtime, upgrade_database
from tanpuhui.cli import (
    access,
    bench,
    bench_api,
    bench_market,
    bench_pages,
    bench_regions,
    certificates,
    docs,
    files,
    government,
    market,
    methodology,
    mrv,
    registers,
    retirement,
    serving,
    transparency,
)
from tanpuhui.cli import sign_in as sign_in_cli
from tanpuhui.cli.common import JsonOption, console, emit_json, err_console, handled, run, state
from tanpuhui.cli.common import app as open_app
from tanpuhui.domain.errors import ConflictError, InvalidInputError
from tanpuhui.domain.parties import Role
from tanpuhui.services import views
from tanpuhui.services.intake import settle_due
from tanpuhui.services.ledger import resolve_account, show_ledger, verify_ledger
from tanpuhui.services.market_views import person_market_view
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
cli.add_typer(registers.issuer_cli, name="issuer")
cli.add_typer(registers.exclusion_cli, name="exclusion")
enterprise_cli.add_typer(access.credential_cli, name="credential")
cli.add_typer(bench.cli, name="bench")
cli.add_typer(docs.cli, name="docs")
cli.add_typer(government.regions_cli, name="regions")
cli.add_typer(government.government_cli, name="government")
cli.add_typer(government.verifier_cli, name="verifier")
cli.command("stats")(government.stats)
cli.add_typer(mrv.cli, name="mrv")
cli.command("audit")(government.audit)

cli.command("serve")(serving.serve)
cli.command("demo")(serving.demo)
cli.command("ingest")(files.ingest)
cli.command("sample")(files.sample)
cli.add_typer(market.offer_cli, name="offer")
cli.add_typer(market.hold_cli, name="hold")
cli.add_typer(market.programme_cli, name="programme")
cli.command("sell")(market.sell)
cli.command("redeem")(market.redeem)
cli.command("retire")(retirement.retire)
cli.add_typer(retirement.export_cli, name="export")
bench.cli.command("api")(bench_api.bench_api)
bench.cli.command("pages")(bench_pages.bench_pages)
cli.add_typer(sign_in_cli.operator_cli, name="operator")
cli.command("sign-in-code")(sign_in_cli.sign_in_code)
enterprise_cli.command("user-add")(sign_in_cli.user_add)
bench.cli.command("regions")(bench_regions.bench_regions)
bench.cli.command("market")(bench_market.bench_market)
transparency.register(ledger_cli)
person_cli.command("display-name")(handled(certificates.display_name))
cli.command("leaderboard")(handled(certificates.show_leaderboard))
cli.add_typer(certificates.certificate_cli, name="certificate")


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
    show_traceback: Annotated[
        bool, typer.Option("--traceback", help="Show the traceback of an unexpected error.")
    ] = False,
) -> None:
    state.database_url = database_url
    state.traceback = show_traceback


@db_cli.command("upgrade")
@handled
def db_upgrade(
    catalogue: Annotated[
        Path | None, typer.Option(help="A methodology catalogue directory to publish.")
    ] = None,
    pg_partitions: Annotated[
        int | None,
        typer.Option(
            min=2,
            help="PostgreSQL: then convert every shard table not yet partitioned into"
            " PARTITION BY HASH (shard) with this many partitions (docs/operations.md).",
        ),
    ] = None,
) -> None:
    """Migrate the schema to the newest version and publish the methodology catalogue."""
    with open_app() as app:
        if pg_partitions is not None and app.engine.dialect.name != "postgresql":
            raise InvalidInputError("--pg-partitions needs a PostgreSQL database")
        report = upgrade_database(app, catalogue)
        converted = (
            partition_shard_tables(app.engine, pg_partitions) if pg_partitions is not None else []
        )
    console.print(
        f"database at head; methodologies: {len(report.added)} published, "
        f"{len(report.unchanged)} unchanged"
    )
    if pg_partitions is not None:
        console.print(f"{len(converted)} shard table(s) hash-partitioned by shard")


@db_cli.command("citus-ddl")
@handled
def db_citus_ddl(
    shard_count: Annotated[
        int, typer.Option(min=1, help="Citus shards (placements) of each distributed table.")
    ] = 32,
) -> None:
    """Print the statements that distribute the migrated schema on Citus (run them once, after
    `db upgrade`, on the coordinator): reference tables, then the shard tables by `shard`."""
    for statement in citus_ddl(shard_count):
        typer.echo(statement if statement.startswith("--") else f"{statement};")


@cli.command("settle")
@handled
def settle(as_json: JsonOption = False) -> None:
    """Settle the held claims whose window has closed: day claims (car-free days …) and meter
    periods (docs/events.md)."""
    with open_app() as app:
        settled = settle_due(app.ctx)
    if as_json:
        emit_json({"settled": settled})
    else:
        console.print(f"{settled} held claim(s) settled")


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
                "duplicate_of": str(m.duplicate_of) if m.duplicate_of else None,
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
        data = {**views.ledger_view(view), **person_market_view(app.ctx, account, limit)}
    if as_json:
        emit_json(data)
        return
    console.print(f"[bold]{view.account}[/]: {view.total_grams} g CO2e", highlight=False)
    table = Table("asset class", "grams")
    for asset, amount in view.balances.items():
        table.add_row(asset, str(amount))
    console.print(table)
    market.print_ledger_part(data)
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
    """Check every ledger invariant, every shard log and every stored checkpoint; exit 1
    listing each violation."""
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
        console.print(
            "ledger verified: every invariant holds, every shard log and checkpoint verifies"
        )
    if violations:
        raise typer.Exit(1)


def main() -> None:
    tune_runtime()
    sys.exit(run(cli))
