"""Signing in, at the service layer on both engines: who may be a web user, what a malformed
or forged session token gets, and that only digests of codes and tokens are stored."""

from __future__ import annotations

import uuid

import pytest

from tanpuhui.bootstrap import App
from tanpuhui.domain.errors import AuthenticationError, InvalidInputError, NotFoundError
from tanpuhui.domain.parties import Role
from tanpuhui.domain.sign_in import PrincipalKind
from tanpuhui.services.parties import add_enterprise, add_person
from tanpuhui.services.sign_in import (
    add_web_user,
    issue_code,
    session_of,
    sign_in,
    sign_out,
    users_of,
)
from tests.db_fixtures import rows


def test_web_users_need_a_name_and_the_right_kind_of_enterprise(app: App) -> None:
    shop = add_enterprise(app.ctx, "Shop", {Role.PLATFORM}).id
    bikes = add_enterprise(app.ctx, "Bikes", {Role.SCENE}).id
    with pytest.raises(InvalidInputError):
        add_web_user(app.ctx, PrincipalKind.USER, " ", bikes)
    with pytest.raises(InvalidInputError):
        add_web_user(app.ctx, PrincipalKind.USER, "Li", None)  # a user needs an enterprise
    with pytest.raises(InvalidInputError):
        add_web_user(app.ctx, PrincipalKind.OPERATOR, "Li", bikes)  # an operator none
    with pytest.raises(InvalidInputError):
        add_web_user(app.ctx, PrincipalKind.PERSON, "Li")
    with pytest.raises(InvalidInputError):
        add_web_user(app.ctx, PrincipalKind.GOVERNMENT, "Li")  # officials live in `officials`
    with pytest.raises(NotFoundError):
        add_web_user(app.ctx, PrincipalKind.USER, "Li", uuid.uuid4())
    user = add_web_user(app.ctx, PrincipalKind.USER, "Li", bikes)
    assert [u.id for u in users_of(app.ctx, bikes)] == [user.id]
    buyer = add_web_user(app.ctx, PrincipalKind.USER, "Wang", shop)  # the platform console
    assert [u.id for u in users_of(app.ctx, shop)] == [buyer.id]


def test_a_code_for_one_kind_does_not_sign_in_as_another(app: App) -> None:
    operator = add_web_user(app.ctx, PrincipalKind.OPERATOR, "Ops")
    _, code = issue_code(app.ctx, PrincipalKind.OPERATOR, str(operator.id))
    with pytest.raises(AuthenticationError):
        sign_in(app.ctx, PrincipalKind.USER, str(operator.id), code)
    assert sign_in(app.ctx, PrincipalKind.OPERATOR, str(operator.id), code).session.valid


def test_only_digests_are_stored_and_a_forged_token_finds_no_session(app: App) -> None:
    person = add_person(app.ctx).id
    _, code = issue_code(app.ctx, PrincipalKind.PERSON, str(person))
    signed = sign_in(app.ctx, PrincipalKind.PERSON, str(person), code)
    stored = rows(app, "select code_hash from sign_in_codes")[0].code_hash
    assert code.encode() not in bytes(stored) and len(bytes(stored)) == 32
    assert session_of(app.ctx, signed.token) is not None
    shard, _, secret = signed.token.partition(".")
    assert session_of(app.ctx, f"{(int(shard) + 1) % 1024}.{secret}") is None  # wrong shard
    assert session_of(app.ctx, f"{shard}.{secret[:-1]}x") is None
    assert session_of(app.ctx, "garbage") is None and session_of(app.ctx, None) is None
    sign_out(app.ctx, signed.session)
    assert session_of(app.ctx, signed.token) is None
