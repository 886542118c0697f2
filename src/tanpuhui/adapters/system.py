"""The real clock and id source (the domain takes both as arguments)."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime

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
    """Time-ordered ids, monotonic within a process even inside one millisecond."""

    def __init__(self) -> None:
        self._last_ms = 0
        self._counter = 0

    def new(self) -> uuid.UUID:
        ms = time.time_ns() // 1_000_000
        if ms <= self._last_ms:
            ms = self._last_ms
            self._counter += 1
        else:
            self._last_ms, self._counter = ms, int.from_bytes(os.urandom(2), "big") >> 4
        # 12 bits of counter (monotonic) then 62 random bits
        random_bits = ((self._counter & 0xFFF) << 62) | (int.from_bytes(os.urandom(8), "big") >> 2)
        return uuid7(ms, random_bits)
