"""Reading behaviour events from files: JSON Lines and CSV, line by line.

Every item comes with its line number. A line that cannot be decoded becomes a `Rejection`
(malformed JSON, a CSV row with the wrong number of cells) so it gets an outcome like any other
event, and the good lines around it are processed.

CSV uses the event format's field names as columns; quantities and evidence are flattened:
`quantity.distance_km`, `evidence.ref`, `evidence.issuer`. Empty cells are absent fields.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from tanpuhui.adapters.event_codec import EventDecoder
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.events import FIELDS, Reason, Rejection

Item = tuple[int, object]


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise ValueError(f"cannot tell the format of {path.name}; use --format jsonl|csv")


def read_events(path: Path, fmt: str, decoder: EventDecoder) -> Iterator[Item]:
    """Every item of the file with its line number. A CSV file that is not UTF-8 text is one
    `InvalidInputError` (code `file_error`) where decoding fails (the lines before it have
    been read)."""
    if fmt == "jsonl":
        with path.open("rb") as fh:
            yield from read_jsonl(fh, decoder)
        return
    with path.open(encoding="utf-8-sig", newline="") as fh:  # tolerate Excel's BOM
        try:
            yield from read_csv(fh)
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8", code="file_error"
            ) from None


def read_jsonl(fh: BinaryIO | io.BytesIO, decoder: EventDecoder) -> Iterator[Item]:
    for number, line in enumerate(fh, start=1):
        if line.strip():
            yield number, decoder.line(line)


def read_csv(fh: TextIO | io.StringIO) -> Iterator[Item]:
    reader = csv.reader(fh)
    try:
        header = next(reader)
    except StopIteration:
        return
    width = len(header)
    for row in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != width:
            yield (
                number,
                Rejection(
                    Reason.MALFORMED_JSON, f"row has {len(row)} cells, the header has {width}"
                ),
            )
            continue
        yield number, unflatten(zip(header, row, strict=True))


def unflatten(cells: Any) -> dict[str, Any]:
    """`{"quantity.distance_km": "3.4"}` → `{"quantity": {"distance_km": "3.4"}}`. An empty
    cell is an absent field — except in a column the format does not know, which is kept so
    the row is rejected for it (a misspelt column never passes silently)."""
    event: dict[str, Any] = {}
    for name, value in cells:
        if value == "" and (name in FIELDS or name.split(".", 1)[0] in ("quantity", "evidence")):
            continue
        head, dot, tail = name.partition(".")
        if dot:
            event.setdefault(head, {})[tail] = value
        else:
            event[name] = value
    return event
