"""The CPU budget `bench ingest` prints: per-event CPU split and the ceiling it implies."""

from __future__ import annotations

import pytest

from tanpuhui.cli.bench import cpu_budget


def test_postgres_budget_splits_python_and_server_and_derives_the_ceiling() -> None:
    pipeline = {"worker_cpu_seconds": 60.0, "server_cpu_seconds": 40.0}
    raw = {"cpu_seconds": 5.0, "server_cpu_seconds": 15.0}
    budget = cpu_budget(1_000_000, 1_000_000, pipeline, raw, cpus=2)
    assert budget["pipeline_us_per_event"] == {
        "python": 60.0,
        "database_server": 40.0,
        "total": 100.0,
    }
    assert budget["raw_insert_us_per_event_row"]["total"] == 20.0
    # two CPUs, 100 µs of CPU per event: at most 20,000 events a second
    assert budget["pipeline_ceiling_events_per_s"] == 20_000


def test_sqlite_budget_has_no_separate_server_share() -> None:
    pipeline = {"worker_cpu_seconds": 12.5, "server_cpu_seconds": None}
    raw = {"cpu_seconds": 2.0, "server_cpu_seconds": None}
    budget = cpu_budget(100_000, 80_000, pipeline, raw, cpus=2)
    assert budget["pipeline_us_per_event"]["database_server"] is None
    assert budget["pipeline_us_per_event"]["total"] == 125.0
    assert budget["raw_insert_us_per_event_row"]["total"] == 25.0
    assert budget["pipeline_ceiling_events_per_s"] == pytest.approx(16_000)
