"""`tanpuhui mrv batch create|show|sample|approve|reject` and `tanpuhui mrv verify`: issuance
batches and their review (issue 12 item 4). The verifier's commands take its bearer token
(`--token` or TANPUHUI_TOKEN) and its private key (`--key FILE` or TANPUHUI_KEY_FILE): each
builds the statement of its action, signs it locally and hands the signed statement to the
service, which checks it against the verifier's registered public key and stores it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from tanpuhui.adapters.crypto import load_private_key, sign
from tanpuhui.cli.common import JsonOption, console, emit_json, handled
from tanpuhui.cli.common import app as open_app
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.mrv import signed_bytes
from tanpuhui.domain.officials import OfficialKind
from tanpuhui.services.context import Context
from tanpuhui.services.mrv import (
    SignedStatement,
    approve_batch,
    create_batch,
    prepare_statement,
    reject_batch,
    sample_batch,
    show_batch,
    verify_batches,
)
from tanpuhui.services.officials import authenticate_official
from tanpuhui.services.parties import resolve_enterprise

cli = typer.Typer(help="MRV: issuance batches and their verification.", no_args_is_help=True)
batch_cli = typer.Typer(help="Issuance batches.", no_args_is_help=True)
cli.add_typer(batch_cli, name="batch")

Token = Annotated[
    str | None,
    typer.Option("--token", envvar="TANPUHUI_TOKEN", help="The verifier's bearer token."),
]
Key = Annotated[
    Path | None,
    typer.Option("--key", envvar="TANPUHUI_KEY_FILE", dir_okay=False,
                 help="The verifier's Ed25519 private key (PEM) that signs the statement."),
]  # fmt: skip
Comment = Annotated[str, typer.Option("--comment", help="The verifier's comment.")]


def _signed(
    ctx: Context, batch_id: uuid.UUID, action: str, token: str | None, key: Path | None,
    **fields: Any,
) -> SignedStatement:  # fmt: skip
    """The statement of `action` by the token's verifier, signed with `key`."""
    verifier = authenticate_official(ctx, token, OfficialKind.VERIFIER)
    if key is None:
        raise InvalidInputError(
            "a verifier signs its statements: --key FILE (or TANPUHUI_KEY_FILE)",
            code="key_required",
        )
    try:
        pem = key.read_bytes()
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read --key {key}: {exc.strerror}", code="invalid_key"
        ) from None
    private = load_private_key(pem)
    text = prepare_statement(ctx, batch_id, action, verifier.actor, **fields)
    return SignedStatement(text, sign(private, signed_bytes(text)))


@batch_cli.command("create")
@handled
def batch_create(
    month: Annotated[str, typer.Option(help="2026-11")],
    methodology: Annotated[str | None, typer.Option(help="code@version, e.g. bike_share@1")] = None,
    region: Annotated[str | None, typer.Option(help="A region code (default: the nation).")] = None,
    enterprise: Annotated[
        str | None, typer.Option(help="A scene enterprise (id or name) instead of a methodology.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Group a methodology version's unbatched reductions of a region and month — or a scene
    enterprise's of a month — into a batch, with its monitoring report; prints its id."""
    with open_app() as app:
        ent = resolve_enterprise(app.ctx, enterprise).id if enterprise is not None else None
        batch = create_batch(app.ctx, methodology, region, month, enterprise=ent)
    if as_json:
        emit_json({"id": str(batch.id), "report": batch.report})
    else:
        console.print(str(batch.id), highlight=False)


@batch_cli.command("show")
@handled
def batch_show(batch_id: uuid.UUID, as_json: JsonOption = False) -> None:
    """A batch: its monitoring report, sample, state, decision and signed statements (each
    signature checked again)."""
    with open_app() as app:
        shown = show_batch(app.ctx, batch_id)
    if as_json:
        emit_json(shown)
        return
    report = shown["report"]
    scope = report.get("enterprise_name") or report["methodology"]
    console.print(
        f"{shown['id']} {shown['state']}: {scope} {report['region'] or '全国'} "
        f"{report['month']} — {report['reductions']} reductions, {report['grams']} g, "
        f"{report['persons']} persons",
        highlight=False,
        markup=False,
    )
    if shown["comment"]:
        console.print(f"  {shown['decided_at']}: {shown['comment']}", highlight=False, markup=False)
    for s in shown["statements"]:
        console.print(f"  signed {s['at']} {s['action']} by {s['actor']}", highlight=False)
    signatures = shown["signatures"]
    console.print(
        "  signatures: ok" if signatures["valid"] else "  signatures: INVALID", highlight=False
    )
    for p in signatures["problems"]:
        console.print(f"    {p}", highlight=False, markup=False)
    if not signatures["valid"]:
        raise typer.Exit(1)


@batch_cli.command("sample")
@handled
def batch_sample(
    batch_id: uuid.UUID,
    seed: Annotated[int, typer.Option(help="The seed of the draw (recorded).")],
    size: Annotated[int, typer.Option(help="How many reductions.")] = 20,
    token: Token = None,
    key: Key = None,
    as_json: JsonOption = False,
) -> None:
    """Draw a reproducible sample and recompute it with the engine (a signed statement)."""
    with open_app() as app:
        signed = _signed(app.ctx, batch_id, "sample", token, key, seed=seed, size=size)
        results = sample_batch(app.ctx, batch_id, token, signed)
    if as_json:
        emit_json({"seed": seed, "sample": results})
        return
    for r in results:
        mark = "ok" if r["consistent"] else "MISMATCH"
        console.print(
            f"{r['event_id']}: credited {r['credited_grams']} g, recomputed "
            f"{r['recomputed_grams']} g {mark}",
            highlight=False,
            markup=False,
        )


@batch_cli.command("approve")
@handled
def batch_approve(
    batch_id: uuid.UUID, comment: Comment = "", token: Token = None, key: Key = None,
    as_json: JsonOption = False,
) -> None:  # fmt: skip
    """Approve (a signed statement): the batch's reductions become verified."""
    with open_app() as app:
        signed = _signed(app.ctx, batch_id, "approve", token, key, comment=comment)
        approve_batch(app.ctx, batch_id, token, signed)
        shown = show_batch(app.ctx, batch_id)
    if as_json:
        emit_json(shown)
    else:
        console.print(f"{batch_id} approved", highlight=False)


@batch_cli.command("reject")
@handled
def batch_reject(
    batch_id: uuid.UUID, comment: Comment, token: Token = None, key: Key = None,
    as_json: JsonOption = False,
) -> None:  # fmt: skip
    """Reject (a signed statement): the reductions are reversed by a correcting entry."""
    with open_app() as app:
        signed = _signed(app.ctx, batch_id, "reject", token, key, comment=comment)
        covered = reject_batch(app.ctx, batch_id, token, signed)
        shown = show_batch(app.ctx, batch_id)
    if as_json:
        emit_json({**shown, "buffer_grams": covered})
    else:
        console.print(f"{batch_id} rejected; {covered} g covered by the buffer", highlight=False)


@cli.command("verify")
@handled
def verify(as_json: JsonOption = False) -> None:
    """Check every batch's signed statements again; exits 1 when one does not verify."""
    with open_app() as app:
        found = verify_batches(app.ctx)
    rows = [{"code": v.code, "subject": v.subject, "message": v.message} for v in found]
    if as_json:
        emit_json({"valid": not rows, "problems": rows})
    elif not rows:
        console.print("every MRV statement verifies", highlight=False)
    for r in rows if not as_json else []:
        console.print(f"{r['code']} {r['subject']}: {r['message']}", highlight=False, markup=False)
    if rows:
        raise typer.Exit(1)
