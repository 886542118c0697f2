"""adapters/processes.py: children end with their parent; stop signals interrupt; ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tanpuhui.adapters.processes import (
    ChildFailure,
    Interrupted,
    failure_of,
    listen,
    port_is_free,
    stop_signals,
)
from tanpuhui.domain.errors import ConfigurationError, TanpuhuiError

# a parent that starts a child which calls die_with_parent() and sleeps; prints the child's pid
PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
    print(child.pid, flush=True)
    time.sleep(600)
    """
)
CHILD = textwrap.dedent(
    """
    import time
    from tanpuhui.adapters import processes
    if {no_prctl}:
        processes._parent_death_signal = lambda signum: None  # only the portable watch
    processes.die_with_parent()
    time.sleep(600)
    """
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("no_prctl", [False, True], ids=["parent-death-signal", "parent-watch"])
def test_a_child_ends_when_its_parent_is_killed(no_prctl: bool) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD.format(no_prctl=no_prctl)],
        stdout=subprocess.PIPE, text=True,
    ) as parent:  # fmt: skip
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        try:
            time.sleep(1.0)  # let the child arm its signal and watch
            assert _alive(child)
            parent.kill()
            parent.wait(10)
            deadline = time.monotonic() + 5
            while _alive(child) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _alive(child)
        finally:
            if _alive(child):
                os.kill(child, signal.SIGKILL)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_stop_signals_interrupt_like_ctrl_c_and_are_restored(signum: int) -> None:
    before = signal.getsignal(signum)
    with pytest.raises(KeyboardInterrupt) as caught, stop_signals():
        os.kill(os.getpid(), signum)
        time.sleep(5)  # interrupted long before
    assert isinstance(caught.value, Interrupted) and caught.value.signum == signum
    assert signal.getsignal(signum) == before


def test_a_port_in_use_is_one_error_naming_it_and_the_option() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
        with pytest.raises(ConfigurationError) as refused:
            listen("127.0.0.1", port)
    assert refused.value.code == "port_in_use"
    assert f"port {port}" in refused.value.message and "--port" in refused.value.message
    assert port_is_free("127.0.0.1", port)


def test_a_failing_child_reports_why_instead_of_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bench pipeline worker that cannot reach its database sends its parent a
    ChildFailure; the parent's one error line carries it. Before: the child printed a
    traceback and the parent said only "exit code 1"."""
    import queue as queues

    from tanpuhui.cli.bench import _collect, _worker

    monkeypatch.setattr("tanpuhui.cli.bench.die_with_parent", lambda: None)  # in-process here
    results: queues.Queue[object] = queues.Queue()
    url = "postgresql://nobody@127.0.0.1:1/none"
    (tmp_path / "shard.jsonl").write_text("{}\n")
    _worker(url, "0190a4b2-0000-7000-8000-000000000000", str(tmp_path / "shard.jsonl"), 10, results)
    failure = results.get_nowait()
    assert isinstance(failure, ChildFailure) and failure.code == "database_unavailable"
    results.put(failure)

    class Running:
        exitcode = None

    with pytest.raises(TanpuhuiError) as reported:
        _collect([Running()], results)
    assert reported.value.code == "database_unavailable"
    assert reported.value.message.startswith("a pipeline worker failed: cannot reach the database")


def test_the_demo_reports_why_its_server_did_not_start() -> None:
    import multiprocessing

    from tanpuhui.demo.server import wait_ready

    class Ended:
        exitcode = 1

        def is_alive(self) -> bool:
            return False

    failures = multiprocessing.get_context("spawn").SimpleQueue()
    failures.put(failure_of(ConfigurationError("TANPUHUI_MODE=prod needs PostgreSQL")))
    with pytest.raises(ConfigurationError) as refused:
        wait_ready("http://127.0.0.1:1", 1, Ended(), "token", failures)
    assert refused.value.message == (
        "the API server did not start (exit code 1): TANPUHUI_MODE=prod needs PostgreSQL"
    )
