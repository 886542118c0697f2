"""`tanpuhui bench ingest` end to end, small and on SQLite only: it makes its own databases."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli_support import assert_no_traceback, run_cli

pytestmark = pytest.mark.slow

EVENTS = 2000


@pytest.fixture(scope="module")
def bench_json(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    done = run_cli(
        "bench", "ingest", "--events", str(EVENTS), "--json", cwd=tmp_path_factory.mktemp("bench")
    )
    assert done.returncode == 0, done.stderr
    assert_no_traceback(done)
    return done


def _json_object(stdout: str) -> dict[str, Any]:
    """The JSON document in stdout, after any progress lines."""
    data: dict[str, Any] = json.loads(stdout[stdout.index("{") :])
    return data


def test_bench_ingest_prints_both_rates_and_their_ratio(tmp_path: Path) -> None:
    done = run_cli("bench", "ingest", "--events", str(EVENTS), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_no_traceback(done)
    out = done.stdout
    assert f"sqlite, {EVENTS:,} events, 1 worker(s):" in out
    assert re.search(r"pipeline\s+[\d,]+ events/s \(\d+\.\d s\)", out), out
    assert re.search(r"raw bulk insert\s+[\d,]+ event rows/s \(\d+\.\d s, [\d,]+ rows", out), out
    assert re.search(r"ratio\s+\d+% of the raw ceiling", out), out
    assert re.search(r"CPU per event\s+pipeline \d+\.\d µs \(database in-process\)", out), out
    assert re.search(r"CPU ceiling\s+\d+ CPUs at \d+\.\d µs per event: [\d,]+ events/s", out)
    assert re.search(r"ledger verify\s+0 violation\(s\)", out), out
    assert list(tmp_path.iterdir()) == []  # its databases are temporary


def test_bench_ingest_json_has_rates_ratio_and_a_clean_ledger(
    bench_json: subprocess.CompletedProcess[str],
) -> None:
    data = _json_object(bench_json.stdout)
    assert data["engine"] == "sqlite"
    assert data["events"] == EVENTS
    assert data["pipeline"]["events_per_s"] > 0
    assert data["raw_bulk_insert"]["events_per_s"] > 0
    assert data["raw_bulk_insert"]["events_rows"] > 0
    assert data["ratio"] > 0
    assert data["ratio"] == pytest.approx(
        data["pipeline"]["events_per_s"] / data["raw_bulk_insert"]["events_per_s"], rel=0.05
    )
    assert data["verify_violations"] == 0
    assert {"pending_binding", "rejected", "duplicate"} <= set(data["pipeline"]["outcomes"])


def test_bench_ingest_json_output_is_only_json(
    bench_json: subprocess.CompletedProcess[str],
) -> None:
    """`--json` is for machines: stdout must parse as one JSON document (progress elsewhere)."""
    json.loads(bench_json.stdout)


def test_bench_ingest_runs_as_many_events_as_asked(
    bench_json: subprocess.CompletedProcess[str],
) -> None:
    """The pipeline rate is `events / seconds`: every one of the `--events` must have gone
    through the pipeline and got an outcome."""
    data = _json_object(bench_json.stdout)
    assert sum(data["pipeline"]["outcomes"].values()) == data["events"], data["pipeline"]


def test_bench_ingest_json_has_the_cpu_budget_of_the_run(
    bench_json: subprocess.CompletedProcess[str],
) -> None:
    cpu = _json_object(bench_json.stdout)["cpu"]
    pipeline = cpu["pipeline_us_per_event"]
    assert pipeline["python"] > 0
    assert pipeline["database_server"] is None  # SQLite works inside the Python process
    assert cpu["cpus"] == 1  # … and has one writer at a time, so one CPU is what it can use
    assert pipeline["total"] == pipeline["python"]
    assert cpu["raw_insert_us_per_event_row"]["total"] > 0
    assert cpu["pipeline_ceiling_events_per_s"] == round(cpu["cpus"] * 1e6 / pipeline["total"])


@pytest.mark.postgres
def test_bench_ingest_on_postgres_splits_cpu_between_workers_and_the_server(
    tmp_path: Path,
) -> None:
    done = run_cli(
        "bench", "ingest", "--events", str(EVENTS), "--engine", "postgres", "--workers", "4",
        "--lock-waits", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_no_traceback(done)
    data = _json_object(done.stdout)
    assert data["verify_violations"] == 0
    assert sum(data["pipeline"]["outcomes"].values()) == EVENTS
    pipeline = data["cpu"]["pipeline_us_per_event"]
    assert pipeline["python"] > 0 and pipeline["database_server"] > 0
    assert pipeline["total"] == pytest.approx(pipeline["python"] + pipeline["database_server"])
    raw = data["cpu"]["raw_insert_us_per_event_row"]
    assert raw["database_server"] > 0
    waits = data["lock_waits"]  # --lock-waits: the workers' backends were sampled
    assert waits["samples"] > 0 and waits["busy_backend_samples"] > 0
    assert 0 <= waits["waiting_share"] <= 1
    assert sum(waits["by_table"].values()) == pytest.approx(waits["waiting_share"], abs=1e-3)
    # more workers than CPUs, and no batch ever waited for a log head (issue 10): writers
    # queue their lines and sequence with SKIP LOCKED
    assert "log_heads" not in waits["by_table"], waits
    # nor for a regional total another batch was adding to: each holds its own stripe
    shared = {"region_rollups", "region_levels", "region_totals"}
    assert not shared & set(waits["by_table"]), waits
    assert data["pipeline"]["lines_integrated_after_workers"] >= 0


def test_bench_ingest_lock_waits_needs_postgres(tmp_path: Path) -> None:
    done = run_cli("bench", "ingest", "--events", str(EVENTS), "--lock-waits", cwd=tmp_path)
    assert done.returncode == 2  # bad input, as for every option of the CLI
    assert_no_traceback(done)
    assert (
        "error[invalid_input]: --lock-waits samples PostgreSQL's lock table"
        in done.stdout + done.stderr
    )


def test_bench_ingest_with_a_programme_awards_points_to_bound_persons(tmp_path: Path) -> None:
    """`--bind --programme all`: every subject is bound first and every credited event earns;
    the ledger stays clean. An unknown programme is one error line, no traceback."""
    done = run_cli(
        "bench", "ingest", "--events", str(EVENTS), "--bind", "--programme", "all", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = _json_object(done.stdout)
    assert data["bound"] is True and data["programme"] == "all"
    assert 0 < data["points_awarded"] <= data["pipeline"]["outcomes"]["credited"]
    assert data["verify_violations"] == 0
    bad = run_cli("bench", "ingest", "--events", str(EVENTS), "--programme", "nope", cwd=tmp_path)
    assert bad.returncode != 0
    assert_no_traceback(bad)
    assert "no bundled programme or file" in bad.stdout + bad.stderr


def test_bench_market_spreads_sellers_over_offers_and_oversells_nothing(tmp_path: Path) -> None:
    done = run_cli(
        "bench", "market", "--sellers", "4", "--rides", "2", "--offers", "2", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = _json_object(done.stdout)
    assert data["offers"] == 2 and data["completed"] > 0
    assert data["oversold_grams"] == 0 and data["verify_violations"] == 0
