"""The sign-in commands: a scene enterprise's console user, an operator, and more one-time
codes; each prints a code and the link that opens the sign-in form filled in. Bad input is
one line, never a traceback."""

from __future__ import annotations

import json

from tests.e2e.cli_support import assert_no_traceback
from tests.e2e.conftest import Run


def test_a_console_user_and_an_operator_get_a_sign_in_code_and_link(tanpuhui: Run) -> None:
    tanpuhui("enterprise", "add", "Bikes", "--role", "scene", check=True)
    user = json.loads(
        tanpuhui("enterprise", "user-add", "Bikes", "Li Lei", "--json", check=True).stdout
    )
    assert len(user["code"]) == 6 and user["code"].isdigit() and user["minutes"] == 10
    assert user["link"] == (
        f"http://127.0.0.1:8000/signin/code?as=user&account={user['account']}&code={user['code']}"
    )
    operator = tanpuhui("operator", "add", "Han Meimei", "--base-url", "https://t.example/")
    assert (
        operator.returncode == 0 and "https://t.example/signin/code?as=operator" in operator.stdout
    )
    again = json.loads(
        tanpuhui("sign-in-code", user["account"], "--as", "user", "--json", check=True).stdout
    )
    assert again["code"] != "" and again["account"] == user["account"]


def test_a_government_official_gets_a_sign_in_code_from_the_cli(tanpuhui: Run) -> None:
    added = json.loads(
        tanpuhui("government", "add", "深圳市", "--region", "440300", "--json", check=True).stdout
    )
    code = json.loads(
        tanpuhui("sign-in-code", added["id"], "--as", "government", "--json", check=True).stdout
    )
    assert code["link"].endswith(
        f"/signin/code?as=government&account={added['id']}&code={code['code']}"
    )


def test_sign_in_code_refusals_are_one_line(tanpuhui: Run) -> None:
    tanpuhui("enterprise", "add", "Shop", "--role", "platform", check=True)
    for args in (
        ("sign-in-code", "not-an-id"),
        ("sign-in-code", "01a2332f-fb37-7020-8c17-6dfbc92ea4ae", "--as", "operator"),
        ("sign-in-code", "01a2332f-fb37-7020-8c17-6dfbc92ea4ae", "--as", "government"),
        ("enterprise", "user-add", "Nobody Inc", "Someone"),
    ):
        done = tanpuhui(*args)
        assert done.returncode != 0, args
        assert_no_traceback(done)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
