"""RFC 6962 trees: heads, frontiers, inclusion and consistency proofs (domain/merkle.py)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tanpuhui.domain.merkle import (
    EMPTY_FRONTIER,
    EMPTY_ROOT,
    Frontier,
    append,
    check_consistency,
    check_inclusion,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    leaves_callback,
    node_hash,
    tree_hash,
)


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(str(i).encode()) for i in range(n)]


def test_hashes_are_the_rfc_6962_ones() -> None:
    """Pinned: SHA-256 over 0x00‖data and 0x01‖left‖right; the empty tree is SHA-256('')."""
    assert leaf_hash(b"") == bytes.fromhex(
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert (
        node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )
    assert tree_hash([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_a_three_leaf_tree_splits_at_two() -> None:
    a, b, c = leaves(3)
    assert tree_hash([a, b, c]) == node_hash(node_hash(a, b), c)


@given(st.integers(0, 70), st.integers(0, 40))
def test_appending_to_a_frontier_gives_the_tree_head(first: int, more: int) -> None:
    all_leaves = leaves(first + more)
    frontier, _ = append(EMPTY_FRONTIER, all_leaves[:first])
    frontier, done = append(frontier, all_leaves[first:], keep_from_level=2)
    assert frontier.size == first + more
    assert frontier.root() == tree_hash(all_leaves)
    assert Frontier.unpack(frontier.size, frontier.pack()) == frontier
    for node in done:  # every finished subtree is the hash of exactly its leaves
        span = 1 << node.level
        assert node.level >= 2
        assert node.hash == tree_hash(all_leaves[node.index * span : (node.index + 1) * span])


def test_a_frontier_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError):
        Frontier.unpack(3, b"x" * 32)


@given(st.integers(1, 70), st.data())
def test_inclusion_proofs_verify_and_name_one_leaf(size: int, data: st.DataObject) -> None:
    hashes = leaves(size)
    index = data.draw(st.integers(0, size - 1))
    root = tree_hash(hashes)
    proof = inclusion_proof(index, size, leaves_callback(hashes))
    assert check_inclusion(hashes[index], index, size, proof, root)
    assert not check_inclusion(leaf_hash(b"forged"), index, size, proof, root)
    if size > 1:
        assert not check_inclusion(hashes[index], (index + 1) % size, size, proof, root)


@given(st.integers(1, 60), st.data())
def test_consistency_proofs_verify_and_catch_a_rewritten_prefix(
    new: int, data: st.DataObject
) -> None:
    old = data.draw(st.integers(1, new))
    hashes = leaves(new)
    proof = consistency_proof(old, new, leaves_callback(hashes))
    assert check_consistency(old, new, tree_hash(hashes[:old]), tree_hash(hashes), proof)
    rewritten = [leaf_hash(b"rewritten"), *hashes[1:old]]
    assert not check_consistency(old, new, tree_hash(rewritten), tree_hash(hashes), proof)


def test_out_of_range_proofs_are_refused() -> None:
    with pytest.raises(ValueError):
        inclusion_proof(3, 3, leaves_callback(leaves(3)))
    with pytest.raises(ValueError):
        consistency_proof(0, 3, leaves_callback(leaves(3)))
    assert not check_inclusion(leaves(1)[0], 1, 1, [], leaves(1)[0])


def test_consistency_checks_refuse_impossible_ranges_and_empty_proofs() -> None:
    hashes = leaves(5)
    root = tree_hash(hashes)
    assert check_consistency(5, 5, root, root, [])
    assert not check_consistency(5, 5, root, root, [root])
    assert not check_consistency(6, 5, root, root, [])
    assert not check_consistency(3, 5, tree_hash(hashes[:3]), root, [])
    proof = consistency_proof(3, 5, leaves_callback(hashes))
    assert not check_consistency(3, 5, tree_hash(hashes[:3]), root, [*proof, root])
