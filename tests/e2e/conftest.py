"""End-to-end fixtures: the real `tanpuhui` command in a subprocess, against real databases."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.db_fixtures import fresh_database_url
from tests.e2e.cli_support import CLI_ENV

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def database_url(request: pytest.FixtureRequest, engine_name: str, tmp_path: Path) -> str:
    return fresh_database_url(request, engine_name, tmp_path)


@pytest.fixture
def tanpuhui(database_url: str, tmp_path: Path) -> Run:
    """Run `tanpuhui ARGS…` against this test's database, on the tests' fixed clock
    (TANPUHUI_NOW); returns the completed process."""

    def run(
        *args: str, check: bool = False, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, TANPUHUI_DATABASE_URL=database_url, COLUMNS="200", **CLI_ENV)
        done = subprocess.run(
            [sys.executable, "-m", "tanpuhui", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            input=stdin,
            timeout=300,
            check=False,  # callers look at the exit code
        )
        if check and done.returncode != 0:
            raise AssertionError(f"tanpuhui {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    return run
