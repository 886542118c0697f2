"""`tanpuhui ingest` and `tanpuhui sample`: event files in and out.

`ingest` submits a JSON Lines or CSV file in batches and accounts for every line: a summary by
outcome, every bad line (on stderr, or in `--json`), every duplicate with the claim it
duplicates (`--json`), and with `--outcomes FILE` one outcome per event as JSON Lines.
`sample` writes synthetic events the catalogue accepts (apart from its deliberate malformed
lines): it refuses a `--days` beyond the shortest claim window of the behaviours it writes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tanpuhui.adapters.event_codec import EventDecoder
from tanpuhui.adapters.event_files import detect_format, read_events
from tanpuhui.cli.common import JsonOption, console, emit_json, err_console, handled
from tanpuhui.cli.common import app as open_app
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.intake import Outcome, OutcomeKind
from tanpuhui.services.intake import submit_events
from tanpuhui.services.parties import resolve_enterprise


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
