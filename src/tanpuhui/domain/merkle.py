"""RFC 6962 Merkle trees: leaf and node hashes, tree heads, frontiers, inclusion and
consistency proofs and their checks (the hashing of Certificate Transparency and of Go's
`golang.org/x/mod/sumdb/tlog`, so an outsider's verifier accepts what this module proves).

    leaf hash  = SHA-256(0x00 ‖ data)        node hash = SHA-256(0x01 ‖ left ‖ right)
    MTH(D[0:n]) splits at k, the largest power of two below n: node(MTH(D[0:k]), MTH(D[k:n]))

Invariants kept here: a tree is append-only — its head after n leaves is a function of those n
leaves alone; a *frontier* (the hashes of the complete subtrees on its right edge, largest
first, one per 1-bit of n) is all an appender needs, so appending k leaves costs O(k + log n)
hashes and no read of earlier leaves. Proofs are built from a `SubtreeHash` callback (the
storage decides where complete subtrees come from) and checked with no storage at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 6962: MTH of the empty list

#: complete subtrees from this level (2**4 = 16 leaves) up are stored (proofs rehash less)
NODE_KEEP_LEVEL = 4

#: hash of the complete, aligned subtree of leaves [lo, hi)
SubtreeHash = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly below n (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def tree_hash(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf *hashes* (not data)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = split_point(len(leaves))
    return node_hash(tree_hash(leaves[:k]), tree_hash(leaves[k:]))


@dataclass(frozen=True, slots=True)
class Frontier:
    """A log's size and the hashes of its right-edge complete subtrees, largest first."""

    size: int
    hashes: tuple[bytes, ...]

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        acc = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            acc = node_hash(h, acc)
        return acc

    def pack(self) -> bytes:
        return b"".join(self.hashes)

    @classmethod
    def unpack(cls, size: int, packed: bytes) -> Frontier:
        hashes = tuple(packed[i : i + HASH_SIZE] for i in range(0, len(packed), HASH_SIZE))
        if len(hashes) != size.bit_count() or len(packed) % HASH_SIZE:
            raise ValueError(f"a frontier of {size} leaves has {size.bit_count()} hashes")
        return cls(size, hashes)


EMPTY_FRONTIER = Frontier(0, ())


@dataclass(frozen=True, slots=True)
class CompletedNode:
    """A complete subtree finished by an append: 2**level leaves starting at index·2**level."""

    level: int
    index: int
    hash: bytes


def append(
    frontier: Frontier, leaves: Iterable[bytes], keep_from_level: int = 0
) -> tuple[Frontier, list[CompletedNode]]:
    """Append leaf hashes; return the new frontier and every complete subtree finished at a
    level ≥ `keep_from_level` (what the storage keeps so proofs need not rehash old leaves)."""
    size = frontier.size
    stack = list(frontier.hashes)
    done: list[CompletedNode] = []
    for leaf in leaves:
        h, level, index = leaf, 0, size
        while (size >> level) & 1:  # the subtree to the left at this level is complete
            h = node_hash(stack.pop(), h)
            level += 1
            index >>= 1
            if level >= keep_from_level:
                done.append(CompletedNode(level, index, h))
        stack.append(h)
        size += 1
    return Frontier(size, tuple(stack)), done


def _subtree(lo: int, hi: int, complete: SubtreeHash) -> bytes:
    """MTH of leaves [lo, hi): complete aligned parts from the callback, the rest by splitting."""
    n = hi - lo
    if n & (n - 1) == 0:
        return complete(lo, hi)
    k = split_point(n)
    return node_hash(complete(lo, lo + k), _subtree(lo + k, hi, complete))


def inclusion_proof(index: int, size: int, complete: SubtreeHash) -> list[bytes]:
    """RFC 6962 PATH(index, D[0:size]), deepest hash first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    lo, hi, path = 0, size, []
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            path.append(_subtree(lo + k, hi, complete))
            hi = lo + k
        else:
            path.append(complete(lo, lo + k))
            lo += k
    return path[::-1]


def check_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether `proof` shows leaf hash `leaf` at `index` in the tree of `size` with `root`
    (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def consistency_proof(old: int, new: int, complete: SubtreeHash) -> list[bytes]:
    """RFC 6962 PROOF(old, D[0:new])."""
    if not 0 < old <= new:
        raise ValueError(f"no consistency proof from {old} to {new}")
    return _subproof(old, 0, new, True, complete)


def _subproof(m: int, lo: int, hi: int, whole: bool, complete: SubtreeHash) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if whole else [_subtree(lo, hi, complete)]
    k = split_point(n)
    if m <= k:
        return [*_subproof(m, lo, lo + k, whole, complete), _subtree(lo + k, hi, complete)]
    return [*_subproof(m - k, lo + k, hi, False, complete), complete(lo, lo + k)]


def check_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether `proof` shows the tree of `old` leaves with `old_root` is a prefix of the tree
    of `new` leaves with `new_root` (RFC 9162 §2.1.4.2)."""
    if not 0 < old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    path = list(proof)
    if old & (old - 1) == 0:  # old is a power of two: its root is the first node
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def leaves_callback(leaves: Sequence[bytes]) -> SubtreeHash:
    """A `SubtreeHash` over leaf hashes held in memory (tests, small trees, the head tree)."""
    return lambda lo, hi: tree_hash(leaves[lo:hi])
