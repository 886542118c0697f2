"""`tanpuhui mrv batch create|show|sample|approve|reject`: issuance batches and their review
(issue 12 item 4). The verifier's own commands take its bearer token (`--token` or
TANPUHUI_TOKEN), so the decision is recorded as the verifier's."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from tanpuhui.cli.common import JsonOption, console, emit_json, handled
from tanpuhui.cli.common import app as open_app
from tanpuhui.services.mrv import (
    approve_batch,
    create_batch,
    reject_batch,
    sample_batch,
    show_batch,
)

cli = typer.Typer(help="MRV: issuance batches and their verification.", no_args_is_help=True)
batch_cli = typer.Typer(help="Issuance batches.", no_args_is_help=True)
cli.add_typer(batch_cli, name="batch")

Token = Annotated[
    str | None,
    typer.Option("--token", envvar="TANPUHUI_TOKEN", help="The verifier's bearer token."),
]
Comment = Annotated[str, typer.Option("--comment", help="The verifier's comment.")]


@batch_cli.command("create")
@handled
def batch_create(
    methodology: Annotated[str, typer.Option(help="code@version, e.g. bike_share@1")],
    month: Annotated[str, typer.Option(help="2026-11")],
    region: Annotated[str | None, typer.Option(help="A region code (default: the nation).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Group a methodology version's unbatched reductions of a region and month into a batch,
    with its monitoring report; prints its id."""
    with open_app() as app:
        batch = create_batch(app.ctx, methodology, region, month)
    if as_json:
        emit_json({"id": str(batch.id), "report": batch.report})
    else:
        console.print(str(batch.id), highlight=False)


@batch_cli.command("show")
@handled
def batch_show(batch_id: uuid.UUID, as_json: JsonOption = False) -> None:
    """A batch: its monitoring report, sample, state and decision."""
    with open_app() as app:
        shown = show_batch(app.ctx, batch_id)
    if as_json:
        emit_json(shown)
        return
    report = shown["report"]
    console.print(
        f"{shown['id']} {shown['state']}: {report['methodology']} {report['region'] or '全国'} "
        f"{report['month']} — {report['reductions']} reductions, {report['grams']} g, "
        f"{report['persons']} persons",
        highlight=False,
    )
    if shown["comment"]:
        console.print(f"  {shown['decided_at']}: {shown['comment']}", highlight=False)


@batch_cli.command("sample")
@handled
def batch_sample(
    batch_id: uuid.UUID,
    seed: Annotated[int, typer.Option(help="The seed of the draw (recorded).")],
    size: Annotated[int, typer.Option(help="How many reductions.")] = 20,
    token: Token = None,
    as_json: JsonOption = False,
) -> None:
    """Draw a reproducible sample and recompute it with the engine."""
    with open_app() as app:
        results = sample_batch(app.ctx, batch_id, token, seed, size)
    if as_json:
        emit_json(results)
        return
    for r in results:
        mark = "ok" if r["consistent"] else "MISMATCH"
        console.print(
            f"{r['event_id']}: credited {r['credited_grams']} g, recomputed "
            f"{r['recomputed_grams']} g {mark}",
            highlight=False,
        )


@batch_cli.command("approve")
@handled
def batch_approve(batch_id: uuid.UUID, comment: Comment = "", token: Token = None) -> None:
    """Approve: the batch's reductions become verified."""
    with open_app() as app:
        approve_batch(app.ctx, batch_id, token, comment)
    console.print(f"{batch_id} approved", highlight=False)


@batch_cli.command("reject")
@handled
def batch_reject(batch_id: uuid.UUID, comment: Comment, token: Token = None) -> None:
    """Reject: the batch's reductions are reversed by a correcting entry."""
    with open_app() as app:
        covered = reject_batch(app.ctx, batch_id, token, comment)
    console.print(f"{batch_id} rejected; {covered} g covered by the buffer", highlight=False)
