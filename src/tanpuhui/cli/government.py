"""`tanpuhui regions …`, `tanpuhui stats`, `tanpuhui government …`, `tanpuhui verifier …`:
the code list, the regional aggregates and the officials' accounts (issue 12)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tanpuhui.adapters.crypto import (
    generate_key,
    load_public_key,
    private_pem,
    public_pem,
    public_raw,
)
from tanpuhui.cli.common import JsonOption, console, emit_json, handled
from tanpuhui.cli.common import app as open_app
from tanpuhui.domain.aggregates import BREAKDOWNS, Figures
from tanpuhui.domain.errors import InvalidInputError, NotFoundError, TanpuhuiError
from tanpuhui.domain.officials import OfficialKind
from tanpuhui.services.aggregates import RegionalStats, regional_stats
from tanpuhui.services.audit import list_audit
from tanpuhui.services.officials import NewOfficial, add_official
from tanpuhui.services.regions import region_info, show_region

regions_cli = typer.Typer(help="The GB/T 2260 region code list.", no_args_is_help=True)
government_cli = typer.Typer(help="Government accounts (scoped to a region).", no_args_is_help=True)
verifier_cli = typer.Typer(help="Verifier (核证机构) accounts.", no_args_is_help=True)


@regions_cli.command("info")
@handled
def regions_info(as_json: JsonOption = False) -> None:
    """The code list's source, version and counts per level, and the mapped (changed) codes."""
    with open_app() as app:
        info = region_info(app.ctx)
    if as_json:
        emit_json(info)
        return
    console.print(f"{info['source']} — version {info['version']}", highlight=False)
    for level, n in info["counts"].items():
        console.print(f"  {level}: {n}", highlight=False)
    console.print(f"  changed codes mapped: {len(info['changes'])}", highlight=False)


@regions_cli.command("show")
@handled
def regions_show(code: str, as_json: JsonOption = False) -> None:
    """A region, its parents and its children."""
    with open_app() as app:
        shown = show_region(app.ctx, code)
    if as_json:
        emit_json(shown)
        return
    console.print(f"{shown['code']} {shown['name']} ({shown['level']})", highlight=False)
    for parent in shown["parents"]:
        console.print(f"  in {parent['code']} {parent['name']}", highlight=False)
    for child in shown["children"]:
        console.print(f"  · {child['code']} {child['name']}", highlight=False)


By = Annotated[str | None, typer.Option("--by", help=f"Break down by: {', '.join(BREAKDOWNS)}.")]


@handled
def stats(
    region: Annotated[str | None, typer.Option(help="A region code (default: the nation).")] = None,
    period: Annotated[
        str, typer.Option(help="A year, month or day: 2026, 2026-11, 2026-11-03.")
    ] = "",
    by: By = None,
    behaviour: Annotated[str | None, typer.Option(help="Only this behaviour.")] = None,
    group: Annotated[str | None, typer.Option(help="Only this behaviour group.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Credited grams, reductions and active persons of a region and period (cells with fewer
    than k persons suppressed); an unknown region exits 1."""
    filters = {k: v for k, v in (("behaviour", behaviour), ("group", group)) if v is not None}
    with open_app() as app:
        chosen = period or app.ctx.clock.now().astimezone(app.ctx.tz).strftime("%Y-%m")
        try:
            result = regional_stats(app.ctx, region=region, period=chosen, by=by, filters=filters)
        except NotFoundError as exc:
            # issue 12 item 6: an unknown region exits 1 (not the 3 of other missing things)
            raise TanpuhuiError(exc.message, code=exc.code) from None
    if as_json:
        emit_json(result.to_json())
    else:
        render_stats(result)


def render_stats(result: RegionalStats) -> None:
    console.print(
        f"{result.region or '—'} {result.region_name} {result.period}: {_cell(result.total)}"
        f"  (k = {result.min_persons})",
        highlight=False,
    )
    if result.by is None:
        return
    table = Table(result.by, "name", "grams", "events", "persons")
    for row in result.rows:
        f = row.figures
        table.add_row(row.key, row.label, *(_num(v) for v in (f.grams, f.events, f.persons)))
    console.print(table)


def _num(value: int | None) -> str:
    return "—" if value is None else str(value)


def _cell(f: Figures) -> str:
    grams, events, persons = f.grams, f.events, f.persons
    return f"{_num(grams)} g, {_num(events)} reductions, {_num(persons)} persons"


PublicKeyOption = Annotated[
    Path | None,
    typer.Option("--public-key", exists=True, dir_okay=False,
                 help="Register this Ed25519 public key (PEM) instead of generating a pair."),
]  # fmt: skip
OutOption = Annotated[
    Path | None,
    typer.Option("--out", dir_okay=False, help="Write the new private key (PEM) to this file."),
]


def _new_key(public_key: Path | None, out: Path | None) -> tuple[bytes, str | None]:
    """(the public key, the private PEM to show once, or None: brought or written to --out).
    The platform keeps only the public key; the official signs its MRV statements with it."""
    if public_key is not None:
        return load_public_key(public_key.read_bytes()), None
    key = generate_key()
    pem = private_pem(key)
    if out is not None:
        out.write_text(pem)
        out.chmod(0o600)
        return public_raw(key), None
    return public_raw(key), pem


def _print_new(new: NewOfficial, pem: str | None, out: Path | None, as_json: bool) -> None:
    o = new.official
    data: dict[str, object] = {
        "id": str(o.id),
        "kind": o.kind.value,
        "name": o.name,
        "region": o.region,
        "token": new.token,
        "public_key": public_pem(o.public_key) if o.public_key else None,
    }
    if pem is not None:
        data["private_key"] = pem
    if as_json:
        emit_json(data)
        return
    console.print(f"{o.kind.value} {o.name} {o.region or ''}".rstrip(), highlight=False)
    console.print(f"id:    {o.id}", highlight=False)
    console.print(
        f"token: {new.token}  (shown once; send as Authorization: Bearer)", highlight=False
    )
    if out is not None:
        console.print(f"private key written to {out} — the platform keeps only the public key")
    elif pem is not None:
        console.print("private key (shown once; signs your MRV statements):")
        console.print(pem, highlight=False, markup=False)


@government_cli.command("add")
@handled
def government_add(
    name: str,
    region: Annotated[str, typer.Option(help="The region code it sees (and those inside it).")],
    public_key: PublicKeyOption = None,
    out: OutOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a government account scoped to a region; prints its bearer token and its new
    private key once."""
    raw, pem = _new_key(public_key, out)
    with open_app() as app:
        new = add_official(app.ctx, OfficialKind.GOVERNMENT, name, region, public_key=raw)
    _print_new(new, pem, out, as_json)


@verifier_cli.command("add")
@handled
def verifier_add(
    name: str, public_key: PublicKeyOption = None, out: OutOption = None,
    as_json: JsonOption = False,
) -> None:  # fmt: skip
    """Add a verifier (核证机构) account; prints its bearer token and its new private key (which
    signs its MRV statements) once."""
    raw, pem = _new_key(public_key, out)
    with open_app() as app:
        new = add_official(app.ctx, OfficialKind.VERIFIER, name, public_key=raw)
    _print_new(new, pem, out, as_json)


@handled
def audit(
    actor: Annotated[
        str | None,
        typer.Option(help="Only this actor: operator, verifier:ID, or every verifier …"),
    ] = None,
    kind: Annotated[
        str | None, typer.Option(help="Only this kind (binding.add, mrv.approve …).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="From this day or time (ISO 8601).")] = None,
    as_json: JsonOption = False,
) -> None:
    """The audit trail of administrative actions, oldest first, filtered."""
    start = _since(since)
    with open_app() as app:
        found = list_audit(app.ctx, actor=actor, kind=kind, since=start)
    records = [
        {
            "seq": s.seq, "id": str(s.record.id), "at": s.record.at.isoformat(),
            "actor": s.record.actor, "kind": s.record.kind, "subject": s.record.subject,
            "before": s.record.before, "after": s.record.after, "hash": s.hash.hex(),
        }
        for s in found
    ]  # fmt: skip
    if as_json:
        emit_json(records)
        return
    for r in records:
        console.print(
            f"{r['seq']:>6} {r['at']} {r['actor']} {r['kind']} {r['subject']} {r['after'] or ''}",
            highlight=False,
        )


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"--since {text!r} is not an ISO 8601 day or time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
