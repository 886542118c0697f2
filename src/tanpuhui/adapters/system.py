"""The real clock and id source (the domain takes both as arguments)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from tanpuhui.domain.ids import uuid7


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that says what it is told (demos, benchmarks and tests replaying a past day)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


class Uuid7Source:
    """Time-ordered ids, monotonic within a process even inside one millisecond.

    Layout after the 48-bit millisecond time: a 12-bit counter (random start each
    millisecond, +1 per id within it) and 62 random bits from the OS, read in bulk.
    """

    _POOL = 8 * 4096

    def __init__(self) -> None:
        self._last_ms = 0
        self._counter = 0
        self._pool = b""
        self._at = 0
        self._lock = threading.Lock()

    def new(self) -> uuid.UUID:
        return self.many(1)[0]

    def many(self, count: int) -> list[uuid.UUID]:
        """`count` consecutive ids (one clock reading, one lock) — a batch needs one per event."""
        made: list[uuid.UUID] = []
        with self._lock:
            now_ms = time.time_ns() // 1_000_000
            for _ in range(count):
                if now_ms <= self._last_ms:
                    ms = self._last_ms
                    self._counter += 1
                    if self._counter > 0xFFF:
                        ms = self._last_ms = ms + 1
                        self._counter = 0
                else:
                    ms = self._last_ms = now_ms
                    self._counter = self._random(2) >> 5
                made.append(uuid7(ms, (self._counter << 62) | (self._random(8) >> 2)))
        return made

    def _random(self, size: int) -> int:
        if self._at + size > len(self._pool):
            self._pool, self._at = os.urandom(self._POOL), 0
        chunk = self._pool[self._at : self._at + size]
        self._at += size
        return int.from_bytes(chunk, "big")


class SharedClock:
    """Business time shared with other processes through a `multiprocessing.Value('d')`:
    Unix seconds, or 0 for real time. The demo moves it forward as it simulates the days."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def now(self) -> datetime:
        seconds = float(self.value.value)
        return datetime.fromtimestamp(seconds, UTC) if seconds else datetime.now(UTC)
