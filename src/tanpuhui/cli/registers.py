"""`tanpuhui issuer …` and `tanpuhui exclusion …`: the operator's entry to the two registers.

The issuer registry (services/evidence.py) says which enterprises may cite an evidence
issuer's references; the exclusion register (services/exclusions.py) says what is claimed under
another mechanism and is never credited here. These commands only parse, resolve enterprises
by id or exact name and print: every rule is the services' (bad input is their error, shown by
`cli/common.py` as one `error[code]: message` line).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from tanpuhui.cli.common import JsonOption, console, emit_json, handled
from tanpuhui.cli.common import app as open_app
from tanpuhui.domain.evidence import IssuerGrant
from tanpuhui.domain.exclusions import Exclusion
from tanpuhui.services.evidence import authorise_issuer, list_grants
from tanpuhui.services.exclusions import declare_claimed_elsewhere, list_exclusions
from tanpuhui.services.parties import list_enterprises, resolve_enterprise

issuer_cli = typer.Typer(
    help="The issuer registry: who may cite an evidence issuer's references.",
    no_args_is_help=True,
)
exclusion_cli = typer.Typer(
    help="The exclusion register: what is claimed under another mechanism.",
    no_args_is_help=True,
)
DAY = ["%Y-%m-%d"]


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def grant_view(g: IssuerGrant, names: dict[Any, str]) -> dict[str, Any]:
    return {
        "issuer": g.issuer,
        "enterprise_id": str(g.enterprise_id),
        "enterprise": names.get(g.enterprise_id, ""),
        "is_issuer": g.is_issuer,
        "since": g.granted_at.isoformat(),
    }


def exclusion_view(x: Exclusion, names: dict[Any, str]) -> dict[str, Any]:
    return {
        "id": str(x.id),
        "key": x.key,
        "mechanism": x.mechanism,
        "behaviours": list(x.behaviours),
        "valid_from": x.valid_from.isoformat() if x.valid_from else None,
        "valid_to": x.valid_to.isoformat() if x.valid_to else None,
        "declared_by": str(x.declared_by) if x.declared_by else None,
        "declared_by_name": names.get(x.declared_by, "") if x.declared_by else "operator",
        "declared_at": x.declared_at.isoformat(),
        "note": x.note,
    }


@issuer_cli.command("authorise")
@handled
def issuer_authorise(
    issuer: Annotated[str, typer.Argument(help="<namespace>:<name>, e.g. transit:sz-metro.")],
    enterprise: Annotated[str, typer.Option(help="Enterprise id or name.")],
    is_issuer: Annotated[
        bool, typer.Option("--is-issuer", help="The enterprise *is* this issuer.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Entitle an enterprise to cite an issuer's references (idempotent)."""
    with open_app() as app:
        ent = resolve_enterprise(app.ctx, enterprise)
        grant = authorise_issuer(app.ctx, issuer, ent.id, is_issuer=is_issuer)
    if as_json:
        emit_json(grant_view(grant, {ent.id: ent.name}))
        return
    what = "is" if grant.is_issuer else "may cite"
    console.print(f"{ent.name} ({ent.id}) {what} {grant.issuer}", highlight=False, markup=False)


@issuer_cli.command("list")
@handled
def issuer_list(as_json: JsonOption = False) -> None:
    """Every entry of the issuer registry: issuer, enterprise, is-issuer, since."""
    with open_app() as app:
        grants = list_grants(app.ctx)
        names = {e.id: e.name for e in list_enterprises(app.ctx)}
    rows = [grant_view(g, names) for g in grants]
    if as_json:
        emit_json(rows)
        return
    table = Table("issuer", "enterprise", "enterprise id", "is issuer", "since")
    for r in rows:
        table.add_row(
            r["issuer"], r["enterprise"], r["enterprise_id"], "yes" if r["is_issuer"] else "no",
            r["since"],
        )  # fmt: skip
    console.print(table)


@exclusion_cli.command("add")
@handled
def exclusion_add(
    key: Annotated[str, typer.Argument(help="meter:<id>, installation:<id> or enterprise:<id>.")],
    mechanism: Annotated[
        str, typer.Option(help="green_certificate, ccer, ets or other_programme.")
    ],
    behaviour: Annotated[
        list[str] | None,
        typer.Option("--behaviour", help="Only this behaviour (repeatable; none: all)."),
    ] = None,
    valid_from: Annotated[
        datetime | None, typer.Option("--from", formats=DAY, help="First day covered.")
    ] = None,
    valid_to: Annotated[
        datetime | None,
        typer.Option("--until", formats=DAY, help="First day no longer covered (exclusive)."),
    ] = None,
    enterprise: Annotated[
        str | None,
        typer.Option(help="Declare on behalf of this enterprise (only what it is entitled to)."),
    ] = None,
    note: Annotated[str, typer.Option(help="Free text: the certificate, the registry …")] = "",
    as_json: JsonOption = False,
) -> None:
    """Declare a meter, an installation or a programme claimed elsewhere; matching events are
    rejected `claimed_elsewhere`."""
    with open_app() as app:
        ent = resolve_enterprise(app.ctx, enterprise) if enterprise else None
        exclusion = declare_claimed_elsewhere(
            app.ctx, key, mechanism, declared_by=ent.id if ent else None,
            behaviours=behaviour or (), valid_from=_day(valid_from), valid_to=_day(valid_to),
            note=note,
        )  # fmt: skip
    if as_json:
        emit_json(exclusion_view(exclusion, {ent.id: ent.name} if ent else {}))
        return
    console.print(str(exclusion.id), highlight=False)


@exclusion_cli.command("list")
@handled
def exclusion_list(as_json: JsonOption = False) -> None:
    """Every declaration of the exclusion register."""
    with open_app() as app:
        exclusions = list_exclusions(app.ctx)
        names = {e.id: e.name for e in list_enterprises(app.ctx)}
    rows = [exclusion_view(x, names) for x in exclusions]
    if as_json:
        emit_json(rows)
        return
    table = Table("key", "mechanism", "behaviours", "from", "until", "declared by", "note")
    for r in rows:
        table.add_row(
            r["key"], r["mechanism"], ", ".join(r["behaviours"]) or "all",
            r["valid_from"] or "-", r["valid_to"] or "-", r["declared_by_name"], r["note"],
        )  # fmt: skip
    console.print(table)
