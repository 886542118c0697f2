"""The public transparency endpoints (`/v1/log`): no authentication — anyone may fetch the
signed checkpoints, the platform's verifier key and the proofs (docs/verification.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tanpuhui.api.routes import json_response, problems
from tanpuhui.api.security import context
from tanpuhui.services.transparency import (
    get_checkpoint,
    prove,
    prove_consistency,
    public_key_text,
)

router = APIRouter(tags=["transparency log"])
TEXT = {"content": {"text/plain": {"schema": {"type": "string"}}}}
CheckpointId = Annotated[int, Query(ge=1, le=2**62, description="a checkpoint id")]


class CheckpointRef(BaseModel):
    id: int
    size: int = Field(description="leaves over all shard logs")
    root: str = Field(description="base64 root of the head tree")
    note: str = Field(description="the signed note (C2SP tlog-checkpoint), with co-signatures")


class LineProof(BaseModel):
    shard: int
    reduction_id: str | None
    posting_line: int | None
    leaf_data: str = Field(description="the bytes of the leaf (RFC 6962 leaf = SHA-256(0x00‖data))")
    index: int
    tree_size: int
    shard_root: str
    inclusion: list[str] = Field(description="base64 RFC 6962 audit path, deepest first")
    shard_checkpoint: str | None = Field(description="the shard's own signed note at tree_size")
    head_leaf_data: str
    head_tree_size: int
    head_inclusion: list[str] = Field(description="audit path of the shard head in the head tree")


class InclusionProof(BaseModel):
    entry_id: str
    checkpoint: CheckpointRef
    leaves: list[LineProof]


class ShardConsistency(BaseModel):
    shard: int
    old_size: int
    old_root: str
    new_size: int
    new_root: str
    proof: list[str]


class ConsistencyProof(BaseModel):
    old: CheckpointRef
    new: CheckpointRef
    old_heads: list[tuple[int, str]]
    new_heads: list[tuple[int, str]]
    shards: list[ShardConsistency]


def _text(body: str) -> Response:
    return Response(body, media_type="text/plain; charset=utf-8")


@router.get(
    "/v1/log/checkpoint",
    summary="The latest signed checkpoint over all shard logs (C2SP signed note)",
    responses={200: TEXT, **problems(404, 503)},
)
async def read_latest_checkpoint(request: Request) -> Response:
    cp = await run_in_threadpool(get_checkpoint, context(request))
    return _text(cp.served())


@router.get(
    "/v1/log/checkpoints/{checkpoint_id}",
    summary="One stored signed checkpoint",
    responses={200: TEXT, **problems(404, 422, 503)},
)
async def read_checkpoint(
    request: Request, checkpoint_id: Annotated[int, Path(ge=1, le=2**62)]
) -> Response:
    cp = await run_in_threadpool(get_checkpoint, context(request), checkpoint_id)
    return _text(cp.served())


@router.get(
    "/v1/log/key",
    summary="The platform's checkpoint verifier key (Go sumdb/note format)",
    responses={200: TEXT},
)
async def read_log_key(request: Request) -> Response:
    return _text(public_key_text(context(request)) + "\n")


@router.get(
    "/v1/log/proofs/{ref}",
    summary="Inclusion proofs of an entry's lines, or of a reduction's issuance line",
    response_model=InclusionProof,
    responses=problems(404, 409, 422, 503),
)
async def read_inclusion_proof(
    request: Request,
    ref: Annotated[str, Path(max_length=64, description="an entry id or a reduction id")],
    checkpoint: CheckpointId | None = None,
) -> Response:
    return json_response(await run_in_threadpool(prove, context(request), ref, checkpoint))


@router.get(
    "/v1/log/consistency",
    summary="Consistency proofs between two checkpoints, shard by shard",
    response_model=ConsistencyProof,
    responses=problems(404, 422, 503),
)
async def read_consistency_proof(
    request: Request, old: CheckpointId, new: CheckpointId
) -> Response:
    return json_response(await run_in_threadpool(prove_consistency, context(request), old, new))
