"""`tanpuhui methodology …` — the published catalogue."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tanpuhui.adapters.methodology_files import LoadedMethodology, parse_methodology
from tanpuhui.cli.common import app as open_app
from tanpuhui.cli.common import console, emit_json, err_console, handled
from tanpuhui.domain.errors import InvalidInputError, MethodologyFileError
from tanpuhui.domain.methodology import Methodology, diff_methodologies
from tanpuhui.services import views
from tanpuhui.services.catalogue import (
    VersionFile,
    catalogue_conflicts,
    current_catalogue,
    get_methodology,
    publish_version,
    retire_version,
)

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
        console.print(f"  quality: {quality_line(m)}", highlight=False, markup=False)
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


def quality_line(m: dict[str, Any]) -> str:
    """The quality tier of the version's reductions (the lowest confidence among the factors
    a reduction uses) and its uncertainty deduction, in one line."""
    best, worst = m["quality"]["best"], m["quality"]["worst"]
    tier = best if best == worst else f"{best} to {worst} (by the factors a reduction uses)"
    deduction = ", ".join(f"{c} −{d}" for c, d in m["uncertainty_deduction"].items())
    return f"{tier}; uncertainty deduction: {deduction or 'none'}"


def _load_file(app: Any, path: Path) -> LoadedMethodology:
    groups = list(current_catalogue(app.ctx).catalogue.groups)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problem = f"{path.name}: not UTF-8 text (byte {exc.start}: {exc.reason})"
        raise MethodologyFileError(f"{path.name} is not UTF-8 text", [problem]) from None
    return parse_methodology(text, path.name, app.ctx.regions, groups)


@cli.command("validate")
@handled
def validate(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False)],
    effective: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="As if published then.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check version files: schema, units, factor ranges, regions, overlapping validity —
    each problem with its line — and against the published catalogue."""
    results: list[dict[str, Any]] = []
    failed = False
    with open_app() as app:
        for path in files:
            try:
                loaded = _load_file(app, path)
                problems = catalogue_conflicts(
                    app.ctx, loaded.methodology, effective.date() if effective else None
                )
                key = loaded.methodology.key
            except MethodologyFileError as exc:
                problems, key = exc.problems, None
            failed = failed or bool(problems)
            results.append({"file": str(path), "methodology": key, "problems": problems})
    if as_json:
        emit_json(results)
    else:
        for r in results:
            if r["problems"]:
                err_console.print(f"{r['file']}: {len(r['problems'])} problem(s)", highlight=False)
                for problem in r["problems"]:
                    err_console.print(f"  {problem}", highlight=False, markup=False)
            else:
                console.print(f"{r['file']}: {r['methodology']} is valid", highlight=False)
    if failed:
        raise typer.Exit(2)


@cli.command("publish")
@handled
def publish(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    effective: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Effective from (default: the file's date)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Publish a version. Published versions are immutable; an earlier open version of the
    same code is closed on the new one's effective date."""
    with open_app() as app:
        loaded = _load_file(app, file)
        result = publish_version(
            app.ctx,
            VersionFile(file.name, loaded.methodology, loaded.content),
            effective.date() if effective else None,
        )
    data = {
        "methodology": result.key,
        "published": result.created,
        "effective_from": result.effective_from.isoformat(),
        "content_hash": loaded.methodology.content_hash,
        "closed": [{"methodology": k, "effective_to": d.isoformat()} for k, d in result.closed],
    }
    if as_json:
        emit_json(data)
        return
    if not result.created:
        console.print(f"{result.key} is published already with this content; nothing changed")
        return
    console.print(f"published {result.key} effective {result.effective_from}", highlight=False)
    for key, ends in result.closed:
        console.print(f"  {key} now applies until {ends}", highlight=False)


@cli.command("retire")
@handled
def retire(
    ref: Annotated[str, typer.Argument(help="CODE@VERSION")],
    from_: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"])],
) -> None:
    """Stop a version applying to behaviours from a date (what it credited stays)."""
    with open_app() as app:
        m = retire_version(app.ctx, ref, from_.date())
    console.print(f"{m.key} applies to behaviours before {m.effective_to}", highlight=False)


@cli.command("diff")
@handled
def diff(
    a: Annotated[str, typer.Argument(help="CODE@VERSION or a version file")],
    b: Annotated[str, typer.Argument(help="CODE@VERSION or a version file")],
) -> None:
    """What changed between two versions."""
    with open_app() as app:
        left, right = _resolve(app, a), _resolve(app, b)
    changes = diff_methodologies(left, right)
    if not changes:
        console.print(f"{left.key} and {right.key} are the same")
    for line in changes:
        console.print(line, highlight=False, markup=False)


def _resolve(app: Any, ref: str) -> Methodology:
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return _load_file(app, path).methodology
    if "@" not in ref:
        raise InvalidInputError(f"{ref!r} is neither a version file nor CODE@VERSION")
    return get_methodology(app.ctx, ref)[0]
