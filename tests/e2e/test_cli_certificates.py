"""Leaderboards and certificates from the real command line, on both engines: opt in, the board,
issue the top N, the PDF, verify by serial (exit 0, and 1 once altered) and a document offline
with the platform's public key alone (no database)."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pypdf
import sqlalchemy as sa

from tests.conftest import CST, NOW
from tests.e2e.cli_support import ride, run_cli, write_jsonl
from tests.e2e.conftest import Run


def _json(tanpuhui: Run, *args: str) -> Any:
    done = tanpuhui(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _days() -> tuple[str, str]:
    """Yesterday and today in the platform's time zone (+08:00) of the commands' business
    time (TANPUHUI_NOW, the tests' fixed clock): the rides' days."""
    today = NOW.astimezone(CST).date()
    return str(today - timedelta(days=1)), str(today)


def _riders(tanpuhui: Run, tmp_path: Path) -> list[str]:
    tanpuhui("enterprise", "add", "Bikes", "--role", "scene", check=True)
    people, events = [], []
    for i, (name, rides) in enumerate((("骑行达人", 3), ("Hidden", 4), ("Second", 1))):
        person = tanpuhui("person", "add", check=True).stdout.strip()
        tanpuhui("bind", f"u-{i}", "--enterprise", "Bikes", "--person", person, check=True)
        opt = "--opt-out" if name == "Hidden" else "--opt-in"
        tanpuhui("person", "display-name", person, name, opt, check=True)
        people.append(person)
        events += [ride(f"r-{i}-{j}", subject=f"u-{i}", hours_ago=3 + j) for j in range(rides)]
    write_jsonl(tmp_path / "rides.jsonl", events)
    tanpuhui("ingest", "rides.jsonl", "--enterprise", "Bikes", check=True)
    return people


def test_the_board_certificates_pdf_and_verification_from_the_command_line(
    tanpuhui: Run, tmp_path: Path, database_url: str
) -> None:
    people = _riders(tanpuhui, tmp_path)
    first, last = _days()
    board = ("--behaviour", "bike_share_ride", "--from", first, "--to", last)
    shown = _json(tanpuhui, "leaderboard", *board, "--top", "5")
    assert [(p["rank"], p["display_name"]) for p in shown["placings"]] == [
        (1, "骑行达人"),
        (2, "Second"),
    ]  # "Hidden" opted out: not shown, no gap
    assert "骑行达人" in tanpuhui("leaderboard", *board, check=True).stdout

    issued = _json(tanpuhui, "certificate", "issue", "--leaderboard", *board, "--top", "1")
    ((cert,),) = [issued["certificates"]]
    serial = cert["serial"]
    assert cert["verify"] == f"http://127.0.0.1:8000/verify/{serial}"
    again = _json(tanpuhui, "certificate", "issue", *board, "--top", "1")["certificates"]
    assert [(c["serial"], c["new"]) for c in again] == [(serial, False)]

    assert tanpuhui("certificate", "pdf", serial, "--out", "c.pdf", check=True).returncode == 0
    text = pypdf.PdfReader(io.BytesIO((tmp_path / "c.pdf").read_bytes())).pages[0].extract_text()
    assert "骑行达人" in text and serial in text

    verified = tanpuhui("certificate", "verify", serial, check=True)
    assert verified.stdout.startswith(f"valid: {serial} — 骑行达人")
    doc = tanpuhui("certificate", "show", serial, check=True).stdout
    (tmp_path / "cert.json").write_text(doc, encoding="utf-8")
    assert not any(p in doc for p in people)

    # offline: no database at all, the platform's public key from the configuration
    offline = run_cli("certificate", "verify", "--file", "cert.json", cwd=tmp_path)
    assert offline.returncode == 0, offline.stderr
    forged = json.loads(doc)
    forged["content"]["grams"] += 1000
    (tmp_path / "forged.json").write_text(json.dumps(forged), encoding="utf-8")
    refused = run_cli("certificate", "verify", "--file", "forged.json", cwd=tmp_path)
    assert refused.returncode == 1 and "error[certificate_altered]" in refused.stderr

    engine = sa.create_engine(database_url)
    with engine.begin() as conn:  # around the services
        conn.exec_driver_sql("UPDATE certificates SET content = replace(content, '达人', '大王')")
    engine.dispose()
    altered = tanpuhui("certificate", "verify", serial)
    assert altered.returncode == 1 and altered.stderr.startswith("error[certificate_altered]")
