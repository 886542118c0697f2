"""An operator audits from the command line (issue 9 item 10): `ingest --outcomes FILE` writes one
outcome per event as JSON Lines, and every JSON output that reports a duplicate names the claim
it duplicates (`ingest --json`, `bind --json`). Both engines.

Before: `ingest --json` gave counts and bad lines only (no outcome per event, no
`duplicate_of`), and `bind --json` dropped which claim a moved reduction duplicated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.cli_support import assert_no_traceback, ride, write_jsonl
from tests.e2e.conftest import Run

KEYS = [
    "line", "event_id", "kind", "grams", "grams_cut", "duplicate_of", "reason", "message",
    "methodology", "reduction_id", "replayed",
]  # fmt: skip


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _file(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "events.jsonl",
        [
            ride("r-1", subject="u-1", hours_ago=3),  # 1: pending (u-1 is not bound)
            ride("r-1-again", subject="u-1", hours_ago=3),  # 2: the same ride, a new id
            '{"event_id": "broken", ',  # 3: malformed
            ride("elsewhere", subject="u-2", region="999999"),  # 4: rejected
            "",  # 5: blank, no event
            ride("r-2", subject="u-2", hours_ago=5),  # 6: pending
        ],
    )


def test_ingest_outcomes_writes_one_json_line_per_event(tanpuhui: Run, tmp_path: Path) -> None:
    tanpuhui("enterprise", "add", "Bikes", "--role", "scene", check=True)
    _file(tmp_path)
    done = tanpuhui(
        "ingest", "events.jsonl", "--enterprise", "Bikes", "--outcomes", "out.jsonl",
        "--batch-size", "2", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_no_traceback(done)
    records = _records(tmp_path / "out.jsonl")
    assert [list(r) for r in records] == [KEYS] * 5
    assert [(r["line"], r["event_id"], r["kind"]) for r in records] == [
        (1, "r-1", "pending_binding"),
        (2, "r-1-again", "duplicate"),
        (3, None, "rejected"),
        (4, "elsewhere", "rejected"),
        (6, "r-2", "pending_binding"),
    ]
    first, again, broken, elsewhere, second = records
    assert first["grams"] == second["grams"] == 319 and first["reduction_id"]
    assert first["methodology"] == "cycling.shared_bike.wuhan@2"
    assert again["duplicate_of"] == first["reduction_id"] and again["grams"] == 0
    assert (broken["reason"], elsewhere["reason"]) == ("malformed_json", "invalid_region")
    assert all(r["message"] for r in (broken, elsewhere))
    assert not any(r["replayed"] for r in records)

    report = json.loads(done.stdout)
    assert report["outcomes_file"] == "out.jsonl"
    assert report["duplicates"] == [
        {"line": 2, "event_id": "r-1-again", "duplicate_of": first["reduction_id"],
         "replayed": False}
    ]  # fmt: skip

    # again: every outcome answered from the record, the duplicate still names its original
    replay = tanpuhui(
        "ingest", "events.jsonl", "--enterprise", "Bikes", "--outcomes", "out.jsonl", "--json"
    )
    assert replay.returncode == 0, replay.stderr
    replayed = _records(tmp_path / "out.jsonl")
    assert [r["replayed"] for r in replayed] == [True, True, False, True, True]
    assert replayed[1]["duplicate_of"] == first["reduction_id"]
    assert json.loads(replay.stdout)["duplicates"][0]["duplicate_of"] == first["reduction_id"]


def test_ingest_outcomes_into_a_missing_directory_is_one_line(
    tanpuhui: Run, tmp_path: Path
) -> None:
    tanpuhui("enterprise", "add", "Bikes", "--role", "scene", check=True)
    _file(tmp_path)
    done = tanpuhui(
        "ingest", "events.jsonl", "--enterprise", "Bikes", "--outcomes", "no/such/out.jsonl"
    )
    assert done.returncode == 2
    assert_no_traceback(done)
    assert done.stderr.splitlines() == [
        "error[file_error]: no/such/out.jsonl: No such file or directory"
    ]


def test_bind_json_names_the_claim_a_moved_reduction_duplicated(
    tanpuhui: Run, tmp_path: Path
) -> None:
    """The bike app and the map app report the same ride for two unbound subjects of one
    person; bound second, the map app's copy is a duplicate of the bike app's reduction."""
    for name in ("Bikes", "Maps"):
        tanpuhui("enterprise", "add", name, "--role", "scene", check=True)
    write_jsonl(tmp_path / "bike.jsonl", [ride("ride-1", subject="rider-1", hours_ago=3)])
    write_jsonl(tmp_path / "nav.jsonl", [ride("nav-1", subject="m-77", hours_ago=3)])
    tanpuhui("ingest", "bike.jsonl", "--enterprise", "Bikes", "--outcomes", "bike.out", check=True)
    tanpuhui("ingest", "nav.jsonl", "--enterprise", "Maps", "--outcomes", "nav.out", check=True)
    ((bike,), (nav,)) = _records(tmp_path / "bike.out"), _records(tmp_path / "nav.out")
    assert bike["kind"] == nav["kind"] == "pending_binding"  # no person yet: both wait

    person = json.loads(tanpuhui("person", "add", "--json", check=True).stdout)["id"]
    bind = ("bind", "--person", person, "--json")
    first = json.loads(tanpuhui(*bind, "rider-1", "--enterprise", "Bikes", check=True).stdout)
    assert [(r["id"], r["resolution"], r["duplicate_of"]) for r in first["reductions"]] == [
        (bike["reduction_id"], "moved", None)
    ]
    second = json.loads(tanpuhui(*bind, "m-77", "--enterprise", "Maps", check=True).stdout)
    assert second["moved_grams"] == 0 and second["reversed_grams"] == 319
    assert [(r["id"], r["resolution"], r["duplicate_of"]) for r in second["reductions"]] == [
        (nav["reduction_id"], "duplicate", bike["reduction_id"])
    ]
