"""The demo owns its server (issue 8 item 3): whatever ends `tanpuhui demo` — Ctrl-C, SIGTERM,
SIGHUP, SIGKILL — its API server process ends too and the port is free again within seconds; a
port already taken is one line, a non-zero exit, no traceback; a server on the port that is not
the demo's own is reported and never talked to.

Before: SIGTERM or SIGKILL left the server (a daemon multiprocessing child) listening on the
port, and the next demo talked to that stale server and died with a traceback
(`tanpuhui.client.AuthError: 401 unknown_credential`)."""

from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tanpuhui.adapters.processes import Interrupted
from tanpuhui.demo import _serve_until_stopped
from tanpuhui.demo.server import INSTANCE_HEADER, wait_ready
from tanpuhui.domain.errors import ConfigurationError
from tests.e2e.cli_support import assert_no_traceback, free_port, port_is_free, run_cli

HOST = "127.0.0.1"
SMALL = ("--persons", "20", "--days", "2")


def wait_until(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def children(pid: int) -> list[int]:
    """The pids of a (Linux) process's children."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def gone(pid: int) -> bool:
    """The process has ended (a zombie waiting for a reaper counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


class Demo:
    """`tanpuhui demo` started in the background, its output in files."""

    def __init__(self, tmp_path: Path, port: int, *extra: str) -> None:
        self.port, self.out, self.err = port, tmp_path / "out.txt", tmp_path / "err.txt"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TANPUHUI_")}
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tanpuhui", "demo", "--db", str(tmp_path / "demo.db"),
                 *SMALL, "--port", str(port), *extra],
                stdout=out, stderr=err, cwd=tmp_path, env=env,
            )  # fmt: skip

    def wait_for(self, text: str, seconds: float = 120) -> None:
        if not wait_until(lambda: text in self.out.read_text() or self.ended(), seconds):
            raise AssertionError(f"no {text!r} in time:\n{self.output()}")
        assert text in self.out.read_text(), self.output()

    def ended(self) -> bool:
        return self.process.poll() is not None

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def stop(self) -> None:
        if not self.ended():
            self.process.kill()
        self.process.wait(30)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    started = Demo(tmp_path, free_port())
    yield started
    started.stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_while_serving_ends_the_demo_and_frees_the_port(
    demo: Demo, signum: int
) -> None:
    demo.wait_for("serving at")
    servers = children(demo.process.pid)
    assert servers and not port_is_free(demo.port)
    demo.process.send_signal(signum)
    assert demo.process.wait(15) == 0, demo.output()  # stopping a serving demo is its end
    assert wait_until(lambda: port_is_free(demo.port), 5)
    assert wait_until(lambda: all(gone(pid) for pid in servers), 5)  # the resource tracker too
    assert_no_traceback(subprocess.CompletedProcess([], 0, demo.output(), ""))


def test_sigterm_before_the_summary_stops_everything_with_one_line(demo: Demo) -> None:
    """Interrupted mid-month: exit 128 + 15, one `error[interrupted]` line, port free."""
    assert wait_until(lambda: not port_is_free(demo.port) or demo.ended(), 60), demo.output()
    servers = children(demo.process.pid)
    demo.process.send_signal(signal.SIGTERM)
    assert demo.process.wait(15) == 128 + signal.SIGTERM, demo.output()
    errors = [line for line in demo.err.read_text().splitlines() if line.startswith("error")]
    assert errors == ["error[interrupted]: interrupted (SIGTERM)"], demo.output()
    assert "serving at" not in demo.out.read_text()
    assert wait_until(lambda: port_is_free(demo.port), 5)
    assert wait_until(lambda: all(gone(pid) for pid in servers), 5)  # the resource tracker too


def test_sigkill_of_the_demo_ends_its_server_too(demo: Demo) -> None:
    """SIGKILL cannot be handled: the server notices its parent is gone (parent-death signal
    on Linux, a watch on the parent pid elsewhere) and ends by itself."""
    demo.wait_for("serving at")
    servers = children(demo.process.pid)
    assert servers
    demo.process.kill()
    demo.process.wait(10)
    assert wait_until(lambda: port_is_free(demo.port), 8)
    assert wait_until(lambda: all(gone(pid) for pid in servers), 8)


def test_a_port_already_taken_is_one_line_before_any_work(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(
            "demo", "--db", str(tmp_path / "demo.db"), *SMALL, "--port", str(port),
            cwd=tmp_path, timeout=60,
        )  # fmt: skip
    assert done.returncode == 5, done.stderr
    assert_no_traceback(done)
    assert done.stderr.splitlines() == [
        f"error[port_in_use]: port {port} on 127.0.0.1 is in use (another tanpuhui server or "
        f"demo?): stop it, or choose another port with --port"
    ]
    assert not (tmp_path / "demo.db").exists()  # refused before minutes of set-up


class _Answer(http.server.BaseHTTPRequestHandler):
    token: str | None = None

    def do_GET(self) -> None:
        self.send_response(200)
        if self.token is not None:
            self.send_header(INSTANCE_HEADER, self.token)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args: object) -> None:
        pass


class _Alive:
    def is_alive(self) -> bool:
        return True


@pytest.mark.parametrize("token", [None, "someone-elses-token"])
def test_a_server_that_is_not_the_demos_own_is_reported_not_talked_to(token: str | None) -> None:
    """A stale demo's server (another token) or any other program answering on the port."""
    handler = type("Handler", (_Answer,), {"token": token})
    with http.server.ThreadingHTTPServer((HOST, 0), handler) as stale:
        threading.Thread(target=stale.serve_forever, daemon=True).start()
        port = stale.server_address[1]
        with pytest.raises(ConfigurationError) as refused:
            wait_ready(f"http://{HOST}:{port}", int(port), _Alive(), "this-demos-token")
        stale.shutdown()
    assert refused.value.code == "foreign_server"
    assert "--port" in refused.value.message


def test_the_demos_own_server_is_recognised_by_its_token() -> None:
    handler = type("Handler", (_Answer,), {"token": "this-demos-token"})
    with http.server.ThreadingHTTPServer((HOST, 0), handler) as own:
        threading.Thread(target=own.serve_forever, daemon=True).start()
        port = own.server_address[1]
        wait_ready(f"http://{HOST}:{port}", int(port), _Alive(), "this-demos-token")
        own.shutdown()


@pytest.mark.postgres
def test_serve_workers_end_when_the_supervisor_is_killed(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """`serve --workers 2`: uvicorn's workers would outlive a SIGKILLed supervisor, holding
    the port; tied to it by `cli/worker.py`, they end within seconds."""
    import httpx

    from tests.db_fixtures import fresh_database_url

    port = free_port()
    env = dict(os.environ, TANPUHUI_DATABASE_URL=fresh_database_url(request, "postgres", tmp_path))
    with subprocess.Popen(
        [sys.executable, "-m", "tanpuhui", "serve", "--port", str(port), "--workers", "2"],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    ) as supervisor:  # fmt: skip

        def ready() -> bool:
            try:
                return httpx.get(f"http://{HOST}:{port}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        if not wait_until(ready, 60):
            supervisor.kill()  # else leaving the block would wait for it forever
            raise AssertionError("serve --workers 2 was not ready within 60 s")
        workers = children(supervisor.pid)
        try:
            assert len(workers) >= 2
            supervisor.kill()
            supervisor.wait(10)
            assert wait_until(lambda: port_is_free(port), 8)
            assert wait_until(lambda: all(gone(pid) for pid in workers), 8)
        finally:
            for pid in workers:
                if not gone(pid):
                    os.kill(pid, signal.SIGKILL)


def test_serve_on_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("serve", "--port", str(port), cwd=tmp_path, timeout=60)
    assert done.returncode == 5, done.stderr
    assert_no_traceback(done)
    assert [line.split(":")[0] for line in done.stderr.splitlines()] == ["error[port_in_use]"]


def test_serve_with_parent_ends_when_the_command_that_started_it_is_killed(
    tmp_path: Path,
) -> None:
    """`bench api` starts `serve --with-parent`: SIGKILL of the benchmark ends the server."""
    port = free_port()
    parent_script = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-m', 'tanpuhui', 'serve', '--with-parent', "
        f"'--port', '{port}'])\n"
        "time.sleep(600)\n"
    )
    env = dict(os.environ, TANPUHUI_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}")
    with subprocess.Popen([sys.executable, "-c", parent_script], env=env, cwd=tmp_path) as parent:
        try:
            assert wait_until(lambda: not port_is_free(port), 30)
            (server,) = children(parent.pid)
        finally:
            parent.kill()
            parent.wait(10)
        assert wait_until(lambda: port_is_free(port), 8)
        assert wait_until(lambda: gone(server), 8)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_serve_stops_cleanly_on_a_stop_signal(signum: int, tmp_path: Path) -> None:
    """Before: SIGHUP raised inside uvicorn's event loop and logged a traceback."""
    port = free_port()
    env = dict(os.environ, TANPUHUI_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}")
    with subprocess.Popen(
        [sys.executable, "-m", "tanpuhui", "serve", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as server:  # fmt: skip
        assert wait_until(lambda: _answers(port), 30)
        server.send_signal(signum)
        out, err = server.communicate(timeout=15)
    assert (server.returncode, out, err) == (0, "", "")
    assert port_is_free(port)


def _answers(port: int) -> bool:
    import httpx

    try:
        return httpx.get(f"http://{HOST}:{port}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


class _Ended:
    def __init__(self, exitcode: int) -> None:
        self.exitcode = exitcode

    def is_alive(self) -> bool:
        return False


def test_a_server_that_lost_the_race_for_the_port_is_reported_as_port_in_use() -> None:
    """Free when the demo checked, taken before its server bound it: the server exits
    PORT_TAKEN and the demo says which port and what to do."""
    from tanpuhui.demo.server import PORT_TAKEN

    port = free_port()
    with pytest.raises(ConfigurationError) as refused:
        wait_ready(f"http://{HOST}:{port}", port, _Ended(PORT_TAKEN), "token")
    assert refused.value.code == "port_in_use" and f"port {port}" in refused.value.message
    with pytest.raises(ConfigurationError, match=r"did not start \(exit code 1\)"):
        wait_ready(f"http://{HOST}:{port}", port, _Ended(1), "token")


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), Interrupted(signal.SIGTERM)])
def test_a_stop_signal_while_the_summary_prints_is_a_normal_end(stop: BaseException) -> None:
    """CI once sent SIGINT right after "serving at" appeared, before the demo was waiting on
    its server: the demo ended with `error[interrupted]` and 130 instead of 0. The summary that
    announces the server is part of serving."""

    class Server:
        def join(self) -> None:
            raise AssertionError("the stop ends the demo before it waits on the server")

    def announce() -> None:
        raise stop

    _serve_until_stopped(Server(), announce)  # type: ignore[arg-type]  # returns: a normal end
