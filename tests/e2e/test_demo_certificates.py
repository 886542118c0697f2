"""Issue 13 item 6: the demo issues the simulated month's top cyclists their certificates and
prints where to verify one; that serial verifies against the demo's database."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from tests.e2e.cli_support import run_cli


@pytest.mark.slow
def test_the_demo_issues_certificates_and_prints_where_to_verify_one(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = tmp_path / "demo.db"
    done = run_cli(
        "demo", "--db", str(db), "--persons", "120", "--days", "8", "--port", str(port),
        "--no-serve", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = re.sub(r"\s+", " ", done.stdout + done.stderr)
    found = re.search(rf"verify at http://127\.0\.0\.1:{port}/verify/(TPH-L[0-9A-Z-]+)", printed)
    assert found, printed[-2000:]
    assert "top 10 cyclists" in printed
    verified = run_cli("certificate", "verify", found.group(1), cwd=tmp_path,
                       database_url=f"sqlite:///{db}")  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith(f"valid: {found.group(1)} — 骑友")
