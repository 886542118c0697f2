"""Retiring an enterprise's grams (issue 13 item 1; domain/retirement.py, docs/retirement.md).

`retire_reductions` is one transaction under the enterprise's lock (the advisory lock every
movement of its holdings takes): the stored retirement is returned when its request id was
seen (another retirement under the same id is `request_conflict`); the grams are allocated
oldest first over what the enterprise holds (grams locked by a pending export are not there);
one block per asset class gets its serial numbers from the class's counter (classes in key
order, so two retirements lock counters in the same order), the certificate its serial from
the year's counter; the entry moves the grams to `retired:{enterprise}` through the ledger,
which refuses a holder going negative (the second guard). Retired grams never move again: the
services have no movement out of a retired account and the database refuses one (migration
0010).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tanpuhui.domain.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tanpuhui.domain.events import valid_id
from tanpuhui.domain.ledger import enterprise_account
from tanpuhui.domain.market import lineage_deltas
from tanpuhui.domain.parties import Role
from tanpuhui.domain.retirement import (
    Block,
    BlockStatus,
    Retirement,
    RetirementRequest,
    check_request,
    movement_entry,
    number_blocks,
    plan_blocks,
    retired_account,
    take,
)
from tanpuhui.domain.shards import shard_of_enterprise
from tanpuhui.services.certificates import issue_retirement_certificate
from tanpuhui.services.context import Context, retry_races
from tanpuhui.services.ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class RetirementResult:
    retirement: Retirement
    blocks: list[Block]
    replayed: bool = False


def check_request_id(request_id: str) -> None:
    if not valid_id(request_id):
        raise InvalidInputError(
            "a request id is 1-128 printable ASCII characters without spaces",
            code="invalid_request",
        )


def retire_reductions(
    ctx: Context,
    enterprise_id: uuid.UUID,
    request: RetirementRequest,
    request_id: str | None = None,
) -> RetirementResult:
    """Retire `request.grams` of what the enterprise holds; the same request id again
    returns the stored retirement and moves nothing."""
    check_request(request)
    rid = request_id if request_id is not None else str(ctx.ids.new())
    check_request_id(rid)

    def attempt() -> RetirementResult:
        with ctx.uow() as uow:
            result = _retire_in(uow, ctx, enterprise_id, request, rid)
            uow.commit()
        return result

    return retry_races(attempt)


def platform_enterprise(uow: UnitOfWork, enterprise_id: uuid.UUID) -> str:
    """The enterprise's name, when it has the platform role."""
    enterprise = uow.enterprises.find(enterprise_id)
    if enterprise is None:
        raise NotFoundError(f"no enterprise {enterprise_id}")
    if Role.PLATFORM not in enterprise.roles:
        raise ForbiddenError(
            f"{enterprise.name} does not have the platform role", code="not_platform"
        )
    return enterprise.name


def _retire_in(
    uow: UnitOfWork,
    ctx: Context,
    enterprise_id: uuid.UUID,
    request: RetirementRequest,
    request_id: str,
) -> RetirementResult:
    now, holder = ctx.clock.now(), enterprise_account(enterprise_id)
    shard = shard_of_enterprise(enterprise_id)
    name = platform_enterprise(uow, enterprise_id)
    uow.locks.acquire([holder])
    seen = uow.retirement.find_retirement(shard, enterprise_id, request_id)
    if seen is not None:
        if (seen.grams, seen.beneficiary, seen.purpose, seen.period) != tuple(request):
            raise ConflictError(
                f"request id {request_id!r} was used for another retirement",
                code="request_conflict",
            )
        return RetirementResult(seen, uow.retirement.blocks_of_retirement(seen.id), True)
    taken = take(uow.market.lots_of(holder), request.grams)
    plans = sorted(plan_blocks(taken), key=lambda p: p.asset_class.key)
    starts = {p.asset_class.key: uow.retirement.take_numbers(p.asset_class.key, p.grams)
              for p in plans}  # fmt: skip
    blocks = number_blocks(plans, starts, BlockStatus.RETIRED, [ctx.ids.new() for _ in plans])
    retirement_id = ctx.ids.new()
    # its certificate, signed by the platform key, verified by serial at /verify/<serial>
    certificate = issue_retirement_certificate(
        uow, ctx, str(retirement_id), name, request.beneficiary, request.purpose,
        request.grams, request.period or "", now,
    )  # fmt: skip
    retirement = Retirement(
        retirement_id, enterprise_id, request_id, request.grams, request.beneficiary,
        request.purpose, request.period, certificate.serial, ctx.ids.new(), now,
    )  # fmt: skip
    entry = movement_entry(
        retirement.entry_id, "retirement", now, holder, retired_account(enterprise_id),
        taken, f"retirement {retirement.id} for {request.beneficiary}",
    )  # fmt: skip
    uow.retirement.add_retirement(retirement, shard)
    uow.retirement.add_blocks(blocks, shard, enterprise_id, now, retirement_id=retirement.id)
    uow.market.apply_lineage(lineage_deltas(entry))
    uow.ledger.open(entry)
    uow.ledger.record(entry, lines_on_events=False)
    return RetirementResult(retirement, blocks)


def get_retirement(ctx: Context, retirement_id: uuid.UUID) -> RetirementResult:
    with ctx.uow(write=False) as uow:
        found = uow.retirement.get_retirement(retirement_id)
        if found is None:
            raise NotFoundError(f"no retirement {retirement_id}")
        return RetirementResult(found, uow.retirement.blocks_of_retirement(found.id))


def retirements_of(ctx: Context, enterprise_id: uuid.UUID) -> list[RetirementResult]:
    with ctx.uow(write=False) as uow:
        found = uow.retirement.retirements_of(enterprise_id, shard_of_enterprise(enterprise_id))
        return [RetirementResult(r, uow.retirement.blocks_of_retirement(r.id)) for r in found]
