"""`tanpuhui enterprise user-add`, `tanpuhui operator add` and `tanpuhui sign-in-code`: the
people who sign in to the pages for an enterprise or the platform, and one-time sign-in codes
(persons get theirs by the page's code sender; this command serves the operator's desk too).

Each prints a link that opens the sign-in form filled in; opening it signs nobody in — the
form is posted by the person who holds the code, with its CSRF token.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tanpuhui.cli.common import app as open_app
from tanpuhui.cli.common import console, emit_json, handled
from tanpuhui.domain.sign_in import CODE_TTL, PrincipalKind, sign_in_path
from tanpuhui.services.context import Context
from tanpuhui.services.parties import resolve_enterprise
from tanpuhui.services.sign_in import add_web_user, issue_code

operator_cli = typer.Typer(help="Operators who sign in to the pages.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
BaseUrl = Annotated[
    str, typer.Option("--base-url", help="Where the pages are served (for the printed link).")
]
DEFAULT_BASE = "http://127.0.0.1:8000"


def sign_in_link(base_url: str, kind: PrincipalKind, account: str, code: str) -> str:
    return base_url.rstrip("/") + sign_in_path(kind, account, code)


def _issue(
    ctx: Context, kind: PrincipalKind, account: str, base_url: str, as_json: bool, **extra: str
) -> None:
    _, code = issue_code(ctx, kind, account)
    link = sign_in_link(base_url, kind, account, code)
    minutes = int(CODE_TTL.total_seconds() // 60)
    if as_json:
        emit_json({"account": account, **extra, "code": code, "link": link, "minutes": minutes})
        return
    console.print(f"account {account}", highlight=False)
    console.print(
        f"sign-in code {code} (valid {minutes} min, once): {link}", highlight=False, soft_wrap=True
    )


@handled
def user_add(
    enterprise: Annotated[str, typer.Argument(help="The scene enterprise (id or exact name).")],
    name: Annotated[str, typer.Argument(help="Who the user is (shown in the console).")],
    base_url: BaseUrl = DEFAULT_BASE,
    as_json: JsonOption = False,
) -> None:
    """Add a user of a scene enterprise's console and issue their first sign-in code."""
    with open_app() as app:
        found = resolve_enterprise(app.ctx, enterprise)
        user = add_web_user(app.ctx, PrincipalKind.USER, name, found.id)
        _issue(
            app.ctx, PrincipalKind.USER, str(user.id), base_url, as_json, enterprise=str(found.id)
        )


@operator_cli.command("add")
@handled
def operator_add(
    name: Annotated[str, typer.Argument(help="Who the operator is.")],
    base_url: BaseUrl = DEFAULT_BASE,
    as_json: JsonOption = False,
) -> None:
    """Add an operator of the platform and issue their first sign-in code."""
    with open_app() as app:
        user = add_web_user(app.ctx, PrincipalKind.OPERATOR, name)
        _issue(app.ctx, PrincipalKind.OPERATOR, str(user.id), base_url, as_json)


@handled
def sign_in_code(
    account: Annotated[str, typer.Argument(help="The person, user or operator id.")],
    kind: Annotated[PrincipalKind, typer.Option("--as", help="person, user or operator")] = (
        PrincipalKind.PERSON
    ),
    base_url: BaseUrl = DEFAULT_BASE,
    as_json: JsonOption = False,
) -> None:
    """Issue a one-time sign-in code for the pages (10 minutes, once)."""
    with open_app() as app:
        _issue(app.ctx, kind, account, base_url, as_json)
