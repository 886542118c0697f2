"""Invariant 9 as data (domain/log_checks.py): each check finds its constructed violation and
says nothing of clean data."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from tanpuhui.domain.checkpoint import (
    Checkpoint,
    assemble_note,
    entry_digest,
    entry_leaves,
    head_tree_root,
    key_id,
    signature_line,
)
from tanpuhui.domain.ledger import Posting
from tanpuhui.domain.log_checks import (
    StoredEntry,
    check_checkpoint_heads,
    check_entry,
    check_head,
    check_note,
    replay_shard,
)
from tanpuhui.domain.merkle import EMPTY_FRONTIER, append, leaf_hash
from tests.conftest import NOW

ASSET = "co2e:mobility:420000:2026-11"
RID = uuid.UUID(int=5)


def stored() -> StoredEntry:
    postings = (Posting("person:a", ASSET, 10, RID), Posting("issuance:m", ASSET, -10))
    base = StoredEntry(
        uuid.UUID(int=1), "issuance", NOW, "", None, postings, ((None, RID), (1, None))
    )
    return replace(base, hash=entry_digest(base))


def leaves_of(entry: StoredEntry) -> dict[Any, bytes]:
    return {(x.shard, entry.keys[x.position]): x.hash for x in entry_leaves(entry, 4)}


def codes(violations: Any) -> list[str]:
    return [v.code for v in violations]


def test_an_intact_entry_and_its_leaves_pass() -> None:
    entry = stored()
    assert codes(check_entry(entry, 4, leaves_of(entry))) == []


def test_a_changed_line_is_named_twice_a_missing_and_a_stray_leaf_once() -> None:
    entry = stored()
    logged = leaves_of(entry)
    changed = replace(entry, postings=(entry.postings[0]._replace(amount=11), entry.postings[1]))
    assert codes(check_entry(changed, 4, logged)) == ["entry_changed", "leaf_mismatch"]
    assert codes(check_entry(entry, 4, {})) == ["line_not_logged"]
    stray = {**logged, (3, (9, None)): b"x" * 32}
    assert codes(check_entry(entry, 4, stray)) == ["leaf_without_line"]
    assert codes(check_entry(replace(entry, hash=None), 4, logged)) == ["entry_unsealed"]


def test_a_replayed_shard_matches_its_head_and_catches_gaps_and_bad_nodes() -> None:
    hashes = [leaf_hash(bytes([i])) for i in range(20)]
    head, done = append(EMPTY_FRONTIER, hashes, 4)
    nodes = {(n.level, n.index): n.hash for n in done}
    replay, found = replay_shard(0, enumerate(hashes), nodes, [0, 7, 20])
    assert found == [] and set(replay.roots) == {0, 7, 20}
    assert list(check_head(0, replay, head.size, head.root(), head.pack())) == []
    swapped = [hashes[1], hashes[0], *hashes[2:]]
    bad, _ = replay_shard(0, enumerate(swapped), nodes, [])
    assert codes(check_head(0, bad, head.size, head.root(), head.pack())) == ["log_head_mismatch"]
    _, gap = replay_shard(0, [(0, hashes[0]), (2, hashes[2])], {}, [])
    assert codes(gap) == ["log_gap"]
    _, wrong = replay_shard(0, enumerate(hashes), {**nodes, (4, 0): b"y" * 32}, [])
    assert codes(wrong) == ["log_node_mismatch"]


def test_a_checkpoint_must_sign_real_heads_that_are_prefixes_of_the_log() -> None:
    hashes = [leaf_hash(bytes([i])) for i in range(5)]
    replay, _ = replay_shard(0, enumerate(hashes), {}, [3, 5])
    empty, _ = replay_shard(1, [], {}, [0])
    heads = [(3, replay.roots[3]), (0, empty.roots[0])]
    root = head_tree_root(heads)
    assert list(check_checkpoint_heads("c", 3, root, heads, [replay, empty])) == []
    assert codes(check_checkpoint_heads("c", 3, b"z" * 32, heads, [replay, empty])) == [
        "checkpoint_invalid"
    ]
    forged = [(3, b"w" * 32), heads[1]]
    assert codes(
        check_checkpoint_heads("c", 3, head_tree_root(forged), forged, [replay, empty])
    ) == ["checkpoint_head_mismatch"]


def test_a_note_needs_the_stored_body_and_the_platform_signature() -> None:
    pub = b"k" * 32
    cp = Checkpoint("o.example/log", 3, b"r" * 32)
    note = assemble_note(cp.body(), [signature_line("o.example/log", pub, b"s" * 64)])
    kid = key_id("o.example/log", pub)

    def valid(name: str, text: bytes, sig: bytes) -> bool:
        return sig == b"s" * 64 and text == cp.body().encode()

    assert list(check_note("c", note, cp, valid, kid)) == []
    assert codes(check_note("c", note, replace(cp, size=4), valid, kid)) == ["checkpoint_invalid"]
    assert codes(check_note("c", note, cp, lambda *_: False, kid)) == ["checkpoint_invalid"]
    assert codes(check_note("c", "garbage", cp, valid, kid)) == ["checkpoint_invalid"]


def test_an_entry_without_lines_and_a_stray_subtree_are_reported() -> None:
    empty = replace(stored(), postings=(), keys=())
    assert codes(check_entry(empty, 4, {})) == ["entry_changed"]
    _, stray = replay_shard(0, [], {(5, 9): b"s" * 32}, [])
    assert codes(stray) == ["log_node_mismatch"]
