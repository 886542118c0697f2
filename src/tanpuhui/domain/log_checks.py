"""Invariant 9 as data: every entry is sealed with the digest of its stored lines, every
logged line has exactly its leaf, every shard log recomputes to its stored head and subtrees,
and every published checkpoint is signed, names the head tree of real shard heads, and every
head it names is a prefix of the log as stored now (so a rewritten history shows).

    9 entry_unsealed, entry_changed          an entry's digest and its stored lines
      line_not_logged, leaf_without_line,    a line and its leaf
      leaf_mismatch
      log_gap, log_head_mismatch,            a shard's log
      log_node_mismatch
      checkpoint_invalid, checkpoint_head_mismatch   a stored checkpoint

Pure: signature checks are a callable passed in.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from tanpuhui.domain.checkpoint import (
    Checkpoint,
    entry_digest,
    entry_leaves,
    head_tree_root,
    parse_note,
)
from tanpuhui.domain.checks import Violation
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.ledger import Posting
from tanpuhui.domain.merkle import EMPTY_FRONTIER, NODE_KEEP_LEVEL, Frontier, append

#: (posting line, reduction id): how a leaf names its line (posting line None: an event row)
LineKey = tuple[int | None, uuid.UUID | None]


@dataclass(frozen=True, slots=True)
class StoredEntry:
    id: uuid.UUID
    kind: str
    created_at: datetime
    memo: str
    hash: bytes | None
    postings: tuple[Posting, ...]
    keys: tuple[LineKey, ...]  # per posting: where it is stored


def check_entry(
    entry: StoredEntry, shards: int, leaves: Mapping[tuple[int, LineKey], bytes]
) -> Iterator[Violation]:
    """An entry against its digest and the stored leaves of its lines (keyed by shard and
    line key)."""
    subject = str(entry.id)
    if entry.hash is None:
        yield Violation(9, "entry_unsealed", subject, "entry is not sealed")
    elif entry_digest(entry) != entry.hash:
        yield Violation(
            9, "entry_changed", subject,
            f"{entry.kind} entry does not match its digest: a line, amount or field was changed",
        )  # fmt: skip
    if not entry.postings:
        return
    expected = {
        (leaf.shard, entry.keys[leaf.position]): leaf.hash for leaf in entry_leaves(entry, shards)
    }
    for key, digest in expected.items():
        stored = leaves.get(key)
        if stored is None:
            yield Violation(
                9, "line_not_logged", subject, f"line {key[1]} has no leaf in shard {key[0]}"
            )
        elif stored != digest:
            yield Violation(
                9,
                "leaf_mismatch",
                subject,
                f"the leaf of line {key[1]} in shard {key[0]} does not match the line",
            )
    for key in leaves.keys() - expected.keys():
        yield Violation(
            9,
            "leaf_without_line",
            subject,
            f"shard {key[0]} logs a line {key[1]} the entry does not have",
        )


@dataclass(frozen=True, slots=True)
class ShardReplay:
    """What one shard's stored leaves recompute to: its head and its root at given sizes."""

    frontier: Frontier
    roots: dict[int, bytes]


def replay_shard(
    shard: int,
    leaves: Iterable[tuple[int, bytes]],
    nodes: Mapping[tuple[int, int], bytes],
    sizes: Iterable[int],
) -> tuple[ShardReplay, list[Violation]]:
    """Recompute a shard's log from its leaves `(idx, hash)` in index order, checking the
    stored subtrees and recording the root at each of `sizes`."""
    wanted = set(sizes)
    frontier, roots, violations = EMPTY_FRONTIER, {}, []
    seen: set[tuple[int, int]] = set()
    if 0 in wanted:
        roots[0] = frontier.root()
    for idx, digest in leaves:
        if idx != frontier.size:
            violations.append(
                Violation(
                    9, "log_gap", f"shard {shard}", f"leaf {idx} where {frontier.size} was expected"
                )
            )
            break
        frontier, done = append(frontier, [digest], NODE_KEEP_LEVEL)
        for n in done:
            seen.add((n.level, n.index))
            if nodes.get((n.level, n.index)) != n.hash:
                violations.append(
                    Violation(
                        9,
                        "log_node_mismatch",
                        f"shard {shard}",
                        f"stored subtree {n.level}/{n.index} does not match its leaves",
                    )
                )
        if frontier.size in wanted:
            roots[frontier.size] = frontier.root()
    for key in nodes.keys() - seen:
        violations.append(
            Violation(
                9,
                "log_node_mismatch",
                f"shard {shard}",
                f"stored subtree {key[0]}/{key[1]} is not in the log",
            )
        )
    return ShardReplay(frontier, roots), violations


def check_head(
    shard: int, replay: ShardReplay, size: int, root: bytes, frontier: bytes
) -> Iterator[Violation]:
    f = replay.frontier
    if (f.size, f.root(), f.pack()) != (size, root, frontier):
        yield Violation(
            9, "log_head_mismatch", f"shard {shard}",
            f"the stored head ({size} leaves) is not what its {f.size} leaves recompute to",
        )  # fmt: skip


NoteCheck = Callable[[str, bytes, bytes], bool]  # (key name, signed text, signature) → valid?


@dataclass(frozen=True, slots=True)
class NoteKey:
    """The platform's checkpoint key as `ledger verify` checks notes with it."""

    origin: str
    key_id: bytes
    check: NoteCheck


def check_note(
    subject: str, note: str, expected: Checkpoint, signed_by: NoteCheck, key_id: bytes
) -> Iterator[Violation]:
    """A note must carry `expected`'s body and a valid signature by the platform key."""
    try:
        parsed = parse_note(note)
    except InvalidInputError as exc:
        yield Violation(9, "checkpoint_invalid", subject, exc.message)
        return
    if parsed.text != expected.body():
        yield Violation(
            9, "checkpoint_invalid", subject, "the signed text is not the stored checkpoint"
        )
    own = [s for s in parsed.signatures if s.name == expected_name(expected) and s.key_id == key_id]
    if not any(signed_by(s.name, parsed.text.encode(), s.signature) for s in own):
        yield Violation(9, "checkpoint_invalid", subject, "no valid signature by the platform key")


def expected_name(cp: Checkpoint) -> str:
    """The key name that signs a checkpoint: the platform origin (a shard's origin is
    `origin/shard/k`, signed by the same key under the platform's name)."""
    return cp.origin.split("/shard/")[0]


def check_checkpoint_heads(
    subject: str,
    size: int,
    root: bytes,
    heads: Sequence[tuple[int, bytes]],
    replays: Sequence[ShardReplay],
) -> Iterator[Violation]:
    if head_tree_root(heads) != root or sum(n for n, _ in heads) != size:
        yield Violation(
            9, "checkpoint_invalid", subject, "its root is not the head tree of its shard heads"
        )
    for shard, (n, r) in enumerate(heads):
        if shard >= len(replays) or replays[shard].roots.get(n) != r:
            yield Violation(
                9, "checkpoint_head_mismatch", subject,
                f"shard {shard} at {n} leaves is not a prefix of the stored log (rewritten)",
            )  # fmt: skip
