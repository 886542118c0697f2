"""Keyset paging of the pages (services/pages.py `window`): walking the *older* links from the
first page shows every item exactly once in the list's order, walking the *newer* links back
shows the same pages, and the first page says it is the first — for any list, page size and
ties in the sort key (the id breaks them)."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from tanpuhui.services.pages import Window, window

Key = tuple[int, int]  # (a sort key with ties, a unique id)


def _fetcher(items: list[Key]) -> tuple[Callable[[int, Key | None, bool], list[Key]], list[Key]]:
    ordered = sorted(items, reverse=True)  # newest first

    def fetch(n: int, cursor: Key | None, older: bool) -> list[Key]:
        if cursor is None:
            return ordered[:n]
        if older:
            return [k for k in ordered if k < cursor][:n]
        return [k for k in reversed(ordered) if k > cursor][:n]

    return fetch, ordered


@given(
    st.lists(st.integers(0, 5), max_size=40).map(lambda ks: [(k, i) for i, k in enumerate(ks)]),
    st.integers(1, 7),
)
def test_walking_older_then_newer_shows_every_item_once_in_order(
    items: list[Key], limit: int
) -> None:
    fetch, ordered = _fetcher(items)
    pages: list[Window[Key, Key]] = [window(fetch, lambda k: k, limit)]
    assert pages[0].first and pages[0].newer is None
    while pages[-1].older is not None:
        pages.append(window(fetch, lambda k: k, limit, before=pages[-1].older))
        assert not pages[-1].first and pages[-1].newer is not None
    assert [k for p in pages for k in p.items] == ordered
    assert all(len(p.items) == limit for p in pages[:-1])
    back = pages[-1]
    for expected in reversed(pages[:-1]):
        assert back.newer is not None
        back = window(fetch, lambda k: k, limit, after=back.newer)
        assert back.items == expected.items
    assert back.first and back.newer is None
