"""Retirement and export from the command line (issue 13 item 5), the real `tanpuhui` in a
subprocess on both engines: `retire` (its certificate and blocks with serial, start, end),
refusals as one `error[code]` line, `export create | mark | file`, and `ledger verify`
catching a moved retired gram and an overlapping serial range after tampering (invariant 8;
tests/e2e/test_tamper.py's attacker: triggers off)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from tanpuhui.adapters.system import FixedClock
from tanpuhui.bootstrap import build
from tanpuhui.config import Settings
from tests.conftest import NOW
from tests.e2e.cli_support import assert_no_traceback
from tests.e2e.conftest import Run
from tests.e2e.test_tamper import _tamper
from tests.retirement_world import World, bought_world

RETIRE = ("--beneficiary", "Maps Ltd", "--purpose", "offsetting its 2026 scope 1-3 emissions")


def _json(tanpuhui: Run, *args: str) -> Any:
    done = tanpuhui(*args, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_no_traceback(done)
    return json.loads(done.stdout)


def _world(database_url: str, **kw: Any) -> World:
    app = build(Settings(database_url=database_url), clock=FixedClock(NOW))
    try:
        return bought_world(app, **kw)
    finally:
        app.close()


def test_retire_and_export_from_the_command_line(
    tanpuhui: Run, database_url: str, tmp_path: Path
) -> None:
    w = _world(database_url, persons=10, days=12)
    done = _json(tanpuhui, "retire", "Maps", "--grams", "5000", *RETIRE, "--period", "2026",
                 "--request-id", "r-1")  # fmt: skip
    assert re.fullmatch(r"TPH-R\d{8}-\d{4}-[0-9A-Z]{11}", done["certificate"])
    assert tanpuhui("certificate", "verify", done["certificate"]).returncode == 0
    (block,) = done["blocks"]
    assert (block["start"], block["end"]) == (1, 5000)
    assert block["serial"] == "TPH-mobility-420000-202611-Q2-000000000001-000000005000"
    again = _json(tanpuhui, "retire", "Maps", "--grams", "5000", *RETIRE, "--period", "2026",
                  "--request-id", "r-1")  # fmt: skip
    assert again["id"] == done["id"] and again["replayed"]
    too_much = tanpuhui("retire", "Maps", "--grams", str(w.bought), *RETIRE)
    assert too_much.returncode == 1
    assert too_much.stderr.strip().startswith("error[insufficient_balance]")
    assert_no_traceback(too_much)

    export = _json(tanpuhui, "export", "create", "--enterprise", "Maps", "--tonnes", "1",
                   "--registry", "CCER")  # fmt: skip
    assert export["status"] == "pending_export"
    assert [(b["start"], b["end"]) for b in export["blocks"]] == [(5001, 1_005_000)]
    locked = tanpuhui("export", "create", "--enterprise", "Maps", "--tonnes", "1",
                      "--registry", "CCER")  # fmt: skip
    assert locked.returncode == 1 and "error[insufficient_balance]" in locked.stderr
    written = _json(tanpuhui, "export", "file", export["id"], "--out", str(tmp_path / "x.csv"))
    assert written["blocks"] == 1
    (row,) = list(csv.DictReader((tmp_path / "x.csv").read_text().splitlines()))
    assert row["serial"] == export["blocks"][0]["serial"] and row["vintage"] == "2026-11"
    _json(tanpuhui, "export", "file", export["id"], "--out", str(tmp_path / "x.json"))
    assert json.loads((tmp_path / "x.json").read_text())["blocks"][0]["quantity_tonnes"] == 1
    marked = _json(tanpuhui, "export", "mark", export["id"], "--exported", "--reference", "R-9")
    assert (marked["status"], marked["reference"]) == ("exported", "R-9")
    late = tanpuhui("export", "mark", export["id"], "--returned")
    assert late.returncode == 4 and "error[export_not_pending]" in late.stderr
    assert tanpuhui("ledger", "verify").returncode == 0


def test_ledger_verify_catches_a_moved_retired_gram(tanpuhui: Run, database_url: str) -> None:
    _world(database_url, persons=1, days=1, verify=False)
    _json(tanpuhui, "retire", "Maps", "--grams", "1000", *RETIRE)
    assert tanpuhui("ledger", "verify").returncode == 0
    # the attacker gives one retired gram back to the enterprise, lines and balances alike
    for account, change in (("retired:%", "- 1"), ("enterprise:%", "+ 1")):
        _tamper(
            database_url,
            f"update postings set amount = amount {change} where account like '{account}'"
            f" and line = (select min(line) from postings where account like '{account}')",
        )
        _tamper(
            database_url,
            f"update balances set amount = amount {change} where account like '{account}'",
        )
    done = tanpuhui("ledger", "verify", "--json")
    assert done.returncode == 1
    codes = {v["code"] for v in json.loads(done.stdout)["violations"]}
    assert "retired_balance_mismatch" in codes


def test_ledger_verify_catches_an_overlapping_serial_range(
    tanpuhui: Run, database_url: str
) -> None:
    _world(database_url, persons=1, days=1, verify=False)
    _json(tanpuhui, "retire", "Maps", "--grams", "1000", *RETIRE)
    _json(tanpuhui, "retire", "Maps", "--grams", "500", *RETIRE)
    assert tanpuhui("ledger", "verify").returncode == 0
    if database_url.startswith("postgresql"):  # the attacker drops the exclusion constraint too
        _tamper(
            database_url, "alter table serial_blocks drop constraint ex_serial_blocks_no_overlap"
        )
    _tamper(
        database_url,
        'update serial_blocks set "end" = "end" + 10, grams = grams + 10 where start = 1',
    )
    done = tanpuhui("ledger", "verify", "--json")
    assert done.returncode == 1
    violations = json.loads(done.stdout)["violations"]
    assert "serial_overlap" in {v["code"] for v in violations}
