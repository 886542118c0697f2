"""Publishing and proving the ledger's logs: signed checkpoints over all shard heads, each
shard's own checkpoint, inclusion proofs of entry lines and consistency proofs between two
checkpoints (docs/verification.md shows an outsider how to check them).

A checkpoint first integrates every queued line (waiting for a sequencer that holds a
shard), so it covers everything committed before it; it is published only when some shard
head moved since the last one; its id is the
previous one's plus one (the checkpoint job is the only writer: a concurrent publisher loses
the primary-key race and retries). Proofs are built against a stored checkpoint, from the
lines as they are stored now, so a line changed after it was logged fails its proof.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Callable
from typing import Any

from tanpuhui.domain.checkpoint import (
    Checkpoint,
    PublishedCheckpoint,
    assemble_note,
    entry_leaves,
    head_leaf_data,
    head_tree_leaves,
    head_tree_root,
    key_id,
    parse_signature_line,
    shard_origin,
    signature_line,
    verifier_key,
)
from tanpuhui.domain.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    TanpuhuiError,
)
from tanpuhui.domain.log_checks import NoteKey
from tanpuhui.domain.merkle import consistency_proof, inclusion_proof, leaves_callback
from tanpuhui.services.context import Context, retry_races
from tanpuhui.services.ports import UnitOfWork


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _sign(ctx: Context, cp: Checkpoint) -> str:
    signer = ctx.log_signer
    body = cp.body()
    line = signature_line(signer.name, signer.public_key, signer.sign(body.encode()))
    return assemble_note(body, [line])


def note_key(ctx: Context) -> NoteKey:
    signer = ctx.log_signer

    def check(name: str, text: bytes, signature: bytes) -> bool:
        return ctx.verifier.verify(signer.public_key, b64(signature), text)

    return NoteKey(signer.name, key_id(signer.name, signer.public_key), check)


def public_key_text(ctx: Context) -> str:
    """The platform's verifier key as Go's sumdb/note reads it."""
    return verifier_key(ctx.log_signer.name, ctx.log_signer.public_key)


def integrate_queued(ctx: Context) -> int:
    """Integrate every queued line into its shard log now, waiting for a sequencer that holds
    a shard; returns how many lines it integrated."""

    def attempt() -> int:
        with ctx.uow() as uow:
            lines = uow.logs.sequence(wait=True)
            uow.commit()
        return lines

    return retry_races(attempt)


def publish_checkpoint(ctx: Context) -> PublishedCheckpoint:
    """Sign and store a checkpoint of every shard head (and each moved shard's own), or
    return the latest when nothing moved since."""
    return retry_races(lambda: _publish(ctx))


def _publish(ctx: Context) -> PublishedCheckpoint:
    origin = ctx.log_signer.name
    with ctx.uow() as uow:
        uow.logs.sequence(wait=True)  # everything committed so far is in the logs first
        heads = uow.logs.heads()
        latest = uow.logs.checkpoint()
        if latest is not None and latest.heads == heads:
            return latest
        size, root = sum(n for n, _ in heads), head_tree_root(heads)
        now = ctx.clock.now()
        cp = PublishedCheckpoint(
            (latest.id if latest else 0) + 1, size, root, heads,
            _sign(ctx, Checkpoint(origin, size, root)), "", now,
        )  # fmt: skip
        signed = uow.logs.signed_shard_sizes()
        uow.logs.add_shard_checkpoints(
            [
                (k, n, r, _sign(ctx, Checkpoint(shard_origin(origin, k), n, r)), now)
                for k, (n, r) in enumerate(heads)
                if n > signed.get(k, 0)
            ]
        )
        uow.logs.add_checkpoint(cp)
        uow.commit()
    return cp


def get_checkpoint(ctx: Context, checkpoint_id: int | None = None) -> PublishedCheckpoint:
    with ctx.uow(write=False) as uow:
        cp = uow.logs.checkpoint(checkpoint_id)
    if cp is None:
        which = "no checkpoint yet" if checkpoint_id is None else f"no checkpoint {checkpoint_id}"
        raise NotFoundError(which, code="no_checkpoint")
    return cp


def add_cosignature(ctx: Context, checkpoint_id: int, line: str) -> PublishedCheckpoint:
    """Store a witness's signature line for a checkpoint (served after the platform's)."""
    sig = parse_signature_line(line)
    if sig.name == ctx.log_signer.name:
        raise InvalidInputError("a witness signs under its own name", code="bad_signature_line")
    with ctx.uow() as uow:
        if uow.logs.checkpoint(checkpoint_id) is None:
            raise NotFoundError(f"no checkpoint {checkpoint_id}", code="no_checkpoint")
        uow.logs.add_cosignature(checkpoint_id, sig.line)
        uow.commit()
    return get_checkpoint(ctx, checkpoint_id)


def _checkpoint_view(cp: PublishedCheckpoint) -> dict[str, Any]:
    return {"id": cp.id, "size": cp.size, "root": b64(cp.root), "note": cp.served()}


def prove(ctx: Context, ref: str, checkpoint_id: int | None = None) -> dict[str, Any]:
    """Inclusion proofs of an entry's lines (an entry id) or of a reduction's issuance line
    (a reduction id), against a checkpoint (the latest by default)."""
    try:
        wanted = uuid.UUID(ref)
    except ValueError:
        raise InvalidInputError(f"{ref!r} is not an entry or reduction id", code="bad_id") from None
    with ctx.uow(write=False) as uow:
        cp = uow.logs.checkpoint(checkpoint_id)
        if cp is None:
            raise NotFoundError(
                "no checkpoint yet: run `tanpuhui ledger checkpoint`", code="no_checkpoint"
            )
        entry, reduction = uow.logs.stored_entry(wanted), None
        if entry is None:
            reduction = wanted
            entry_id = uow.logs.entry_of_reduction(wanted)
            entry = uow.logs.stored_entry(entry_id) if entry_id else None
        if entry is None:
            raise NotFoundError(f"no entry or credited reduction {ref}", code="not_in_log")
        leaves = _proved_leaves(uow, cp, entry, reduction)
    return {"entry_id": str(entry.id), "checkpoint": _checkpoint_view(cp), "leaves": leaves}


def _proved_leaves(
    uow: UnitOfWork, cp: PublishedCheckpoint, entry: Any, reduction: uuid.UUID | None
) -> list[dict[str, Any]]:
    shards = uow.logs.shards()
    stored = {(x.shard, x.posting_line, x.reduction_id): x for x in uow.logs.leaves_of(entry.id)}
    head_leaves = head_tree_leaves(cp.heads)
    head_proof = leaves_callback(head_leaves)
    out = []
    for leaf in entry_leaves(entry, shards):
        key = entry.keys[leaf.position]
        if reduction is not None and key != (None, reduction):
            continue
        row = stored.get((leaf.shard, *key))
        size, root = cp.heads[leaf.shard]
        if row is None or row.idx >= size:
            raise ConflictError(
                f"line {key} of entry {entry.id} is not in checkpoint {cp.id}"
                " (not logged, or logged after it: publish a newer checkpoint)",
                code="not_checkpointed",
            )
        out.append(
            {
                "shard": leaf.shard,
                "reduction_id": str(key[1]) if key[1] else None,
                "posting_line": key[0],
                "leaf_data": leaf.data.decode(),
                "index": row.idx,
                "tree_size": size,
                "shard_root": b64(root),
                "inclusion": [
                    b64(h) for h in inclusion_proof(row.idx, size, uow.logs.subtrees(leaf.shard))
                ],
                "shard_checkpoint": uow.logs.shard_checkpoint(leaf.shard, size),
                "head_leaf_data": head_leaf_data(leaf.shard, size, root).decode(),
                "head_tree_size": len(cp.heads),
                "head_inclusion": [
                    b64(h) for h in inclusion_proof(leaf.shard, len(cp.heads), head_proof)
                ],
            }
        )
    if not out:
        raise NotFoundError(
            f"{reduction} is not a logged line of entry {entry.id}", code="not_in_log"
        )
    return out


def prove_consistency(ctx: Context, old_id: int, new_id: int) -> dict[str, Any]:
    """Per shard whose head moved between two checkpoints, the RFC 6962 consistency proof;
    with both checkpoints' head lists, from which a verifier recomputes both signed roots."""
    if not 0 < old_id <= new_id:
        raise InvalidInputError("give an older and a newer checkpoint id", code="bad_range")
    old, new = get_checkpoint(ctx, old_id), get_checkpoint(ctx, new_id)
    shards = []
    with ctx.uow(write=False) as uow:
        for k, ((n1, r1), (n2, r2)) in enumerate(zip(old.heads, new.heads, strict=True)):
            if (n1, r1) == (n2, r2):
                continue
            proof = consistency_proof(n1, n2, uow.logs.subtrees(k)) if n1 else []
            shards.append(
                {"shard": k, "old_size": n1, "old_root": b64(r1), "new_size": n2,
                 "new_root": b64(r2), "proof": [b64(h) for h in proof]}
            )  # fmt: skip
    return {
        "old": _checkpoint_view(old),
        "new": _checkpoint_view(new),
        "old_heads": [[n, b64(r)] for n, r in old.heads],
        "new_heads": [[n, b64(r)] for n, r in new.heads],
        "shards": shards,
    }


def publish_periodically(
    ctx: Context, interval_s: float, stop: threading.Event, log: Callable[[str], None]
) -> None:
    """The server's periodic hook: publish a checkpoint every `interval_s` until `stop` is
    set. A failure is logged and tried again at the next tick (a checkpoint is idempotent:
    nothing moved, nothing new)."""
    while not stop.wait(interval_s):
        try:
            publish_checkpoint(ctx)
        except TanpuhuiError as exc:
            log(f"checkpoint not published: {exc.code}: {exc.message}")
