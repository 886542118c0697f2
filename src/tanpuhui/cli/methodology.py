"""`tanpuhui methodology …` — the published catalogue."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tanpuhui.cli.common import app as open_app
from tanpuhui.cli.common import console, emit_json, handled
from tanpuhui.services import views
from tanpuhui.services.catalogue import current_catalogue, get_methodology

cli = typer.Typer(help="Methodologies: versioned, published, immutable.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


@cli.command("list")
@handled
def list_methodologies(as_json: JsonOption = False) -> None:
    """Every published version: behaviours, region, validity and model."""
    with open_app() as app:
        catalogue = current_catalogue(app.ctx).catalogue
    rows = [views.methodology_view(m) for m in catalogue.methodologies]
    if as_json:
        emit_json(rows)
        return
    table = Table("methodology", "behaviours", "region", "effective", "model", "title")
    for r in rows:
        table.add_row(
            r["key"],
            ", ".join(r["behaviours"]),
            r["region"] or "national",
            f"{r['effective_from']} → {r['effective_to'] or ''}",
            r["model"],
            r["title"],
        )
    console.print(table)


@cli.command("show")
@handled
def show(
    ref: Annotated[str, typer.Argument(help="CODE (every version) or CODE@VERSION")],
    as_json: JsonOption = False,
) -> None:
    """A methodology version in full: formula, factors with sources, bounds, caps."""
    with open_app() as app:
        found = get_methodology(app.ctx, ref)
    data = [views.methodology_view(m) for m in found]
    if as_json:
        emit_json(data if len(data) > 1 else data[0])
        return
    for m in data:
        console.print(f"[bold]{m['key']}[/] — {m['title']}", highlight=False)
        console.print(f"  {m['description'].strip()}", highlight=False, markup=False)
        console.print(f"  standard: {m['standard']}", highlight=False, markup=False)
        console.print(f"  formula:  {m['formula']}", highlight=False, markup=False)
        console.print(
            f"  behaviours: {', '.join(m['behaviours'])}; group {m['group']}; region "
            f"{m['region'] or 'national'}; effective {m['effective_from']} → "
            f"{m['effective_to'] or 'open'}; claims within {m['claim_window_days']} days; "
            f"daily cap {m['daily_cap_grams'] or 'group cap only'}",
            highlight=False,
            markup=False,
        )
        console.print(f"  content hash: {m['content_hash']}", highlight=False)
        table = Table("factor", "role", "value", "unit", "region", "valid", "confidence", "source")
        for f in m["factors"]:
            table.add_row(
                f["id"],
                f["role"],
                f["value"],
                f["unit"],
                f["region"] or "national",
                f"{f['valid_from'] or ''} → {f['valid_to'] or ''}",
                f["confidence"],
                f["source"],
            )
        console.print(table)
