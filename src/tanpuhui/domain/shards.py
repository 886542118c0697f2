"""Logical shards: which of the S shards a holder's rows, log entries and locks live in.

The shard key is the one distribution column of every person- or holder-scoped table
(DESIGN.md §7): rows about one holder always share a shard, so a writer for one person never
takes a lock that a writer for another shard needs, and the schema distributes on a
hash-partitioned or Citus PostgreSQL by this column alone.

`S` is fixed when a ledger is created (`SHARD_COUNT` is the default, stored with the ledger);
changing it would move every row, so code takes the count as a parameter where it can.

The shard of an account is a hash of its *owner*: a person's account, a pending subject's
account, an enterprise for both its holdings and its retirements. Issuance accounts have no
owner: their lines belong to the shard of the holder line they pair with.
"""

from __future__ import annotations

import functools
import hashlib
import uuid

#: The number of logical shards of a new ledger (a power of two keeps resharding by splitting
#: possible: shard k of S becomes k and k+S of 2S).
SHARD_COUNT = 1024


def owner_of(account: str) -> str:
    """The account whose shard `account` lives in (an enterprise's retired grams live with
    its holdings, and so do its grams locked by a pending export)."""
    kind, _, rest = account.partition(":")
    if kind in ("retired", "exporting"):
        return f"enterprise:{rest}"
    return account


def shard_of_account(account: str, shards: int = SHARD_COUNT) -> int:
    """The shard of a holder account: the first 8 bytes of SHA-256 of its owner, modulo S."""
    if shards < 1:
        raise ValueError("a ledger has at least one shard")
    return _hashed(owner_of(account), shards)


@functools.lru_cache(maxsize=1 << 15)
def _hashed(owner: str, shards: int) -> int:
    # remembered: a batch asks for the same holders' shards several times (its claims, its
    # event rows, its balances), and a hash costs more than the lookup
    return int.from_bytes(hashlib.sha256(owner.encode()).digest()[:8], "big") % shards


def shard_of_person(person_id: uuid.UUID, shards: int = SHARD_COUNT) -> int:
    return shard_of_account(f"person:{person_id}", shards)


def shard_of_enterprise(enterprise_id: uuid.UUID, shards: int = SHARD_COUNT) -> int:
    return shard_of_account(f"enterprise:{enterprise_id}", shards)


def shard_of_subject(enterprise_id: uuid.UUID, subject: str, shards: int = SHARD_COUNT) -> int:
    """The shard of an enterprise's subject: that of its pending account, where its grams wait
    until it is bound — so intake's subject → person lookup reads one shard."""
    return shard_of_account(f"pending:{enterprise_id}:{subject}", shards)


def shard_of_reduction(reduction_id: uuid.UUID, shards: int = SHARD_COUNT) -> int:
    """The shard of rows about one reduction found by its id alone (its re-quantifications):
    a hash of the id, so whoever holds the id knows the shard."""
    return shard_of_account(f"reduction:{reduction_id}", shards)


def shard_of_digest(digest: bytes, shards: int = SHARD_COUNT) -> int:
    """The shard of a row found by the digest of a secret alone (a person's token, a binding
    code): the digest's own first 8 bytes modulo S, so the lookup reads one shard without
    knowing whose secret it is."""
    if len(digest) < 8:
        raise ValueError("a digest has at least 8 bytes")
    return int.from_bytes(digest[:8], "big") % shards


def shard_of_event_key(enterprise_id: uuid.UUID, event_id: str, shards: int = SHARD_COUNT) -> int:
    """The shard of an event's idempotency key (enterprise, event id): a hash of the pair, so
    one enterprise's events spread over every shard and a replay is answered from one. (The
    shard of the account `event:<enterprise>:<event id>`, computed without formatting the
    enterprise's id for every event.)"""
    digest = hashlib.sha256(_key_prefix(enterprise_id) + event_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


@functools.lru_cache(maxsize=256)
def _key_prefix(enterprise_id: uuid.UUID) -> bytes:
    return f"event:{enterprise_id}:".encode()


def shard_of_event(
    holder: str | None,
    enterprise_id: uuid.UUID,
    subject: str | None,
    shards: int = SHARD_COUNT,
) -> int:
    """The shard of an event row: its holder's while it has one (a reduction moves with its
    holder at binding), else its subject's (a pending account's shard: an uncredited or
    reversed event of the subject), else its enterprise's (an event that failed validation)."""
    if holder is not None:
        return shard_of_account(holder, shards)
    if subject is not None:
        return shard_of_subject(enterprise_id, subject, shards)
    return shard_of_enterprise(enterprise_id, shards)
