"""What the ledger's logs commit to, and the signed checkpoints over them (docs/ledger.md,
docs/verification.md).

- **Entry digest**: SHA-256 over a canonical rendering of a whole entry (id, kind, time, memo,
  every line sorted). It covers the issuance lines, which have no leaf of their own.
- **Leaf**: one holder line of an entry, appended to the log of its holder's shard. Its bytes
  commit to the line (account, asset, amount, reduction id) *and* to the entry (id, kind, time,
  memo, digest), so an entry touching two shards (a binding pending→person, a sale
  person→enterprise) has one leaf in each shard, both naming the same entry digest.
- **Head tree**: the RFC 6962 tree whose S leaves are the shard heads `shard size root`, in
  shard order; its root is what the platform checkpoint signs. A shard's own checkpoint signs
  that shard's tree head.
- **Checkpoint** (C2SP tlog-checkpoint in a C2SP signed note): `origin`, tree size, base64
  root, then a blank line and one `— name base64(keyid‖signature)` line per signer (the
  platform first, witnesses after). Signing is an adapter's job (Ed25519); this module builds
  and parses the text and the key id.

Pure: stdlib only, no clock, no keys.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.ledger import Posting, account_kind
from tanpuhui.domain.merkle import leaf_hash, tree_hash
from tanpuhui.domain.shards import shard_of_account


class EntryLike(Protocol):
    """An entry as stored (it may no longer balance when someone tampered with it)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def kind(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def memo(self) -> str: ...
    @property
    def postings(self) -> Sequence[Posting]: ...


ED25519_ALG = 0x01  # the signed-note signature type of Ed25519
_SIG_LINE = re.compile(r"^\u2014 (\S+) ([A-Za-z0-9+/=]+)$")


def _stamp(created_at: datetime) -> str:
    return created_at.astimezone(UTC).isoformat(timespec="microseconds")


def _entry_line(entry_id: uuid.UUID, kind: str, created_at: datetime, memo: str) -> str:
    return f"{entry_id}|{kind}|{_stamp(created_at)}|{len(memo)}:{memo}"


def entry_digest(entry: EntryLike) -> bytes:
    """The digest of a whole entry: independent of line order and of the time's offset."""
    return _digest(entry, [p.canonical() for p in entry.postings])


def _digest(entry: EntryLike, canonical: list[str]) -> bytes:
    head = _entry_line(entry.id, entry.kind, entry.created_at, entry.memo)
    lines = "".join(line + "\n" for line in sorted(canonical))
    return hashlib.sha256(("tanpuhui/entry/v1\n" + head + "\n" + lines).encode()).digest()


def leaf_lines(entry: EntryLike) -> list[int]:
    """The positions of the lines of an entry that get a leaf: every line not on an issuance
    account (an entry of issuance lines only, which the services never write, would log its
    first line)."""
    lines = [i for i, p in enumerate(entry.postings) if account_kind(p.account) != "issuance"]
    return lines or [0]


@dataclass(frozen=True, slots=True)
class Leaf:
    shard: int
    position: int  # of its line in the entry's postings
    line: Posting
    data: bytes

    @property
    def hash(self) -> bytes:
        return leaf_hash(self.data)


def entry_leaves(entry: EntryLike, shards: int) -> list[Leaf]:
    """The leaves of an entry, in line order, each with the shard of its line's holder."""
    return sealed_leaves(entry, shards)[1]


def sealed_leaves(entry: EntryLike, shards: int) -> tuple[bytes, list[Leaf]]:
    """The entry's digest and its leaves, rendering each line once (the intake's hot path;
    the bytes are exactly `entry_digest` and `leaf_data`'s)."""
    canonical = [p.canonical() for p in entry.postings]
    digest = _digest(entry, canonical)
    prefix = "tanpuhui/leaf/v1\n" + _entry_line(entry.id, entry.kind, entry.created_at, entry.memo)
    prefix += "\n" + digest.hex() + "\n"
    leaves = []
    for i in leaf_lines(entry):
        p = entry.postings[i]
        data = (prefix + canonical[i] + "\n").encode()
        leaves.append(Leaf(shard_of_account(p.account, shards), i, p, data))
    return digest, leaves


def head_leaf_data(shard: int, size: int, root: bytes) -> bytes:
    return f"tanpuhui/shard-head/v1\n{shard} {size} {base64.b64encode(root).decode()}\n".encode()


def head_tree_leaves(heads: Sequence[tuple[int, bytes]]) -> list[bytes]:
    """Leaf hashes of the head tree; `heads[k]` is shard k's (size, root)."""
    return [leaf_hash(head_leaf_data(k, n, r)) for k, (n, r) in enumerate(heads)]


def head_tree_root(heads: Sequence[tuple[int, bytes]]) -> bytes:
    return tree_hash(head_tree_leaves(heads))


# --- checkpoints and signed notes ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def shard_origin(origin: str, shard: int) -> str:
    return f"{origin}/shard/{shard}"


def key_id(name: str, public_key: bytes) -> bytes:
    """C2SP signed-note key id: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519_ALG]) + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The `name+hex(keyid)+base64(0x01‖key)` verifier key of Go's sumdb/note."""
    encoded = base64.b64encode(bytes([ED25519_ALG]) + public_key).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def signature_line(name: str, public_key: bytes, signature: bytes) -> str:
    blob = base64.b64encode(key_id(name, public_key) + signature).decode()
    return f"\u2014 {name} {blob}\n"


@dataclass(frozen=True, slots=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes
    line: str


@dataclass(frozen=True, slots=True)
class Note:
    text: str  # the signed body, ending in a newline
    signatures: tuple[NoteSignature, ...]


def parse_signature_line(line: str) -> NoteSignature:
    m = _SIG_LINE.match(line.rstrip("\n"))
    blob = base64.b64decode(m.group(2), validate=True) if m else b""
    if m is None or len(blob) < 5:
        raise InvalidInputError("not a signed-note signature line", code="bad_signature_line")
    return NoteSignature(m.group(1), blob[:4], blob[4:], m.group(0) + "\n")


def parse_note(note: str) -> Note:
    text, sep, sigs = note.partition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise InvalidInputError("a signed note is text, a blank line and signatures")
    lines = sigs[:-1].split("\n")
    return Note(text + "\n", tuple(parse_signature_line(s) for s in lines))


def parse_checkpoint(text: str) -> Checkpoint:
    lines = text.split("\n")
    try:
        origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    except (IndexError, ValueError):
        raise InvalidInputError("not a checkpoint body", code="bad_checkpoint") from None
    if not origin or size < 0 or len(root) != 32:
        raise InvalidInputError("not a checkpoint body", code="bad_checkpoint")
    return Checkpoint(origin, size, root)


def assemble_note(body: str, signature_lines: Iterable[str]) -> str:
    return body + "\n" + "".join(signature_lines)


def home_shard(entry: EntryLike, shards: int) -> int:
    """The shard an entry's row and postings live in: that of its first logged line."""
    return shard_of_account(entry.postings[leaf_lines(entry)[0]].account, shards)


class PublishedCheckpoint(NamedTuple):
    """A stored platform checkpoint: its body's fields, the shard heads it covers, the note
    (body and the platform's signature) and the witnesses' extra signature lines."""

    id: int
    size: int
    root: bytes
    heads: list[tuple[int, bytes]]  # per shard: (size, root)
    note: str
    cosignatures: str
    created_at: datetime

    def served(self) -> str:
        return self.note + self.cosignatures


class StoredLeaf(NamedTuple):
    shard: int
    idx: int
    posting_line: int | None
    reduction_id: uuid.UUID | None
    hash: bytes
