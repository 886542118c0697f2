"""`tanpuhui sample` writes events the catalogue accepts (apart from its deliberate malformed
lines), or refuses a `--days` beyond the shortest claim window it would use, saying why.

Before: `tanpuhui sample --days 10` wrote events 19% of which came back `outside_claim_window`
(the meal and step methodologies accept claims up to 7 days old)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

from tanpuhui.adapters import synthetic
from tanpuhui.adapters.catalogue_files import (
    bundled_catalogue_dir,
    load_regions,
    read_catalogue_dir,
)
from tests.conftest import CST, NOW
from tests.e2e.cli_support import assert_no_traceback
from tests.e2e.conftest import Run


def _window() -> synthetic.ClaimWindow:
    catalogue = read_catalogue_dir(bundled_catalogue_dir(), load_regions()).catalogue()
    window = synthetic.shortest_claim_window(catalogue, NOW.astimezone(CST).date())
    assert window is not None
    return window


def test_the_longest_sample_allowed_is_accepted_by_the_catalogue(
    tanpuhui: Run, tmp_path: Path
) -> None:
    days = _window().days - 2
    assert days >= 1
    written = tanpuhui("sample", "sample.jsonl", "--persons", "60", "--days", str(days))
    assert written.returncode == 0, written.stderr
    tanpuhui("enterprise", "add", "Sample Co", "--role", "scene", check=True)
    done = tanpuhui("ingest", "sample.jsonl", "--enterprise", "Sample Co", "--json", check=True)
    report = json.loads(done.stdout)
    reasons = Counter(b["reason"] for b in report["bad_lines"])
    assert set(reasons) == {"malformed_json"}, reasons
    oldest = min(
        json.loads(line)["started_at"]
        for line in (tmp_path / "sample.jsonl").read_text().splitlines()
        if line.endswith("}")
    )
    age = NOW - datetime.fromisoformat(oldest)
    assert age.days >= days  # the file really reaches back that far


def test_a_sample_beyond_the_shortest_claim_window_is_refused_and_says_why(
    tanpuhui: Run, tmp_path: Path
) -> None:
    window = _window()
    done = tanpuhui("sample", "sample.jsonl", "--days", str(window.days - 1))
    assert done.returncode == 2
    assert_no_traceback(done)
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error[invalid_input]: --days {window.days - 1} is beyond")
    assert f"up to {window.days} days old" in line and window.methodology in line
    assert "outside_claim_window" in line and f"use --days {window.days - 2} or less" in line
    assert not (tmp_path / "sample.jsonl").exists()
    assert tanpuhui("sample", "ten.jsonl", "--days", "10").returncode == 2


def test_the_shortest_window_covers_every_behaviour_the_sample_writes() -> None:
    """shortest_claim_window looks at every behaviour `generate` writes, in every city."""
    people = synthetic.persons(300, seed=3)
    written = {e["behaviour"] for e in synthetic.generate(people, 2, NOW, seed=3)}
    considered = {"bike_share_ride", *synthetic.DAILY} | {
        b for city in synthetic.CITIES for b in city.transit
    }
    assert written <= considered
