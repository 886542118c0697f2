"""The sign-in rules of the domain: codes expire, are spent once and die after too many
guesses; sessions end when revoked or expired; a session token names its shard; every
principal's rows live in the shard of its owner account."""

from __future__ import annotations

import uuid
from datetime import timedelta

from tanpuhui.domain.shards import shard_of_account
from tanpuhui.domain.sign_in import (
    CODE_TTL,
    MAX_CODE_ATTEMPTS,
    Principal,
    PrincipalKind,
    Session,
    SignInCode,
    WebUser,
    parse_principal_id,
    session_token,
    sign_in_path,
    split_session_token,
)
from tests.conftest import NOW

PERSON = Principal(PrincipalKind.PERSON, uuid.UUID(int=1))
ENTERPRISE = uuid.UUID(int=2)


def test_each_principal_lives_in_the_shard_of_its_owner_account() -> None:
    user = WebUser(uuid.UUID(int=3), PrincipalKind.USER, "ops", ENTERPRISE, NOW).principal
    operator = Principal(PrincipalKind.OPERATOR, uuid.UUID(int=4))
    assert PERSON.shard == shard_of_account(f"person:{PERSON.id}")
    assert user.shard == shard_of_account(f"enterprise:{ENTERPRISE}")  # with its enterprise
    assert operator.owner_account == f"operator:{operator.id}"
    assert (PERSON.key, user.key) == (f"person:{PERSON.id}", f"user:{user.id}")


def test_a_code_is_usable_once_before_it_expires_and_before_too_many_guesses() -> None:
    code = SignInCode(uuid.UUID(int=5), PERSON, b"x" * 32, NOW, NOW + CODE_TTL)
    assert code.usable(NOW + CODE_TTL - timedelta(seconds=1))
    assert not code.usable(NOW + CODE_TTL)
    spent = SignInCode(code.id, PERSON, code.digest, NOW, NOW + CODE_TTL, used_at=NOW)
    guessed = SignInCode(code.id, PERSON, code.digest, NOW, NOW + CODE_TTL, MAX_CODE_ATTEMPTS)
    assert not spent.usable(NOW) and not guessed.usable(NOW)


def test_a_session_ends_when_revoked_or_expired() -> None:
    live = Session(b"d" * 32, PERSON.shard, PERSON, NOW, NOW + timedelta(days=14))
    assert live.valid(NOW) and not live.valid(NOW + timedelta(days=14))
    revoked = Session(b"d" * 32, PERSON.shard, PERSON, NOW, NOW + timedelta(days=14), NOW)
    assert not revoked.valid(NOW)


def test_a_session_token_names_its_shard_and_anything_else_is_refused() -> None:
    token = session_token(517, "s" * 43)
    assert split_session_token(token) == (517, "s" * 43)
    for bad in ("", "nodot", ".x", "12.short", "x1.ssssssssssssssssssss", "1234567." + "s" * 20):
        assert split_session_token(bad) is None, bad


def test_the_sign_in_link_fills_in_the_form_and_ids_are_parsed_strictly() -> None:
    assert sign_in_path(PrincipalKind.USER, "abc", "123456") == (
        "/signin/code?as=user&account=abc&code=123456"
    )
    assert parse_principal_id(f" {PERSON.id} ") == PERSON.id
    assert parse_principal_id("not-an-id") is None
