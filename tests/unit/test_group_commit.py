"""Group commit (services/group_commit.py): concurrent requests run together, each caller gets
its own outcome, a failing run reaches every caller of its group, and the leader hands over."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from tanpuhui.services.group_commit import GroupCommit


def test_a_lone_request_runs_at_once_in_its_callers_thread() -> None:
    groups: list[tuple[list[int], str]] = []

    def run(items: Sequence[int]) -> list[int | BaseException]:
        groups.append((list(items), threading.current_thread().name))
        return [i * 10 for i in items]

    assert GroupCommit[int, int]().submit(4, run) == 40
    assert groups == [([4], threading.current_thread().name)]


def test_requests_queued_while_a_group_runs_run_together_and_each_gets_its_own() -> None:
    """The first request's run blocks until 15 more are queued: they are the next group (the
    leader runs it before handing over), and each caller gets its own item's outcome."""
    desk: GroupCommit[int, int] = GroupCommit(most=64)
    queued, release = threading.Semaphore(0), threading.Event()
    groups: list[list[int]] = []

    def run(items: Sequence[int]) -> list[int | BaseException]:
        groups.append(list(items))
        if len(groups) == 1:
            release.wait(10)
        return [i * 10 if i % 5 else ValueError(f"no {i}") for i in items]

    got: dict[int, object] = {}

    def call(i: int) -> None:
        queued.release()
        try:
            got[i] = desk.submit(i, run)
        except ValueError as exc:
            got[i] = str(exc)

    first = threading.Thread(target=call, args=(1,))
    first.start()
    queued.acquire()
    while not groups:  # the first group is running
        threading.Event().wait(0.005)
    others = [threading.Thread(target=call, args=(i,)) for i in range(2, 17)]
    for th in others:
        th.start()
    for _ in others:
        queued.acquire()
    threading.Event().wait(0.2)  # they are queued behind the running group
    release.set()
    for th in [first, *others]:
        th.join(10)
    assert groups[0] == [1]
    assert sorted(i for g in groups[1:] for i in g) == list(range(2, 17))
    assert len(groups) < 16  # some ran together
    assert got == {i: (i * 10 if i % 5 else f"no {i}") for i in range(1, 17)}


def test_a_group_whose_run_raises_raises_in_every_caller_of_it() -> None:
    desk: GroupCommit[int, int] = GroupCommit()

    def run(items: Sequence[int]) -> list[int | BaseException]:
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="went away"):
        desk.submit(1, run)
    assert desk.submit(2, lambda items: [7 for _ in items]) == 7  # the desk is free again


def test_at_most_most_requests_run_in_one_group() -> None:
    desk: GroupCommit[int, int] = GroupCommit(most=3)
    sizes: list[int] = []
    gate = threading.Event()

    def run(items: Sequence[int]) -> list[int | BaseException]:
        sizes.append(len(items))
        if len(sizes) == 1:
            gate.wait(10)
        return list(items)

    threads = [threading.Thread(target=desk.submit, args=(i, run)) for i in range(10)]
    threads[0].start()
    while not sizes:
        threading.Event().wait(0.005)
    for th in threads[1:]:
        th.start()
    threading.Event().wait(0.2)
    gate.set()
    for th in threads:
        th.join(10)
    assert sum(sizes) == 10 and max(sizes) <= 3
