"""End-to-end fixtures: the `tanpuhui` command against real databases.

`tanpuhui` runs the command line in this process — the same Typer application, option
parsing, error reporting and exit status as `python -m tanpuhui`, with the environment,
working directory and streams the test gives it — because a child process pays the whole
import of the application for every command (about 1.3 s of CPU each, more under coverage;
the suite runs hundreds). `cli_support.run_cli` still starts the real executable, for the
tests of what only a process shows (servers, signals, the demo) and for the bad-input
cases' `test_the_real_command_answers_the_same_way`.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tanpuhui.cli import common
from tanpuhui.cli.main import cli
from tests.db_fixtures import fresh_database_url
from tests.e2e.cli_support import CLI_ENV

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def database_url(request: pytest.FixtureRequest, engine_name: str, tmp_path: Path) -> str:
    return fresh_database_url(request, engine_name, tmp_path)


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _text_stream(data: bytes = b"") -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", write_through=True)


def run_in_process(
    args: tuple[str, ...], env: Mapping[str, str], cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`tanpuhui ARGS…` in this process; returns what a finished child process would."""
    out, err = _text_stream(), _text_stream()
    saved_stdin, saved_cwd = sys.stdin, Path.cwd()
    widths = (common.console.width, common.err_console.width)
    sys.stdin = _text_stream((stdin or "").encode())
    os.chdir(cwd)
    try:
        with _environment(env), redirect_stdout(out), redirect_stderr(err):
            common.console.width = common.err_console.width = int(env.get("COLUMNS", "80"))
            status = common.run(cli, list(args))
    finally:
        sys.stdin = saved_stdin
        os.chdir(saved_cwd)
        common.console.width, common.err_console.width = widths
    out.flush()
    err.flush()
    return subprocess.CompletedProcess(
        ["tanpuhui", *args],
        status,
        out.buffer.getvalue().decode("utf-8"),  # type: ignore[attr-defined]
        err.buffer.getvalue().decode("utf-8"),  # type: ignore[attr-defined]
    )


@pytest.fixture
def tanpuhui(database_url: str, tmp_path: Path) -> Run:
    """Run `tanpuhui ARGS…` against this test's database, on the tests' fixed clock
    (TANPUHUI_NOW); returns the completed command as a CompletedProcess."""

    def run(
        *args: str, check: bool = False, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {"TANPUHUI_DATABASE_URL": database_url, "COLUMNS": "200", **CLI_ENV}
        done = run_in_process(args, env, tmp_path, stdin)
        if check and done.returncode != 0:
            raise AssertionError(f"tanpuhui {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    return run
