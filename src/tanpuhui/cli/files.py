"""`tanpuhui ingest` and `tanpuhui sample`: event files in and out.

`ingest` submits a JSON Lines or CSV file in batches and accounts for every line: a summary by
outcome, every bad line (on stderr, or in `--json`), every duplicate with the claim it
duplicates (`--json`), and with `--outcomes FILE` one outcome per event as JSON Lines.
`sample` writes synthetic events the catalogue accepts (apart from its deliberate malformed
lines): it refuses a `--days` beyond the shortest claim window of the behaviours it writes.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Annotated, BinaryIO

import msgspec
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tanpuhui.adapters.event_codec import EventDecoder
from tanpuhui.adapters.event_files import detect_format, read_events
from tanpuhui.cli.common import JsonOption, console, emit_json, err_console, handled, settings
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
    outcomes: Annotated[
        Path | None,
        typer.Option(
            "--outcomes", dir_okay=False, help="Write one outcome per event (JSON Lines) here."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Submit a JSON Lines or CSV file of events; prints outcomes by kind and every bad line
    (--json: also every duplicate and the claim it duplicates; --outcomes: every event)."""
    try:
        kind = fmt or detect_format(file)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    if kind not in ("jsonl", "csv"):
        raise InvalidInputError("--format must be jsonl or csv")
    if outcomes is not None and outcomes.resolve() == file.resolve():
        raise InvalidInputError("--outcomes would overwrite the file being ingested")
    with file.open("rb") as fh:
        total = sum(1 for _ in fh)
    with open_app() as app, ExitStack() as stack:
        ent = resolve_enterprise(app.ctx, enterprise)
        sink = stack.enter_context(outcomes.open("wb")) if outcomes is not None else None
        tally = Tally(sink, show_bad_lines=not as_json)
        with Progress(
            TextColumn("ingesting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            disable=as_json or not err_console.is_terminal,  # a bar only for a person
        ) as progress:
            task = progress.add_task("ingest", total=total)
            decoder = EventDecoder(app.ctx.regions)
            for lines, items in _batches(read_events(file, kind, decoder), batch_size):
                tally.add(lines, submit_events(app.ctx, ent.id, items, source="file"))
                progress.update(task, completed=lines[-1])
            progress.update(task, completed=total)
    _print_ingest(file, tally, outcomes, as_json)


def _batches(
    items: Iterator[tuple[int, object]], size: int
) -> Iterator[tuple[list[int], list[object]]]:
    """(line numbers, items) in batches of `size`."""
    lines: list[int] = []
    batch: list[object] = []
    for number, item in items:
        lines.append(number)
        batch.append(item)
        if len(batch) >= size:
            yield lines, batch
            lines, batch = [], []
    if batch:
        yield lines, batch


class Tally:
    """What a file's outcomes add up to: counts by kind, new grams, every bad line and every
    duplicate (with the reduction it duplicates); each outcome also written to `sink` as one
    JSON line when there is one."""

    def __init__(self, sink: BinaryIO | None, *, show_bad_lines: bool) -> None:
        self.sink, self.show_bad_lines = sink, show_bad_lines
        self.summary: Counter[str] = Counter()
        self.grams = self.pending = 0
        self.bad: list[dict[str, object]] = []
        self.duplicates: list[dict[str, object]] = []

    def add(self, lines: list[int], outcomes: Iterable[Outcome]) -> None:
        records = []
        for line, o in zip(lines, outcomes, strict=True):
            self.summary[o.kind.value + (" (replayed)" if o.replayed else "")] += 1
            if not o.replayed:
                self.grams += o.grams
                if o.kind == OutcomeKind.PENDING_BINDING:
                    self.pending += o.grams
            if o.kind in (OutcomeKind.REJECTED, OutcomeKind.CONFLICT):
                self._bad_line(line, o)
            elif o.kind == OutcomeKind.DUPLICATE:
                self.duplicates.append(
                    {"line": line, "event_id": o.event_id, "duplicate_of": _id(o.duplicate_of),
                     "replayed": o.replayed}
                )  # fmt: skip
            if self.sink is not None:
                records.append(outcome_record(line, o))
        if self.sink is not None and records:
            self.sink.write(b"\n".join(msgspec.json.encode(r) for r in records) + b"\n")

    def _bad_line(self, line: int, o: Outcome) -> None:
        self.bad.append({"line": line, "event_id": o.event_id, "reason": o.reason,
                         "message": o.message})  # fmt: skip
        if self.show_bad_lines:
            err_console.print(
                f"line {line}: {o.reason}: {o.message}", highlight=False, markup=False
            )


def outcome_record(line: int, o: Outcome) -> dict[str, object]:
    """One line of `--outcomes`: every key always present (null when it does not apply)."""
    return {
        "line": line,
        "event_id": o.event_id,
        "kind": o.kind.value,
        "grams": o.grams,
        "grams_cut": o.grams_cut,
        "duplicate_of": _id(o.duplicate_of),
        "reason": o.reason,
        "message": o.message,
        "methodology": o.methodology,
        "reduction_id": _id(o.reduction_id),
        "replayed": o.replayed,
    }


def _id(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def _print_ingest(file: Path, tally: Tally, outcomes: Path | None, as_json: bool) -> None:
    events = sum(tally.summary.values())
    if as_json:
        emit_json({
            "file": str(file),
            "events": events,
            "outcomes": dict(tally.summary),
            "grams_credited": tally.grams,
            "grams_pending_binding": tally.pending,
            "bad_lines": tally.bad,
            "duplicates": tally.duplicates,
            "outcomes_file": str(outcomes) if outcomes is not None else None,
        })  # fmt: skip
        return
    table = Table("outcome", "events", title=f"{file.name}: {events} events")
    for name, count in sorted(tally.summary.items()):
        table.add_row(name, str(count))
    console.print(table)
    console.print(
        f"newly credited: {tally.grams} g CO2e ({tally.pending} g of it awaits the subjects' "
        f"binding); bad lines: {len(tally.bad)}; duplicates: {len(tally.duplicates)}"
    )
    if outcomes is not None:
        console.print(f"one outcome per event in {outcomes}", highlight=False)


@handled
def sample(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="JSON Lines file to write.")],
    persons: Annotated[int, typer.Option(min=1, max=1_000_000)] = 200,
    days: Annotated[int, typer.Option(min=0, help="Local days before today.")] = 3,
    seed: Annotated[int, typer.Option()] = 11,
) -> None:
    """Write a file of realistic synthetic events ending now (rides, transit, steps, meals),
    with a few malformed lines, for trying `tanpuhui ingest`. Refuses a --days whose oldest
    events the catalogue's claim windows would reject. "Now" is TANPUHUI_NOW when set."""
    import msgspec

    from tanpuhui.adapters import synthetic
    from tanpuhui.bootstrap import business_clock

    now = business_clock(settings()).now()
    _check_sample_days(days, now)
    people = synthetic.persons(persons, seed)
    n = 0
    with file.open("wb") as fh:
        for n, ev in enumerate(synthetic.generate(people, days, now, seed=seed), 1):
            fh.write(msgspec.json.encode(ev) + b"\n")
            if n % 97 == 0:
                fh.write(b'{"event_id": "oops-' + str(n).encode() + b'", "subject": \n')
    console.print(f"wrote {n} events for {persons} persons over {days + 1} days to {file}")


def _check_sample_days(days: int, now: datetime) -> None:
    """A sample spans today and `days` local days before it, so its oldest events are up to
    days + 1 days old when written; they must stay within the shortest claim window of the
    behaviours written for a day after, to leave time to ingest the file."""
    from tanpuhui.adapters import synthetic
    from tanpuhui.adapters.catalogue_files import (
        bundled_catalogue_dir,
        load_regions,
        read_catalogue_dir,
    )

    catalogue = read_catalogue_dir(bundled_catalogue_dir(), load_regions()).catalogue()
    window = synthetic.shortest_claim_window(catalogue, now.date())
    if window is None or days + 2 <= window.days:
        return
    raise InvalidInputError(
        f"--days {days} is beyond the shortest claim window the sample uses: "
        f"{window.methodology} accepts {window.behaviour} claims up to {window.days} days old, "
        f"and a sample spans today and --days before it, so its oldest events would be "
        f"rejected as outside_claim_window; use --days {max(0, window.days - 2)} or less"
    )
