"""Helpers for the command-line end-to-end tests: events relative to the tests' fixed clock
(the command line runs on it through TANPUHUI_NOW), files, and running `tanpuhui` with an
environment of the test's choosing."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.builders import event
from tests.conftest import NOW

#: `line N: reason: message`, as `tanpuhui ingest` reports a bad line on stderr.
BAD_LINE = re.compile(r"^line (\d+): ([a-z_]+): (.+)$", re.MULTILINE)


#: The commands' business time: TANPUHUI_NOW set to the tests' fixed clock, so that what they
#: accept never depends on today's date.
CLI_ENV = {"TANPUHUI_NOW": NOW.isoformat()}


def ride(event_id: str, subject: str = "u-1", hours_ago: float = 3, **kw: Any) -> dict[str, Any]:
    """A 3.42 km Wuhan shared-bike ride (319 g) that started `hours_ago` before the tests'
    fixed now (the commands' TANPUHUI_NOW)."""
    return event(
        event_id=event_id,
        subject=subject,
        start=NOW - timedelta(hours=hours_ago),
        **kw,
    )


def write_jsonl(path: Path, lines: Iterable[dict[str, Any] | str]) -> Path:
    """One line per item: a dict as JSON, a string verbatim (malformed or blank lines)."""
    text = [line if isinstance(line, str) else json.dumps(line) for line in lines]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def run_cli(
    *args: str, cwd: Path, database_url: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`python -m tanpuhui ARGS…` with TANPUHUI_DATABASE_URL set to `database_url` (or unset)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANPUHUI_")}
    env["COLUMNS"] = "200"
    env.update(CLI_ENV)
    if database_url is not None:
        env["TANPUHUI_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "tanpuhui", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def assert_no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr, done.stderr
    assert "Traceback" not in done.stdout, done.stdout


def bad_lines(stderr: str) -> list[tuple[int, str]]:
    """(line, reason) of every bad line `tanpuhui ingest` reported on stderr."""
    return [(int(m.group(1)), m.group(2)) for m in BAD_LINE.finditer(stderr)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Nothing listens on the port and a server could bind it (as uvicorn does)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
