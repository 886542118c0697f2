"""What a leaf and a checkpoint commit to, and the signed-note text (domain/checkpoint.py)."""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace
from datetime import timedelta, timezone

import pytest

from tanpuhui.domain.checkpoint import (
    Checkpoint,
    PublishedCheckpoint,
    assemble_note,
    entry_digest,
    entry_leaves,
    home_shard,
    key_id,
    parse_checkpoint,
    parse_note,
    signature_line,
    verifier_key,
)
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.ledger import Entry, Posting
from tanpuhui.domain.shards import shard_of_account
from tests.conftest import NOW

ASSET = "co2e:mobility:420000:2026-11"
PERSON, PENDING = f"person:{uuid.UUID(int=1)}", f"pending:{uuid.UUID(int=2)}:s-1"


def binding() -> Entry:
    rid = uuid.UUID(int=9)
    return Entry(
        uuid.UUID(int=7), "binding", NOW,
        (Posting(PENDING, ASSET, -120, rid), Posting(PERSON, ASSET, 120, rid)), "bind s-1",
    )  # fmt: skip


def test_an_entry_touching_two_shards_has_a_leaf_in_each_naming_the_same_digest() -> None:
    entry = binding()
    leaves = entry_leaves(entry, 1024)
    assert [leaf.shard for leaf in leaves] == [
        shard_of_account(PENDING, 1024),
        shard_of_account(PERSON, 1024),
    ]
    digest = entry_digest(entry).hex()
    assert all(digest in leaf.data.decode() for leaf in leaves)
    assert home_shard(entry, 1024) == leaves[0].shard


def test_issuance_lines_have_no_leaf_but_are_covered_by_the_digest() -> None:
    rid = uuid.UUID(int=3)
    entry = Entry(
        uuid.UUID(int=4), "issuance", NOW,
        (Posting(PERSON, ASSET, 50, rid), Posting("issuance:bike@1", ASSET, -50)),
    )  # fmt: skip
    (leaf,) = entry_leaves(entry, 16)
    assert leaf.line.account == PERSON
    other = replace(entry, postings=(entry.postings[0], Posting("issuance:bus@1", ASSET, -50)))
    assert entry_digest(other) != entry_digest(entry)


@pytest.mark.parametrize(
    "change",
    [
        {"memo": "edited"},
        {"kind": "correction"},
        {"created_at": NOW + timedelta(microseconds=1)},
        {"id": uuid.UUID(int=8)},
    ],
)
def test_a_leaf_commits_to_the_whole_entry(change: dict[str, object]) -> None:
    entry = binding()
    changed = replace(entry, **change)  # type: ignore[arg-type]
    assert entry_leaves(changed, 8)[1].hash != entry_leaves(entry, 8)[1].hash


def test_the_digest_ignores_line_order_and_time_offset() -> None:
    entry = binding()
    flipped = replace(
        entry,
        postings=entry.postings[::-1],
        created_at=NOW.astimezone(timezone(timedelta(hours=8))),
    )
    assert entry_digest(flipped) == entry_digest(entry)


def test_a_checkpoint_note_round_trips_and_its_key_id_is_c2sp() -> None:
    pub = bytes(range(32))
    cp = Checkpoint("example.org/log", 42, b"\x07" * 32)
    note = assemble_note(cp.body(), [signature_line("example.org/log", pub, b"s" * 64)])
    assert note.startswith("example.org/log\n42\n" + base64.b64encode(b"\x07" * 32).decode())
    parsed = parse_note(note)
    assert parse_checkpoint(parsed.text) == cp
    (sig,) = parsed.signatures
    assert (sig.name, sig.key_id, sig.signature) == (
        "example.org/log",
        key_id("example.org/log", pub),
        b"s" * 64,
    )
    name, hexid, key = verifier_key("example.org/log", pub).split("+")
    assert (name, bytes.fromhex(hexid), base64.b64decode(key)) == (
        "example.org/log", sig.key_id, b"\x01" + pub,
    )  # fmt: skip


@pytest.mark.parametrize("note", ["no blank line\n", "a\n1\nAA==\n\nnot a signature\n"])
def test_a_malformed_note_is_refused_with_a_code(note: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_note(note)


@pytest.mark.parametrize(
    "body", ["origin\nnot-a-number\nAA==\n", "origin\n1\n", "\n1\n" + "A" * 43 + "=\n"]
)
def test_a_malformed_checkpoint_body_is_refused(body: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse_checkpoint(body)
    assert refused.value.code == "bad_checkpoint"


def test_a_published_checkpoint_serves_its_cosignatures_after_the_note() -> None:
    cp = PublishedCheckpoint(1, 0, b"r" * 32, [(0, b"r" * 32)], "note\n\n— a x\n", "— w y\n", NOW)
    assert cp.served() == "note\n\n— a x\n— w y\n"
