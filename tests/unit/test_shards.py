"""The shard function: stable, in range, owner-based."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from tanpuhui.domain.ledger import pending_account
from tanpuhui.domain.shards import (
    SHARD_COUNT,
    owner_of,
    shard_of_account,
    shard_of_digest,
    shard_of_enterprise,
    shard_of_event,
    shard_of_event_key,
    shard_of_person,
    shard_of_subject,
)


def test_a_shard_is_stable_and_in_range() -> None:
    person = uuid.UUID("00000000-0000-4000-8000-000000000001")
    first = shard_of_person(person)
    assert first == shard_of_person(person) == shard_of_account(f"person:{person}")
    assert 0 <= first < SHARD_COUNT
    assert all(0 <= shard_of_account(f"person:{uuid.uuid4()}", 8) < 8 for _ in range(200))


def test_retired_grams_live_with_their_enterprise() -> None:
    enterprise = uuid.uuid4()
    assert owner_of(f"retired:{enterprise}") == f"enterprise:{enterprise}"
    assert shard_of_account(f"retired:{enterprise}") == shard_of_account(f"enterprise:{enterprise}")


def test_shards_spread_people() -> None:
    """1,000 people over 16 shards: every shard is used (a constant function would fail)."""
    used = {shard_of_account(f"person:{uuid.UUID(int=i)}", 16) for i in range(1000)}
    assert used == set(range(16))


def test_a_ledger_has_at_least_one_shard() -> None:
    with pytest.raises(ValueError):
        shard_of_account("person:x", 0)


def test_a_subject_lives_in_the_shard_of_its_pending_account() -> None:
    enterprise = uuid.uuid4()
    assert shard_of_subject(enterprise, "u-1") == shard_of_account(
        pending_account(enterprise, "u-1")
    )
    assert shard_of_subject(enterprise, "u-1", 8) == shard_of_account(
        pending_account(enterprise, "u-1"), 8
    )


def test_a_secret_lives_in_the_shard_of_its_digest() -> None:
    digest = hashlib.sha256(b"a token").digest()
    assert shard_of_digest(digest) == int.from_bytes(digest[:8], "big") % SHARD_COUNT
    used = {
        shard_of_digest(hashlib.sha256(bytes([i, j])).digest(), 16)
        for i in range(4)
        for j in range(250)
    }
    assert used == set(range(16))
    with pytest.raises(ValueError):
        shard_of_digest(b"short")


def test_an_event_key_lives_in_the_shard_of_its_pair() -> None:
    enterprise = uuid.uuid4()
    digest = hashlib.sha256(f"event:{enterprise}:e-1".encode()).digest()
    assert shard_of_event_key(enterprise, "e-1") == int.from_bytes(digest[:8], "big") % 1024
    assert shard_of_event_key(enterprise, "e-1") == shard_of_account(f"event:{enterprise}:e-1")
    assert shard_of_event_key(enterprise, "e-1", 8) < 8
    spread = {shard_of_event_key(enterprise, f"e-{i}", 16) for i in range(1000)}
    assert spread == set(range(16))  # one enterprise's events reach every shard


def test_an_event_lives_with_its_holder_else_its_subject_else_its_enterprise() -> None:
    enterprise, person = uuid.uuid4(), uuid.uuid4()
    assert shard_of_event(f"person:{person}", enterprise, "u-1") == shard_of_person(person)
    assert shard_of_event(None, enterprise, "u-1") == shard_of_subject(enterprise, "u-1")
    assert shard_of_event(None, enterprise, None) == shard_of_enterprise(enterprise)
