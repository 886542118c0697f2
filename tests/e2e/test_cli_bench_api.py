"""`tanpuhui bench api` end to end, small: both rates and their ratio, and nothing left behind
(its server, started `--with-parent`, and its load driver end with it)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.cli_support import assert_no_traceback, free_port, port_is_free, run_cli


def test_bench_api_reports_both_rates_and_leaves_its_port_free(tmp_path: Path) -> None:
    port = free_port()
    done = run_cli(
        "bench", "api", "--events", "1000", "--batch-size", "500", "--port", str(port), "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_no_traceback(done)
    result = json.loads(done.stdout)
    assert result["engine"] == "sqlite" and result["server_workers"] == 1
    assert 900 < result["events"] <= 1000  # the malformed-JSON lines are left out of bodies
    assert result["in_process"]["events_per_s"] > 0 and result["http"]["events_per_s"] > 0
    assert result["ratio"] > 0
    assert port_is_free(port)
