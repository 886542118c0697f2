"""`tanpuhui bench pages` end to end, small and on SQLite: the person's rides are all credited,
the person signs in through the pages and the page's server time is reported."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tanpuhui.cli.bench_pages import person_rides
from tests.conftest import CST
from tests.e2e.cli_support import assert_no_traceback, run_cli

pytestmark = pytest.mark.slow


def test_bench_pages_reports_the_person_pages_server_time(tmp_path: Path) -> None:
    done = run_cli(
        "bench", "pages", "--events", "20000", "--reductions", "700", "--requests", "10",
        "--json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_no_traceback(done)
    result = json.loads(done.stdout[done.stdout.index("{") :])
    assert (result["events"], result["reductions"], result["requests"]) == (20000, 700, 10)
    assert (
        0 < result["server_ms"]["p50"] <= result["server_ms"]["p95"] <= result["server_ms"]["max"]
    )
    assert result["client_ms"]["p95"] >= result["server_ms"]["p50"]


def test_the_persons_rides_neither_overlap_nor_cross_the_daily_cap() -> None:
    rides = person_rides(10_000, datetime(2026, 11, 17, 7, 30, tzinfo=UTC))
    spans = sorted(
        (datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["ended_at"]))
        for r in rides
    )
    gaps = [(b[0] - a[1]).total_seconds() for a, b in itertools.pairwise(spans)]
    assert min(gaps) > 180  # the mobility group's clock-skew tolerance
    assert len({r["event_id"] for r in rides}) == 10_000
    per_day: dict[object, int] = {}
    for start, _ in spans:
        day = start.astimezone(CST).date()
        per_day[day] = per_day.get(day, 0) + 1
    assert max(per_day.values()) * 27 < 10_000  # 27 g a ride, the mobility cap is 10 kg a day
