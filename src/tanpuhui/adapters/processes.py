"""Processes a command starts, and how they end: with their parent, whatever ends it.

Invariants kept here, for every process a command starts (the demo's API server, the workers of
`serve --workers`, benchmark workers):

- a child calls `die_with_parent()` first: on Linux the kernel sends it SIGTERM when its parent
  dies (`prctl(PR_SET_PDEATHSIG)`, which also covers SIGKILL of the parent); everywhere a
  watcher thread notices the parent pid change and ends the child (SIGTERM to itself, so a
  server shuts down cleanly, then a hard exit if it has not ended within a few seconds);
- a parent runs its children inside `stop_signals()`: SIGTERM and SIGHUP raise `Interrupted`
  (a `KeyboardInterrupt`, as Ctrl-C does) in the main thread, so the `finally` blocks that stop
  the children run on every catchable signal, not only on Ctrl-C;
- a server binds its listening socket with `listen()`, which refuses a port in use with one
  `ConfigurationError` (code `port_in_use`) naming the port and `--port`;
- a child that fails sends its parent a `ChildFailure` (code, message) instead of printing a
  traceback, so the parent reports it in its one error line.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import NamedTuple

from tanpuhui.domain.errors import ConfigurationError, TanpuhuiError

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_INTERVAL_S = 0.5
GRACE_S = 5.0
#: the signals that stop a command as Ctrl-C does (SIGHUP does not exist on Windows)
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Interrupted(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGHUP) received by a command: handled as Ctrl-C is."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class ChildFailure(NamedTuple):
    """Why a child process failed, for its parent to report (picklable)."""

    code: str
    message: str


def failure_of(exc: BaseException) -> ChildFailure:
    if isinstance(exc, TanpuhuiError):
        return ChildFailure(exc.code, exc.message)
    lines = str(exc).strip().splitlines()
    return ChildFailure("internal", f"unexpected {type(exc).__name__}: {lines[0] if lines else ''}")


def signal_number(interruption: KeyboardInterrupt) -> int:
    """The signal behind an interruption: Ctrl-C (SIGINT) unless it was a stop signal."""
    return interruption.signum if isinstance(interruption, Interrupted) else signal.SIGINT


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """Within: SIGTERM and SIGHUP raise `Interrupted` in the main thread (as SIGINT raises
    KeyboardInterrupt); the previous handlers come back afterwards. Outside the main thread
    signals cannot be handled, and this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(signum)

    previous = {s: signal.signal(s, interrupt) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def die_with_parent(parent_pid: int | None = None) -> None:
    """Make this (child) process end when its parent does. `parent_pid` defaults to the
    multiprocessing parent, else the current parent."""
    if parent_pid is None:
        parent = multiprocessing.parent_process()
        parent_pid = parent.pid if parent is not None and parent.pid else os.getppid()
    _parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        _end()
    threading.Thread(
        target=_watch, args=(parent_pid,), name="tanpuhui-parent-watch", daemon=True
    ).start()


def _parent_death_signal(signum: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCH_INTERVAL_S)
    _end()


def _end() -> None:
    """SIGTERM to this process (a server shuts down cleanly); a hard exit after the grace."""
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_S)
    os._exit(1)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (SO_REUSEADDR, as uvicorn binds), inheritable by
    worker processes; a port in use or not allowed is one `ConfigurationError`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise port_error(host, port, exc) from None
    sock.set_inheritable(True)
    return sock


def port_error(host: str, port: int, exc: OSError | None = None) -> ConfigurationError:
    if exc is None or exc.errno == errno.EADDRINUSE:
        return ConfigurationError(
            f"port {port} on {host} is in use (another tanpuhui server or demo?): stop it, "
            f"or choose another port with --port",
            code="port_in_use",
        )
    return ConfigurationError(
        f"cannot listen on {host}:{port} ({exc.strerror}): choose another port with --port",
        code="port_unavailable",
    )


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now."""
    try:
        listen(host, port).close()
    except ConfigurationError:
        return False
    return True
