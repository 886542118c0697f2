"""`tanpuhui retire …` and `tanpuhui export create | mark | file`: retirement and carbon-market
export from the command line (docs/retirement.md).

The commands parse, resolve enterprises by id or exact name, call one service and print the
same JSON the API returns (services/retirement_views.py); every rule and refusal is the
services' (one `error[code]: message` line; refusals exit 1, bad input 2, as the market's).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from tanpuhui.cli.common import JsonOption, console, emit_json, handled
from tanpuhui.cli.common import app as open_app
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.retirement import (
    ExportStatus,
    RetirementRequest,
    check_registry,
    check_request,
)
from tanpuhui.services.export import create_export, export_csv, export_file, mark_export
from tanpuhui.services.parties import resolve_enterprise
from tanpuhui.services.retirement import retire_reductions
from tanpuhui.services.retirement_views import export_view, retirement_view

export_cli = typer.Typer(
    help="Carbon-market export of verified holdings in whole-tonne blocks.", no_args_is_help=True
)


def _id(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInputError(f"{value!r} is not {what} id", code="invalid_request") from None


def _print(data: dict[str, Any], as_json: bool, line: str) -> None:
    if as_json:
        emit_json(data)
        return
    console.print(line, highlight=False, markup=False)
    for block in data["blocks"]:
        console.print(f"  {block['serial']}  {block['grams']} g", highlight=False, markup=False)


@handled
def retire(
    enterprise: Annotated[str, typer.Argument(help="The platform enterprise (id or name).")],
    grams: Annotated[int, typer.Option(help="Grams to retire (oldest first).")],
    beneficiary: Annotated[str, typer.Option(help="The entity the retirement is for.")],
    purpose: Annotated[str, typer.Option(help="What it offsets, e.g. 2026 scope 1-3.")],
    period: Annotated[
        str | None, typer.Option(help="YYYY, YYYY-MM or YYYY-MM/YYYY-MM it covers.")
    ] = None,
    request_id: Annotated[
        str | None,
        typer.Option("--request-id", help="Idempotency key: the same id returns the same one."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Retire grams an enterprise holds: serial-numbered blocks that never move again."""
    asked = RetirementRequest(grams, beneficiary, purpose, period)
    check_request(asked)  # before the database: bad input is answered without one
    with open_app() as app:
        ent = resolve_enterprise(app.ctx, enterprise)
        result = retire_reductions(app.ctx, ent.id, asked, request_id)
    data = retirement_view(result)
    _print(data, as_json, f"retirement {data['id']}: {grams} g, certificate {data['certificate']}")


@export_cli.command("create")
@handled
def export_create(
    enterprise: Annotated[str, typer.Option(help="The holding enterprise (id or name).")],
    tonnes: Annotated[int, typer.Option(help="Whole tonnes of verified grams to export.")],
    registry: Annotated[str, typer.Option(help="The receiving registry's name.")],
    as_json: JsonOption = False,
) -> None:
    """Package verified holdings into whole-tonne blocks, pending export (locked)."""
    check_registry(registry)
    with open_app() as app:
        ent = resolve_enterprise(app.ctx, enterprise)
        result = create_export(app.ctx, ent.id, tonnes, registry)
    data = export_view(result)
    _print(data, as_json, f"export {data['id']}: {tonnes} t to {registry}, pending_export")


@export_cli.command("mark")
@handled
def export_mark(
    export: Annotated[str, typer.Argument(help="The export's id.")],
    exported: Annotated[bool, typer.Option("--exported", help="The registry accepted it.")] = False,
    returned: Annotated[
        bool, typer.Option("--returned", help="The registry sent it back.")
    ] = False,
    reference: Annotated[
        str | None, typer.Option(help="The registry's reference (with --exported).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Record the registry's answer: --exported --reference REF, or --returned."""
    if exported == returned:
        raise InvalidInputError("give either --exported --reference REF or --returned")
    if returned and reference is not None:
        raise InvalidInputError("--reference goes with --exported")
    to = ExportStatus.EXPORTED if exported else ExportStatus.RETURNED
    with open_app() as app:
        result = mark_export(app.ctx, _id(export, "an export"), to, reference)
    data = export_view(result)
    _print(data, as_json, f"export {export}: {data['status']}")


@export_cli.command("file")
@handled
def export_write(
    export: Annotated[str, typer.Argument(help="The export's id.")],
    out: Annotated[Path, typer.Option(help="Where to write: F.json gets JSON, anything else CSV.")],
    as_json: JsonOption = False,
) -> None:
    """Write the file for the receiving registry (serials, vintages, methodologies with
    versions, regions, quantities, quality)."""
    with open_app() as app:
        data = export_file(app.ctx, _id(export, "an export"))
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if out.suffix.lower() != ".json":
        text = export_csv(data)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot write {out}: {exc.strerror}", code="file_error") from None
    summary = {"export": data["export"], "file": str(out), "blocks": len(data["blocks"])}
    if as_json:
        emit_json(summary)
    else:
        console.print(f"wrote {out}: {len(data['blocks'])} blocks", highlight=False, markup=False)
