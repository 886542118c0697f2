"""Delivering sign-in codes. Production plugs an SMS or app-push sender in here; the console
sender of the demo and of development prints each code and keeps the last few in memory, so
the demo page (/demo/codes, dev mode only) can show them."""

from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import UTC, datetime

from tanpuhui.domain.sign_in import Principal

log = logging.getLogger("tanpuhui.sign_in")


class ConsoleCodeSender:
    def __init__(self, keep: int = 20) -> None:
        self._recent: deque[tuple[datetime, str, str]] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def send(self, principal: Principal, code: str) -> None:
        log.warning("sign-in code for %s: %s", principal.key, code)
        with self._lock:
            self._recent.appendleft((datetime.now(UTC), principal.key, code))

    def recent(self) -> list[tuple[datetime, str, str]]:
        with self._lock:
            return list(self._recent)
