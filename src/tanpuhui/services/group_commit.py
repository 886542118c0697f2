"""Group commit: concurrent requests of one process done together, in one transaction.

A thread that submits a request while no group is being run becomes the leader: it takes what
is queued (at most `most` requests), runs them with the function it was given, hands each
waiter its outcome, and goes on with what queued meanwhile until its own request is done; then
it wakes the oldest waiter to lead the next group. There is no thread of its own to start or
stop, and a lone request runs at once, in its caller's thread. What groups cost a request is at
most the group in progress when it arrived; what they save is everything a transaction costs
once whatever it holds (docs/performance.md, "Sales in groups").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[T, R]):
    __slots__ = ("error", "item", "value", "wake")

    def __init__(self, item: T) -> None:
        self.item = item
        self.value: R | None = None
        self.error: BaseException | None = None
        self.wake = threading.Event()

    @property
    def done(self) -> bool:
        return self.wake.is_set() and (self.value is not None or self.error is not None)


class GroupCommit(Generic[T, R]):
    """`submit(item, run)`: `run(items)` returns one outcome per item, in order (a value, or
    an exception to raise in that item's caller); if `run` itself raises, every item of the
    group gets that exception."""

    def __init__(self, most: int = 64) -> None:
        self._most = most
        self._lock = threading.Lock()
        self._queue: list[_Slot[T, R]] = []
        self._leading = False
        #: groups run and requests in them, since this process started (for benchmarks)
        self.groups = 0
        self.items = 0

    def submit(self, item: T, run: Callable[[Sequence[T]], Sequence[R | BaseException]]) -> R:
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            lead = not self._leading
            self._leading = True
        if not lead:
            slot.wake.wait()  # done, or woken to lead the next group
        if not slot.done:
            self._lead(slot, run)
        if slot.error is not None:
            raise slot.error
        assert slot.value is not None
        return slot.value

    def _lead(
        self, own: _Slot[T, R], run: Callable[[Sequence[T]], Sequence[R | BaseException]]
    ) -> None:
        while True:
            with self._lock:
                group = self._queue[: self._most]
                del self._queue[: self._most]
                self.groups += 1
                self.items += len(group)
            try:
                outcomes: Sequence[R | BaseException] = run([s.item for s in group])
            except BaseException as exc:  # each waiter raises it; so does the leader
                outcomes = [exc] * len(group)
            for slot, outcome in zip(group, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    slot.error = outcome
                else:
                    slot.value = outcome
                slot.wake.set()
            with self._lock:
                if not self._queue:
                    self._leading = False
                    return
                if own.done:
                    self._queue[0].wake.set()  # the oldest waiter leads the next group
                    return
