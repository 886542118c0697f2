"""`tanpuhui ingest` and `tanpuhui sample` end to end: JSON Lines and CSV files with good and bad
lines, replays and conflicts, run for real against a fresh database of each engine."""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import CST, NOW
from tests.db_fixtures import fresh_database_url
from tests.e2e.cli_support import assert_no_traceback, bad_lines, ride, run_cli, write_jsonl
from tests.e2e.conftest import Run

ENTERPRISE = "Demo Bikes"


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated SQLite database, for what does not depend on the engine."""
    return fresh_database_url(request, "sqlite", tmp_path)


def _onboard(tanpuhui: Run) -> None:
    tanpuhui("enterprise", "add", ENTERPRISE, "--role", "scene", check=True)


def _outcome_rows(table: str) -> dict[str, int]:
    """The `outcome │ events` rows of the summary table."""
    return {
        m.group(1).strip(): int(m.group(2))
        for m in re.finditer(r"^│ ([a-z_ ()]+?)\s*│ (\d+)\s*│$", table, re.MULTILINE)
    }


# --- JSON Lines ------------------------------------------------------------------------------

#: line → (event id, reason) of every bad line in the file below.
JSONL_BAD = {
    2: (None, "malformed_json"),
    3: ("unknown-field", "unknown_field"),
    5: ("naive", "naive_timestamp"),
    6: ("bad-region", "invalid_region"),
    7: ("negative", "negative_quantity"),
    8: ("teleport", "unknown_behaviour"),
}


def _jsonl_with_bad_lines(path: Path) -> Path:
    return write_jsonl(
        path,
        [
            ride("good-1", subject="u-1"),  # 1
            '{"event_id": "broken", "subject": ',  # 2: malformed JSON
            ride("unknown-field", subject="u-3", colour="green"),  # 3
            "",  # 4: blank, skipped
            ride("naive", subject="u-4", started_at="2026-11-17T10:00:00"),  # 5
            ride("bad-region", subject="u-5", region="999999"),  # 6
            ride("negative", subject="u-6", quantity={"distance_km": "-1.5"}),  # 7
            ride("teleport", subject="u-7", behaviour="teleport"),  # 8
            "   ",  # 9: whitespace only, skipped
            ride("good-2", subject="u-2"),  # 10
        ],
    )


def test_ingest_jsonl_reports_bad_lines_credits_good_ones_and_replays(
    tanpuhui: Run, tmp_path: Path
) -> None:
    _onboard(tanpuhui)
    _jsonl_with_bad_lines(tmp_path / "events.jsonl")

    # batches of 3: line numbers must survive batch boundaries
    first = tanpuhui("ingest", "events.jsonl", "--enterprise", ENTERPRISE, "--batch-size", "3")
    assert first.returncode == 0, first.stderr
    assert_no_traceback(first)
    assert bad_lines(first.stderr) == [(n, reason) for n, (_, reason) in JSONL_BAD.items()]
    assert "line 3: unknown_field: unknown field(s): colour" in first.stderr
    assert "line 5: naive_timestamp: started_at must carry a UTC offset" in first.stderr
    assert "line 7: negative_quantity: quantity.distance_km must not be negative" in first.stderr
    assert "events.jsonl: 8 events" in first.stdout
    assert _outcome_rows(first.stdout) == {"pending_binding": 2, "rejected": 6}
    assert (
        "newly credited: 638 g CO2e (638 g of it awaits the subjects' binding); bad lines: 6"
        in (first.stdout)
    )

    # the same file again: nothing new, every event with an id answered from the record
    again = tanpuhui("ingest", "events.jsonl", "--enterprise", ENTERPRISE, "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["events"] == 8
    assert report["grams_credited"] == 0
    assert report["outcomes"] == {
        "pending_binding (replayed)": 2,
        "rejected (replayed)": 5,
        "rejected": 1,  # the malformed line has no event id to recognise it by
    }
    assert {b["line"]: (b["event_id"], b["reason"]) for b in report["bad_lines"]} == JSONL_BAD
    assert all(b["message"] for b in report["bad_lines"])

    # the same event id with a different payload, in another file: a conflict line
    write_jsonl(
        tmp_path / "corrected.jsonl",
        [
            ride("good-3", subject="u-8"),
            ride("good-1", subject="u-1", quantity={"distance_km": "2.5"}),
        ],
    )
    conflict = tanpuhui("ingest", "corrected.jsonl", "--enterprise", ENTERPRISE, "--json")
    assert conflict.returncode == 0, conflict.stderr
    report = json.loads(conflict.stdout)
    assert report["outcomes"] == {"pending_binding": 1, "conflict": 1}
    assert report["grams_credited"] == 319
    assert [(b["line"], b["event_id"], b["reason"]) for b in report["bad_lines"]] == [
        (2, "good-1", "conflict")
    ]
    assert "good-1" in report["bad_lines"][0]["message"]


def test_ingest_refuses_unknown_enterprises_and_formats(sqlite_url: str, tmp_path: Path) -> None:
    """Checks made before any event is read, the same on every engine: run once."""

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        done = run_cli(*args, cwd=tmp_path, database_url=sqlite_url)
        assert_no_traceback(done)
        return done

    write_jsonl(tmp_path / "events.jsonl", [ride("r-1")])
    write_jsonl(tmp_path / "events.xml", [ride("r-1")])
    assert cli("enterprise", "add", ENTERPRISE, "--role", "scene").returncode == 0

    no_such = cli("ingest", "events.jsonl", "--enterprise", "Nobody Inc")
    assert no_such.returncode == 3
    assert "no enterprise 'Nobody Inc'" in no_such.stderr

    suffix = cli("ingest", "events.xml", "--enterprise", ENTERPRISE)
    assert suffix.returncode == 2
    assert "cannot tell the format of events.xml; use --format jsonl|csv" in suffix.stderr

    fmt = cli("ingest", "events.xml", "--enterprise", ENTERPRISE, "--format", "xml")
    assert fmt.returncode == 2
    assert "--format must be jsonl or csv" in fmt.stderr

    missing = cli("ingest", "nowhere.jsonl", "--enterprise", ENTERPRISE)
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr


# --- CSV -------------------------------------------------------------------------------------

CSV_HEADER = [
    "event_id",
    "subject",
    "behaviour",
    "started_at",
    "ended_at",
    "quantity.distance_km",
    "region",
    "evidence.ref",
    "evidence.issuer",
]


def _csv_row(event_id: str, subject: str, km: str = "3.42", ref: str = "", **kw: str) -> str:
    start = NOW - timedelta(hours=3)
    cells = {
        "event_id": event_id,
        "subject": subject,
        "behaviour": "bike_share_ride",
        "started_at": start.astimezone(CST).isoformat(),
        "ended_at": (start + timedelta(minutes=12)).astimezone(CST).isoformat(),
        "quantity.distance_km": km,
        "region": "420106",
        "evidence.ref": ref,
        "evidence.issuer": "",
        **kw,
    }
    return ",".join(cells.values())


def test_ingest_csv_flattened_columns_empty_cells_and_bad_rows(
    tanpuhui: Run, tmp_path: Path
) -> None:
    _onboard(tanpuhui)
    rows = [
        ",".join(CSV_HEADER),  # 1
        _csv_row("c-1", "cu-1", ref="order-1"),  # 2: with evidence
        _csv_row("c-2", "cu-2"),  # 3: empty evidence cells: no evidence, not an empty one
        "c-3,cu-3,bike_share_ride,2026-11-17T10:00:00+08:00",  # 4: 4 cells
        "",  # 5: blank
        _csv_row("c-4", "cu-4", km=""),  # 6: no distance: the methodology needs one
        _csv_row("c-5", "cu-5") + ",surplus",  # 7: 10 cells
    ]
    (tmp_path / "events.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    done = tanpuhui("ingest", "events.csv", "--enterprise", ENTERPRISE, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["events"] == 5
    assert report["outcomes"] == {"pending_binding": 2, "rejected": 3}
    assert report["grams_credited"] == 638
    bad = {b["line"]: b for b in report["bad_lines"]}
    assert sorted(bad) == [4, 6, 7]
    assert bad[4]["message"] == "row has 4 cells, the header has 9"
    assert bad[6]["event_id"] == "c-4"
    assert bad[6]["reason"] == "quantity_mismatch"
    assert "distance_km" in bad[6]["message"]
    assert bad[7]["message"] == "row has 10 cells, the header has 9"

    # a CSV file by another name, with --format
    (tmp_path / "export.txt").write_text(
        ",".join(CSV_HEADER) + "\n" + _csv_row("t-1", "tu-1", ref="order-2") + "\n",
        encoding="utf-8",
    )
    txt = tanpuhui("ingest", "export.txt", "--enterprise", ENTERPRISE, "--format", "csv", "--json")
    assert txt.returncode == 0, txt.stderr
    assert json.loads(txt.stdout)["outcomes"] == {"pending_binding": 1}

    # an unknown column: every row is rejected, naming it
    (tmp_path / "extra.csv").write_text(
        "\n".join(
            [
                ",".join([*CSV_HEADER, "colour"]),
                _csv_row("x-1", "xu-1") + ",green",
                _csv_row("x-2", "xu-2") + ",blue",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    extra = tanpuhui("ingest", "extra.csv", "--enterprise", ENTERPRISE)
    assert extra.returncode == 0, extra.stderr
    assert bad_lines(extra.stderr) == [(2, "unknown_field"), (3, "unknown_field")]
    assert "line 2: unknown_field: unknown field(s): colour" in extra.stderr
    assert _outcome_rows(extra.stdout) == {"rejected": 2}
    assert "newly credited: 0 g CO2e" in extra.stdout and "bad lines: 2" in extra.stdout


# --- sample ----------------------------------------------------------------------------------


def _sample(tmp_path: Path) -> tuple[list[int], list[int]]:
    """Lines of the written sample: (every non-blank line, the deliberately malformed ones)."""
    text = (tmp_path / "sample.jsonl").read_text(encoding="utf-8").splitlines()
    lines = [n for n, line in enumerate(text, 1) if line.strip()]
    malformed = []
    for n, line in enumerate(text, 1):
        try:
            json.loads(line)
        except json.JSONDecodeError:
            malformed.append(n)
    return lines, malformed


def test_sample_writes_a_file_ingest_accepts(tanpuhui: Run, tmp_path: Path) -> None:
    written = tanpuhui("sample", "sample.jsonl", check=True)
    count = int(re.search(r"wrote (\d+) events for 200 persons", written.stdout).group(1))
    lines, malformed = _sample(tmp_path)
    assert len(lines) == count + len(malformed)
    assert 0 < len(malformed) < count / 50

    _onboard(tanpuhui)
    done = tanpuhui("ingest", "sample.jsonl", "--enterprise", ENTERPRISE, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["events"] == len(lines)
    assert [b["line"] for b in report["bad_lines"] if b["reason"] == "malformed_json"] == malformed
    assert report["outcomes"]["pending_binding"] > 0.9 * count
    assert report["grams_credited"] > 0
    assert tanpuhui("ledger", "verify").returncode == 0


def test_sample_events_are_all_covered_by_a_methodology(sqlite_url: str, tmp_path: Path) -> None:
    """synthetic.py: "Persons live in cities whose methodologies the catalogue ships"; `sample`
    promises "a few malformed lines" — so its only bad lines should be the malformed ones."""
    run_cli("sample", "sample.jsonl", cwd=tmp_path, database_url=sqlite_url)
    run_cli(
        "enterprise", "add", ENTERPRISE, "--role", "scene", cwd=tmp_path, database_url=sqlite_url
    )
    done = run_cli(
        "ingest", "sample.jsonl", "--enterprise", ENTERPRISE, "--json",
        cwd=tmp_path, database_url=sqlite_url,
    )  # fmt: skip
    report = json.loads(done.stdout)
    reasons = Counter(b["reason"] for b in report["bad_lines"])
    examples = {b["reason"]: b["message"] for b in report["bad_lines"]}
    assert set(reasons) == {"malformed_json"}, (reasons, examples)
